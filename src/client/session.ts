/**
 * A session on the server, by name: stream rows into it, follow its events, steer it, ask it
 * for predictions and its weights, close it. A handle holds no connection of its own; `stream()`
 * and `events()` open theirs when subscribed to.
 */
import type { Observable } from 'rxjs';
import type { Control } from '../pipeline/controls.js';
import type { TrainEventType } from '../pipeline/events.js';
import type { ClosedMessage, ControlledMessage, PredictionMessage, ReplayingMessage, SessionInfo, SessionsMessage, SnapshotReplyMessage } from '../protocol/messages.js';
import { LivegradError, describe } from '../errors.js';
import type { ClientCore } from './core.js';
import { decodeModel, decodeOptimizerState, decodeTensor } from './decode.js';
import { ALL_TOPICS, events, type EventsOptions, type SessionEvent } from './events.js';
import type { StreamSource } from './source.js';
import { stream, type StreamOptions } from './stream.js';
import type { StreamProgress } from './stream-run.js';
import type { Closed, Controlled, Matrix, OptimizerSpec, Prediction, ReplayCommand, Replaying, Snapshot } from './types.js';
import { request, wireValue } from './wire.js';

export interface Session {
  /** The session's name. */
  readonly name: string;

  /**
   * The session as `list` reports it now: step, samples, paused, queue depth, subscribers,
   * credits, the last `seq` the session holds of each named producer, …
   *
   * @example
   *   const { step, samples, producers } = await session.info();
   */
  info(): Promise<SessionInfo>;

  /**
   * Streams rows into the session: see `StreamOptions`. Emits `{sent, acked, consumed, step,
   * skipped}` and completes once every row has been trained.
   *
   * @example
   *   await lastValueFrom(session.stream({ x: [[0, 0], [0, 1], [1, 0], [1, 1]], y: [0, 1, 1, 0] }));
   */
  stream(source: StreamSource, options?: StreamOptions): Observable<StreamProgress>;

  /**
   * The session's events of `topics` (default all), typed by topic, tensors decoded; reconnects by
   * itself and resumes where it was: see `EventsOptions`.
   *
   * @example
   *   session.events(['metrics']).subscribe((e) => e.type === 'metrics' && console.log(e.runningLoss));
   */
  events(): Observable<SessionEvent>;
  events<T extends TrainEventType>(topics: readonly T[], options?: EventsOptions<T>): Observable<SessionEvent<T>>;

  /**
   * Steers the session: pause, resume, step, reset, set hyperparameters, or emit its weights. It
   * takes effect in order after the rows sent before it, or after exactly `atStep` steps.
   * Resolves when it has taken effect (at once for a later `atStep`), with the step it did.
   *
   * @example
   *   await session.control({ action: 'set', lr: 0.01 }, { atStep: 1000 });
   */
  control(control: Control, options?: { readonly atStep?: number }): Promise<Controlled>;

  /**
   * The model's output for `x` [m, inputSize], and the step whose weights computed it: the
   * weights after every whole batch of the rows sent before it, or with `now` as they are.
   *
   * @example
   *   const { output, step } = await session.predict([[0, 1]]);
   */
  predict(x: Matrix, options?: { readonly now?: boolean }): Promise<Prediction>;

  /**
   * The weights as an `Mlp` — run it offline with the library's `predict()` — with the optimizer
   * state and counters that `create` takes to go on from here elsewhere, bit for bit.
   *
   * @example
   *   const { model, step } = await session.snapshot();
   *   console.log(toNested(predict(model, [[0, 1]])), 'after', step, 'steps');
   */
  snapshot(options?: { readonly now?: boolean }): Promise<Snapshot>;

  /**
   * Ends the session. With `drain`, everything sent before the close trains first (the last
   * partial batch included); otherwise it stops at the current batch boundary.
   *
   * @example
   *   const { step, samples } = await session.close({ drain: true });
   */
  close(options?: { readonly drain?: boolean }): Promise<Closed>;

