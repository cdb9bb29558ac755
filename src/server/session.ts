/**
 * A named training session on the server: its trainer (session-trainer.ts), the fan-out of its
 * events to subscribers, and its lifetime.
 *
 * Order. Every message for the session goes to the trainer in the order it was received, and
 * takes effect in that order (docs/protocol.md, "Sessions"): this object adds no queue of its
 * own. A samples message is acknowledged (`ack`) once the trainer has admitted it, refused with
 * an error naming the problem otherwise, and `consumed` follows once its last row has trained.
 *
 * Events. The session subscribes once to the trainer's events, wraps each in a Packet (encoded
 * at most once per format, however many subscribers), keeps lossless ones in a ring for
 * `fromStep` replay, and hands the same Packet to every subscription.
 *
 * Lifetime. A session lives until it is closed, fails, or the server stops — not as long as its
 * producer's connection: a producer may reconnect and go on. A session with no one attached (no
 * connection that created it or sent it samples or controls, and no subscriber) for `idleMs` is
 * closed with reason "idle", so that orphaned sessions do not fill the server.
 */
import { LivegradError } from '../errors.js';
import type { Batch } from '../nn/batch.js';
import { outputSize, parameterCount } from '../nn/mlp.js';
import type { TrainEvent } from '../pipeline/events.js';
import type { TrainerCheckpoint } from '../pipeline/trainer/checkpoint.js';
import type { TrainConfig } from '../pipeline/trainer/config.js';
import type { SessionInfo } from '../protocol/messages.js';
import type { Counters } from './metrics.js';
import { FanOut } from './fan-out.js';
import type { Packet } from './packet.js';
import { SessionTrainer, shuttingDown } from './session-trainer.js';
import type { Subscription } from './subscriber.js';
import type { HostInit } from './thread-messages.js';

/** The connection side of ingest: what a producer is told about its messages. */
export interface Producer {
  /** Names this producer to the trainer (to forget its waiting chunks when it goes). */
  readonly id: number;
  accepted(session: string, seq: number, rows: number): void;
  consumed(session: string, seq: number, step: number): void;
  rejected(session: string, seq: number, error: Error): void;
}

export interface SessionOptions {
  /** Unacknowledged `samples` messages per producer. */
  readonly credits: number;
  /** Accepted rows not yet trained, in batches of `batchSize`. */
  readonly queueCapacity: number;
  /** Lossless events kept for `fromStep` replay. */
  readonly replayEvents: number;
  /** Train on a worker thread of the session's own (true), or on the main thread between socket events. */
  readonly thread: boolean;
  /** Threads for the session's `wasm` kernels (1 or 2; `kernelThreads` of the server). */
  readonly kernelThreads: number;
  /** Most messages, and bytes of samples, waiting their turn in the session (E_BACKLOG beyond). */
  readonly backlog: { readonly messages: number; readonly bytes: number };
  /** Close the session after this long with no one attached, ms; 0: never. */
  readonly idleMs: number;
  /** Record the session into this log directory (src/record/), with these options. */
  readonly record?: HostInit['record'];
  /** A recovered session: the state its log ends at, and its named producers' last seq. */
  readonly recovered?: { readonly state: TrainerCheckpoint; readonly producers: ReadonlyMap<string, number> };
}

export class ServerSession {
  readonly name: string;
  readonly trainer: SessionTrainer;
  readonly credits: number;
  private readonly out: FanOut;
  /** Connections that created the session or sent it samples or controls, until they go. */
  private readonly producers = new Set<object>();
  private closing = false;
  /** The server is stopping (shutdown). */
  private stopping = false;
  /** Closing with drain (a close without drain may still stop it). */
  private draining = false;
  private ended = false;
  private readonly endWaiters: (() => void)[] = [];
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** Why the trainer failed (events$ errored), when it did. */
  failure: unknown;
  /** Per named producer: the last seq acknowledged (held by the session), and the last offered (for the order of its seq). */
  private readonly held = new Map<string, number>();
  private readonly offered = new Map<string, number>();

  /**
   * @param config  from `trainConfig()`; createTrainer's TypeError / RangeError (checked here, before the thread starts) are the caller's to map.
   * @param onEnd   called once, when the trainer has completed or failed and its last event is out:
   *                the owner forgets the session and every connection's state for it.
   */
  constructor(
    config: TrainConfig,
    private readonly options: SessionOptions,
    private readonly counters: Counters,
    private readonly onEnd: (session: ServerSession) => void,
  ) {
    this.trainer = new SessionTrainer(config, {
      thread: options.thread,
      kernelThreads: options.kernelThreads,
      queueCapacity: options.queueCapacity,
      backlog: options.backlog,
      ...(options.record ? { record: options.record } : {}),
      ...(options.recovered ? { restore: options.recovered.state } : {}),
    });
    for (const [name, seq] of options.recovered?.producers ?? []) {
      this.held.set(name, seq);
      this.offered.set(name, seq);
    }
    this.name = this.trainer.session;
    this.credits = options.credits;
    this.out = new FanOut(options.replayEvents);
    this.trainer.events$.subscribe({
      next: (e) => this.fanOut(e),
      complete: () => this.end(),
      error: (e: unknown) => this.end(e),
    });
    this.watchIdle();
  }

  get isClosing(): boolean {
    return this.closing || this.ended;
  }

  /** Whether the session records to a log. */
  get recorded(): boolean {
    return this.options.record !== undefined;
  }

