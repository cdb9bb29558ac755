/**
 * What a server session (session-trainer.ts, on the main thread) and its trainer host
 * (trainer-host.ts, on the session's thread, or inline on the main thread) tell each other.
 * Both sides are this package's code; nothing here comes from a client unchecked.
 *
 * Main → host, in the order the session received the messages they stand for (the host gives
 * them to the trainer in that order, which keeps them in that order: pipeline/trainer/inbox.ts):
 * offer (a chunk, with a ticket the main thread chose), withdraw (a producer went away),
 * control, predict, snapshot (each with an id its answer echoes), end, close.
 *
 * Host → main: one `Flush` per callback of the host that produced anything (a message handled,
 * a training slice): the items in the order they happened, then the trainer's counters.
 */
import type { Batch } from '../nn/batch.js';
import type { Mlp } from '../nn/mlp.js';
import type { OptimizerState } from '../nn/optimizers.js';
import type { StepConfig } from '../nn/step.js';
import type { Tensor } from '../nn/tensor.js';
import type { StepEvent, TrainEvent } from '../pipeline/events.js';
import type { TrainerCheckpoint } from '../pipeline/trainer/checkpoint.js';
import type { TrainConfig } from '../pipeline/trainer/config.js';
import type { RecordOptions } from '../record/recorder.js';

/** How a host starts: `workerData` of a training thread, or the inline host's argument. */
export interface HostInit {
  readonly config: TrainConfig;
  /** The session's queueCapacity, in batches of its batchSize. */
  readonly queueCapacity: number;
  /** Record the session into the log at `dir` (src/record/): every input, checkpoints, events. */
  readonly record?: { readonly dir: string; readonly options: HostRecordOptions };
  /** Continue from this state (a session recovered from its log). */
  readonly restore?: TrainerCheckpoint;
}

/** What of RecordOptions crosses to a thread (plain values only). */
export type HostRecordOptions = Omit<RecordOptions, 'fs'>;

export type ToHost =
  | { readonly op: 'offer'; readonly ticket: number; readonly producer: number; readonly batch: Batch; readonly step: boolean; readonly tag: { readonly producer: string | number; readonly seq: number } }
  | { readonly op: 'withdraw'; readonly producer: number }
  | { readonly op: 'control'; readonly id: number; readonly control: unknown; readonly atStep: number | undefined }
  | { readonly op: 'predict'; readonly id: number; readonly x: Tensor; readonly now: boolean }
  | { readonly op: 'snapshot'; readonly id: number; readonly now: boolean }
  | { readonly op: 'end'; readonly resume: boolean }
  | { readonly op: 'close'; readonly reason: string }
  /** Stop without ending the session's log (a recording server's shutdown: a restart continues it); a plain close when not recording. */
  | { readonly op: 'suspend'; readonly reason: string };

/** The trainer's answer to a snapshot. */
export interface HostSnapshot {
  readonly model: Mlp;
  readonly state: OptimizerState;
  readonly step: number;
  readonly samples: number;
  /** Loss, optimizer (with hyperparameters as `set` left them) and clipping now. */
  readonly config: StepConfig;
  readonly batchSize: number;
}

export interface Answers {
  /** The step after which the control took effect (or, scheduled for a later step, will: its atStep). */
  readonly control: { readonly step: number };
  /** The output and the step of the weights that computed it. */
  readonly predict: { readonly output: Tensor; readonly step: number };
  readonly snapshot: HostSnapshot;
}

/** A LivegradError's code and message, or any other error's message (code undefined). */
export interface HostError {
  readonly code: string | undefined;
  readonly message: string;
  readonly stack?: string | undefined;
}

export type Item =
  /** The first item the host sends: its trainer is built and takes messages. */
  | { readonly k: 'ready' }
  | { readonly k: 'event'; readonly event: TrainEvent }
  /** The chunk of `ticket` was admitted (its rows will train), or refused. */
  | { readonly k: 'accepted'; readonly ticket: number }
  | { readonly k: 'rejected'; readonly ticket: number; readonly error: HostError }
  /** The last row of the chunk of `ticket` trained in `step`. */
  | { readonly k: 'consumed'; readonly ticket: number; readonly step: number }
  /** The answer to the control, predict or snapshot `id`, or its refusal. */
  | { readonly k: 'answer'; readonly id: number; readonly value: Answers[keyof Answers] }
  | { readonly k: 'refused'; readonly id: number; readonly error: HostError }
  /** The trainer completed (after its last event), or failed. Nothing follows either. */
  | { readonly k: 'completed' }
  | { readonly k: 'failed'; readonly error: HostError };

/** The trainer's counters, as at the end of a flush. */
export interface HostState {
  readonly steps: number;
  readonly samples: number;
  readonly paused: boolean;
  readonly queueDepth: number;
  readonly batchSize: number;
}

export interface Flush {
  /** In order; a number n stands for the step event in row n of `steps`. */
  readonly items: readonly (Item | number)[];
  /** The rows of the step events in `items` (see StepRows). */
  readonly steps: Float64Array;
  readonly state: HostState;
}

/**
 * `step` events travel as rows of numbers, not objects: a structured clone of a few dozen small
 * objects per training slice cost the training thread about a tenth of its time; one
 * Float64Array costs next to nothing. A row is these columns, then one gradient norm per layer.
 * This class writes the rows and reads them back: the one place the layout is written out.
 */
const COLUMNS = 10;

export class StepRows {
  private readonly width: number;
  private data: Float64Array;
  private count = 0;

  constructor(private readonly layers: number) {
    this.width = COLUMNS + layers;
    this.data = new Float64Array(this.width * 64);
  }

  /** Appends the event's row and returns its index. */
  add(e: StepEvent): number {
    const w = this.width;
    if ((this.count + 1) * w > this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    const d = this.data;
    const o = this.count * w;
    d[o] = e.step;
    d[o + 1] = e.time;
    d[o + 2] = e.loss;
    d[o + 3] = e.batchSize;
    d[o + 4] = e.samples;
    d[o + 5] = e.lr;
    d[o + 6] = e.durationMs;
    d[o + 7] = e.applied ? 1 : 0;
    d[o + 8] = e.queueDepth;
    d[o + 9] = e.dropped;
    for (let l = 0; l < this.layers; l++) d[o + COLUMNS + l] = e.gradNorms[l]!;
    return this.count++;
  }

  /** The rows so far, as a buffer of their own (to transfer); starts again empty. */
  take(): Float64Array {
    const rows = this.data.slice(0, this.count * this.width);
    this.count = 0;
    return rows;
  }

  /** The step event in row `i` of `rows` (as `take` gave them), fields in the trainer's order. */
  read(session: string, rows: Float64Array, i: number): StepEvent {
    const o = i * this.width;
    const gradNorms = new Array<number>(this.layers);
    for (let l = 0; l < this.layers; l++) gradNorms[l] = rows[o + COLUMNS + l]!;
    return {
      type: 'step',
      session,
      step: rows[o]!,
      time: rows[o + 1]!,
      loss: rows[o + 2]!,
      batchSize: rows[o + 3]!,
      samples: rows[o + 4]!,
      lr: rows[o + 5]!,
      gradNorms,
      durationMs: rows[o + 6]!,
      applied: rows[o + 7] === 1,
      queueDepth: rows[o + 8]!,
      dropped: rows[o + 9]!,
    };
  }
}