  /**
   * Steers a played recording (a session the server plays from a log: `livegrad replay LOG
   * --serve`, or `replays` in `createServer`; `info()` shows it with a `replay` field): play,
   * pause, seek to a step (its events from that step on follow, trained again from the nearest
   * checkpoint), or set the speed. Resolves with where it stands. A live session refuses it with
   * E_NOT_LIVE, as a played recording refuses `stream`, `control`, `predict`, `snapshot` and `close`.
   *
   * @example
   *   await session.replay({ action: 'seek', step: 1000 });
   *   const { playing, lastStep } = await session.replay({ action: 'speed', speed: 'max' });
   */
  replay(command: ReplayCommand): Promise<Replaying>;
}

export class SessionHandle implements Session {
  constructor(
    readonly name: string,
    private readonly core: ClientCore,
  ) {}

  async info(): Promise<SessionInfo> {
    const reply = await this.core.request<SessionsMessage>({ type: 'list' });
    const info = reply.sessions.find((s) => s.session === this.name);
    if (info === undefined) throw new LivegradError('E_UNKNOWN_SESSION', `Expected an existing session, got ${JSON.stringify(this.name)}`);
    return info;
  }

  stream(source: StreamSource, options: StreamOptions = {}): Observable<StreamProgress> {
    return stream(this.core, this.name, source, options);
  }

  events<T extends TrainEventType>(topics?: readonly T[], options: EventsOptions<T> = {}): Observable<SessionEvent<T>> {
    return events(this.core, this.name, topics ?? (ALL_TOPICS as readonly T[]), options);
  }

  async control(control: Control, options: { readonly atStep?: number } = {}): Promise<Controlled> {
    if (typeof options !== 'object' || options === null) throw new TypeError(`Expected control options, got ${describe(options)}`);
    const m = await this.core.request<ControlledMessage>(request({ type: 'control', session: this.name, control, ...(options.atStep === undefined ? {} : { atStep: options.atStep }) }));
    return { action: m.action, step: m.step, atStep: m.atStep };
  }

  async predict(x: Matrix, options: { readonly now?: boolean } = {}): Promise<Prediction> {
    const m = await this.core.request<PredictionMessage>(request({ type: 'predict', session: this.name, x: wireValue(x) as PredictionMessage['output'], ...(options.now === true ? { now: true } : {}) }));
    return { output: decodeTensor(m.output, 'output'), step: m.step };
  }

  async snapshot(options: { readonly now?: boolean } = {}): Promise<Snapshot> {
    const m = await this.core.request<SnapshotReplyMessage>(request({ type: 'snapshot', session: this.name, ...(options.now === true ? { now: true } : {}) }));
    const model = decodeModel(m.model);
    return {
      session: m.session,
      step: m.step,
      samples: m.samples,
      model,
      loss: m.loss,
      optimizer: m.optimizer as unknown as OptimizerSpec,
      optimizerState: decodeOptimizerState(m.optimizerState, model.dtype),
      clipNorm: m.clipNorm,
      batchSize: m.batchSize,
      kernels: m.kernels,
    };
  }

  async replay(command: ReplayCommand): Promise<Replaying> {
    if (typeof command !== 'object' || command === null) throw new TypeError(`Expected a replay command ({action: "play" | "pause" | "seek" | "speed", …}), got ${describe(command)}`);
    const m = await this.core.request<ReplayingMessage>(request({ type: 'replay', session: this.name, ...command }));
    return { session: m.session, step: m.step, playing: m.playing, speed: m.speed, lastStep: m.lastStep, ended: m.ended };
  }

  async close(options: { readonly drain?: boolean } = {}): Promise<Closed> {
    const m = await this.core.request<ClosedMessage>(request({ type: 'close', session: this.name, ...(options.drain === true ? { drain: true } : {}) }));
    return { step: m.step, samples: m.samples };
  }
}