  /**
   * Why a message to this closing session is refused: E_SHUTTING_DOWN when the server is
   * stopping (on a recording server the session comes back after the restart, so a producer
   * should reconnect and resume, not give up), else E_SESSION_CLOSED.
   */
  closingError(): LivegradError {
    if (this.stopping) return shuttingDown(this.name, this.recorded);
    return new LivegradError('E_SESSION_CLOSED', `Expected an open session, got "${this.name}" closing`);
  }

  info(): SessionInfo {
    const t = this.trainer;
    return {
      session: this.name,
      step: t.steps,
      samples: t.samples,
      paused: t.paused,
      dtype: t.shape.dtype,
      inputSize: t.shape.inputSize,
      outputSize: outputSize(t.shape),
      parameters: parameterCount(t.shape),
      loss: t.loss,
      batchSize: t.batchSize,
      credits: this.credits,
      queueDepth: t.queueDepth,
      subscribers: this.out.size,
      recording: this.options.record !== undefined,
      producers: Object.fromEntries(this.held),
      kernels: t.kernels,
      threads: t.threads,
    };
  }

  /** The last seq offered by the producer named `name` (-1 when none): a named producer's seq counts across its connections. */
  lastOffered(name: string): number {
    return this.offered.get(name) ?? -1;
  }

  private fanOut(e: TrainEvent): void {
    this.out.publish(e);
    if (e.type === 'step') {
      this.counters.steps++;
      this.counters.samples += e.batchSize;
    }
  }

  /** `conn` creates or steers the session, or produces to it: it is attached until it goes. */
  attach(conn: object): void {
    this.producers.add(conn);
    this.watchIdle();
  }

  /**
   * A validated chunk from a producer: acknowledged once the trainer admits it, at its turn.
   * `step`: its rows train as one step of their own. `frame`: the frame's buffer, which nothing
   * else uses (taken as it is when the arrays are views of it). Throws E_SESSION_CLOSED, E_BACKLOG.
   */
  offer(producer: Producer, seq: number, batch: Batch, step: boolean, frame: ArrayBuffer | undefined, name?: string): void {
    if (this.isClosing) throw this.closingError();
    const rows = batch.x.shape[0]!;
    this.attach(producer);
    this.trainer.offer(
      producer.id,
      batch,
      {
        accepted: () => {
          if (name !== undefined) this.held.set(name, seq);
          producer.accepted(this.name, seq, rows);
        },
        rejected: (e) => producer.rejected(this.name, seq, e),
        consumed: (s) => producer.consumed(this.name, seq, s),
      },
      { step, frame, tag: { producer: name ?? producer.id, seq } },
    );
    if (name !== undefined) this.offered.set(name, seq);
  }

  /** A connection went away: its chunks still waiting are never acknowledged, so dropped; it is no longer attached. */
  disconnected(conn: Producer): void {
    this.unsubscribe(conn);
    if (this.producers.delete(conn)) this.trainer.withdraw(conn.id);
    this.watchIdle();
  }

  /**
   * Starts a subscription: returns the ring's lossless events with step ≥ fromStep that it wants
   * (the caller sends them after its `subscribed` reply), then delivers live events.
   */
  subscribe(key: object, sub: Subscription, fromStep: number | undefined): { replay: Packet[]; complete: boolean } {
    const r = this.out.subscribe(key, sub, fromStep);
    this.watchIdle();
    return r;
  }

  unsubscribe(key: object): boolean {
    const had = this.out.unsubscribe(key);
    if (had) this.watchIdle();
    return had;
  }

  /** Starts the idle clock when no one is attached, stops it when someone is. */
  private watchIdle(): void {
    const idle = this.out.size === 0 && this.producers.size === 0 && !this.isClosing;
    if (!idle || this.options.idleMs === 0) {
      if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
      return;
    }
    if (this.idleTimer !== undefined) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      this.close(false, () => undefined, 'idle');
    }, this.options.idleMs);
    this.idleTimer.unref();
  }

  /**
   * Ends the session. `drain`: every message received before the close takes effect, every row
   * trains (the partial batch too), and a paused session is resumed for it (nothing could resume
   * it once it is closing). Otherwise it stops at the current batch boundary, and so does a
   * session already draining (a second close without drain, or shutdown, never waits for a
   * drain). `done` runs once the last event has gone out.
   */
  close(drain: boolean, done: () => void, reason = 'closed'): void {
    if (this.ended) {
      done();
      return;
    }
    this.endWaiters.push(done);
    if (this.closing && (drain || !this.draining)) return;
    this.closing = true;
    this.draining = drain;
    this.watchIdle();
    if (drain) this.trainer.end(true);
    else this.trainer.close(reason);
  }

  /**
   * The server stops: as close without drain, but a recorded session's log is not ended (its last
   * checkpoint is the state now), so that a restart on the same record directory continues it,
   * queued rows included.
   */
  shutdown(done: () => void): void {
    this.stopping = true;
    if (this.options.record === undefined || this.ended || this.closing) {
      this.close(false, done, 'shutdown');
      return;
    }
    this.endWaiters.push(done);
    this.closing = true;
    this.watchIdle();
    this.trainer.suspend('shutdown');
  }

  private end(error?: unknown): void {
    if (this.ended) return;
    this.failure = error;
    this.ended = true;
    this.closing = true;
    this.watchIdle();
    this.out.closeAll();
    this.onEnd(this);
    for (const f of this.endWaiters.splice(0)) f();
  }
}
