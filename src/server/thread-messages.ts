/**
 * What the server's main thread and a session's training thread (trainer-thread.ts,
 * trainer-worker.ts) tell each other, over the worker's message port. Both sides are this
 * package's code; nothing here comes from a client unchecked.
 *
 * Main → worker, in the order the main thread decided them (the worker handles them in that
 * order, at its batch boundaries): offer (a chunk, with a ticket the main thread chose; it waits
 * in the thread's intake for room), withdraw (tickets of a producer gone, if still waiting),
 * calls that want an answer (control, predict, snapshot), end, close.
 *
 * Worker → main: one `Flush` per callback of the worker (a message handled, a training slice)
 * that produced anything: the events and answers in the order they happened, then the trainer's
 * counters at that moment.
 */
import type { Mlp } from '../nn/mlp.js';
import type { OptimizerState } from '../nn/optimizers.js';
import type { Batch } from '../nn/batch.js';
import type { StepConfig } from '../nn/step.js';
import type { Tensor } from '../nn/tensor.js';
import type { TrainEvent } from '../pipeline/events.js';
import type { TrainConfig } from '../pipeline/trainer.js';

/** `workerData` of a training thread. */
export interface WorkerInit {
  readonly config: TrainConfig;
  /** The session's queueCapacity, in batches (intake.ts). */
  readonly queueCapacity: number;
}

export type Call =
  | { readonly call: 'control'; readonly control: unknown; readonly atStep: number | undefined }
  | { readonly call: 'predict'; readonly x: Tensor }
  | { readonly call: 'snapshot' };

export type ToWorker =
  | { readonly op: 'offer'; readonly ticket: number; readonly batch: Batch }
  | { readonly op: 'withdraw'; readonly tickets: readonly number[] }
  | ({ readonly op: 'call'; readonly id: number } & Call)
  | { readonly op: 'end' }
  | { readonly op: 'close'; readonly reason: string };

/** The trainer's answer to a snapshot call. */
export interface ThreadSnapshot {
  readonly model: Mlp;
  readonly state: OptimizerState;
  readonly step: number;
  readonly samples: number;
  /** Loss, optimizer (with hyperparameters as `set` left them) and clipping now. */
  readonly config: StepConfig;
  readonly batchSize: number;
}

export interface CallResults {
  /** The step count when the control was taken (it applies at the next batch boundary or at atStep). */
  readonly control: { readonly step: number };
  readonly predict: { readonly output: Tensor; readonly step: number };
  readonly snapshot: ThreadSnapshot;
}

/** A LivegradError's code and message, or any other error's message (code undefined). */
export interface ThreadError {
  readonly code: string | undefined;
  readonly message: string;
  readonly stack?: string | undefined;
}

export type Item =
  /** The first item the thread sends: its trainer is built and takes messages. */
  | { readonly k: 'ready' }
  | { readonly k: 'event'; readonly event: TrainEvent }
  /** The chunk of `ticket` is in the trainer (its rows will be trained), or was refused. */
  | { readonly k: 'accepted'; readonly ticket: number }
  | { readonly k: 'rejected'; readonly ticket: number; readonly error: ThreadError }
  /** The last row of the chunk of `ticket` was trained in `step`. */
  | { readonly k: 'consumed'; readonly ticket: number; readonly step: number }
  | { readonly k: 'reply'; readonly id: number; readonly value: CallResults[keyof CallResults] }
  | { readonly k: 'refused'; readonly id: number; readonly error: ThreadError }
  /** The trainer completed (after its last event), or failed. Nothing follows either. */
  | { readonly k: 'completed' }
  | { readonly k: 'failed'; readonly error: ThreadError };

/** The trainer's counters, as at the end of a flush. */
export interface ThreadState {
  readonly steps: number;
  readonly samples: number;
  readonly paused: boolean;
  readonly queueDepth: number;
  readonly dropped: number;
  readonly batchSize: number;
}

/**
 * `step` events travel as rows of numbers, not objects: a structured clone of a few dozen small
 * objects per training slice cost the training thread about a tenth of its time; one
 * Float64Array costs next to nothing. A row is STEP_COLUMNS numbers then one gradient norm per
 * layer; in `items`, a number n stands for the step event in row n, in its place in the order.
 */
export const STEP_COLUMNS = ['step', 'time', 'loss', 'batchSize', 'samples', 'lr', 'durationMs', 'applied', 'queueDepth', 'dropped'] as const;

export interface Flush {
  readonly items: readonly (Item | number)[];
  /** The rows of the step events in `items` (STEP_COLUMNS + layers numbers each). */
  readonly steps: Float64Array;
  readonly state: ThreadState;
}
