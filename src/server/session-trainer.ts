/**
 * What a server session needs of its trainer, and the two ways to run one:
 *
 *   TrainerThread (trainer-thread.ts)  the trainer on a worker thread of its own (the default):
 *                                      training never delays the sockets, and sessions train
 *                                      side by side on a machine with cores to spare
 *   InlineTrainer (here)               the trainer on the main thread, between socket events:
 *                                      no thread hand-off, for a machine with one or two cores
 *                                      where anything running beside training slows it down
 *
 * Both report the same things in the same order; with the inline trainer the callbacks and
 * promises settle at once instead of after the thread has answered.
 */
import type { Observable } from 'rxjs';
import type { LossName } from '../nn/losses.js';
import { shapeOf, type MlpShape } from '../nn/mlp.js';
import type { Batch } from '../nn/batch.js';
import type { Tensor } from '../nn/tensor.js';
import type { TrainEvent } from '../pipeline/events.js';
import { createTrainer, type TrainConfig, type Trainer } from '../pipeline/trainer.js';
import { Intake } from './intake.js';
import type { Call, CallResults, ThreadSnapshot } from './thread-messages.js';

/** What the owner of a pushed chunk hears about it. */
export interface PushHandlers {
  /** The chunk is in the trainer: its rows will be trained (unless the session ends first). */
  accepted(): void;
  /** The trainer refused the chunk (E_SHAPE, E_NON_FINITE, E_LABEL_RANGE, E_SESSION_CLOSED, …). */
  rejected(error: Error): void;
  /** Its last row was trained in `step`. */
  consumed(step: number): void;
}

export interface SessionTrainer {
  readonly session: string;
  /** The model's dtype, sizes and activations (`snapshot` has the weights). */
  readonly shape: MlpShape;
  readonly loss: LossName;
  readonly events$: Observable<TrainEvent>;
  readonly steps: number;
  readonly samples: number;
  readonly paused: boolean;
  /** Batches queued in the trainer plus chunks waiting for room. */
  readonly queueDepth: number;
  readonly batchSize: number;
  /** True once the trainer has completed or failed (its last event is out). */
  readonly done: boolean;
  /** Resolves once the trainer takes messages; rejects if it could not start. */
  readonly ready: Promise<void>;
  /** Emits `lifecycle: started`. */
  start(): void;
  /**
   * Offers a chunk from the producer `key` (the caller must not use its arrays afterwards). It
   * waits on the trainer's side until there is room (intake.ts); exactly one of accepted /
   * rejected follows, then consumed once its last row is trained. `frame`, when given, is a
   * buffer nothing else uses: when both arrays are views of it, a thread may take it as it is.
   */
  offer(key: object, batch: Batch, handlers: PushHandlers, frame?: ArrayBuffer): void;
  /** Forgets the chunks of producer `key` still waiting for room: they hear nothing more. */
  withdraw(key: object): void;
  /** Validates (E_BAD_CONTROL) and queues a control; resolves with the step count when it was taken. */
  control(control: unknown, atStep: number | undefined): Promise<{ step: number }>;
  /** Inference on the live weights, with the step of the weights used. */
  predict(x: Tensor): Promise<{ output: Tensor; step: number }>;
  /** Copies of the live weights, optimizer state and hyperparameters. */
  snapshot(): Promise<ThreadSnapshot>;
  /** No more input: take every waiting chunk, train it all (the partial batch too), then complete. */
  end(): void;
  /** Stop at the current batch boundary: drop the queue, refuse waiting chunks, emit `completed` with `reason`, complete. */
  close(reason: string): void;
  /**
   * Stop now, even inside a step: a training thread is terminated and the trainer fails
   * (`lifecycle: failed` with `reason`). Inline, nothing can interrupt a step: a no-op (close waits).
   */
  terminate(reason: string): void;
}

/** Answers a call on the trainer's own thread (the training thread's, or the inline trainer's). Throws what the trainer throws. */
export function answer<K extends Call['call']>(trainer: Trainer, c: Extract<Call, { call: K }>): CallResults[K];
export function answer(trainer: Trainer, c: Call): CallResults[keyof CallResults] {
  switch (c.call) {
    case 'control': {
      const step = trainer.steps;
      trainer.control(c.control, c.atStep);
      return { step };
    }
    case 'predict':
      return trainer.predict(c.x);
    case 'snapshot': {
      const { model, state, step, samples } = trainer.snapshot();
      const config = trainer.config;
      return { model, state, step, samples, config: { ...config, optimizer: { ...config.optimizer } }, batchSize: trainer.batchSize };
    }
  }
}

function settle<T>(f: () => T): Promise<T> {
  try {
    return Promise.resolve(f());
  } catch (e) {
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
}

/** The trainer on the calling thread (see the top of this file). */
export class InlineTrainer implements SessionTrainer {
  private readonly trainer: Trainer;
  private readonly intake: Intake<object>;
  readonly session: string;
  readonly shape: MlpShape;
  readonly loss: LossName;
  readonly events$: Observable<TrainEvent>;
  readonly ready = Promise.resolve();

  /**
   * Throws createTrainer's TypeError / RangeError / LivegradError for a bad config.
   * @param queueCapacity  batches handed to the trainer and not yet trained, at most (intake.ts)
   */
  constructor(config: TrainConfig, queueCapacity: number) {
    this.trainer = createTrainer(config);
    this.intake = new Intake(this.trainer, queueCapacity);
    this.session = this.trainer.session;
    this.shape = shapeOf(this.trainer.model);
    this.loss = this.trainer.config.loss;
    this.events$ = this.trainer.events$;
  }

  get steps(): number {
    return this.trainer.steps;
  }
  get samples(): number {
    return this.trainer.samples;
  }
  get paused(): boolean {
    return this.trainer.paused;
  }
  get queueDepth(): number {
    return this.trainer.queueDepth + this.intake.count;
  }
  get batchSize(): number {
    return this.trainer.batchSize;
  }
  get done(): boolean {
    return this.trainer.done;
  }

  start(): void {
    this.trainer.start();
  }

  /**
   * Says accepted / rejected in a microtask, as the calls' promises settle, so that replies keep
   * the order of the messages: `created`, then a `controlled`, then the ack of samples sent
   * after that control, even when they arrive in one read. `consumed` too, so that it never
   * overtakes the ack of a chunk taken and trained within one slice.
   */
  offer(key: object, batch: Batch, handlers: PushHandlers): void {
    this.intake.offer(key, batch, {
      accepted: () => queueMicrotask(() => handlers.accepted()),
      rejected: (e) => queueMicrotask(() => handlers.rejected(e)),
      consumed: (step) => queueMicrotask(() => handlers.consumed(step)),
    });
  }

  withdraw(key: object): void {
    this.intake.withdraw((k) => k === key);
  }

  control(control: unknown, atStep: number | undefined): Promise<{ step: number }> {
    return settle(() => answer(this.trainer, { call: 'control', control, atStep }));
  }

  predict(x: Tensor): Promise<{ output: Tensor; step: number }> {
    return settle(() => answer(this.trainer, { call: 'predict', x }));
  }

  snapshot(): Promise<ThreadSnapshot> {
    return settle(() => answer(this.trainer, { call: 'snapshot' }));
  }

  end(): void {
    this.intake.end();
  }

  close(reason: string): void {
    this.intake.close(reason);
  }

  terminate(_reason: string): void {
    // a step on this thread has already run to its end by the time anything else can run
  }
}
