/**
 * A named training session on the server: one trainer, its bounded ingest, and the fan-out of
 * its events to subscribers.
 *
 * The trainer runs on a thread of its own (trainer-thread.ts) or inline on the main thread
 * (session-trainer.ts); this object, on the main thread, owns everything a socket touches.
 *
 * Ingest and credits. A producer may have `credits` `samples` messages unacknowledged. A message
 * that passes validation is offered to the trainer, and waits on the trainer's side (intake.ts,
 * on the training thread when there is one) until there is room: fewer than
 * `queueCapacity × batchSize` rows handed over and not yet trained. Once the trainer has taken
 * it, it is acknowledged (`ack`: the credit is back), or refused with an error naming the
 * problem; when its last row has been trained, the producer gets `consumed` with that step.
 * While the session is paused nothing trains, offers wait, and producers run out of credit: that
 * is the back-pressure.
 *
 * Events. The session subscribes once to the trainer's events, wraps each in a Packet (encoded at
 * most once per format, however many subscribers), keeps lossless ones in a ring for `fromStep`
 * replay, and hands the same Packet to every subscription.
 */
import { LivegradError } from '../errors.js';
import { outputSize, parameterCount } from '../nn/mlp.js';
import type { Batch } from '../nn/batch.js';
import type { TrainEvent } from '../pipeline/events.js';
import type { TrainConfig } from '../pipeline/trainer.js';
import type { SessionInfo } from '../protocol/messages.js';
import type { Counters } from './metrics.js';
import { Packet } from './packet.js';
import { Ring } from './ring.js';
import type { Subscription } from './subscriber.js';
import { InlineTrainer, type SessionTrainer } from './session-trainer.js';
import { TrainerThread } from './trainer-thread.js';

/** The connection side of ingest: what a producer is told about its messages. */
export interface Producer {
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
}

export class ServerSession {
  readonly name: string;
  readonly trainer: SessionTrainer;
  readonly credits: number;
  private readonly subscribers = new Map<object, Subscription>();
  private readonly ring: Ring<Packet>;
  private closing = false;
  /** Closing with drain (a close without drain may still stop it). */
  private draining = false;
  private ended = false;
  private readonly endWaiters: (() => void)[] = [];
  /** Why the trainer failed (events$ errored), when it did. */
  failure: unknown;

  /**
   * @param config  from `trainConfig()`; createTrainer's TypeError / RangeError (checked here, before the thread starts) are the caller's to map.
   * @param onEnd   called once, when the trainer has completed or failed and its last event is out:
   *                the owner forgets the session and every connection's state for it.
   */
  constructor(
    config: TrainConfig,
    options: SessionOptions,
    private readonly counters: Counters,
    private readonly onEnd: (session: ServerSession) => void,
  ) {
    this.trainer = options.thread ? new TrainerThread(config, options.queueCapacity) : new InlineTrainer(config, options.queueCapacity);
    this.name = this.trainer.session;
    this.credits = options.credits;
    this.ring = new Ring(options.replayEvents);
    this.trainer.events$.subscribe({
      next: (e) => this.fanOut(e),
      complete: () => this.end(),
      error: (e: unknown) => this.end(e),
    });
  }

  get isClosing(): boolean {
    return this.closing || this.ended;
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
      subscribers: this.subscribers.size,
    };
  }

  private fanOut(e: TrainEvent): void {
    const packet = new Packet(e);
    if (packet.lane === 'lossless') this.ring.push(packet);
    if (this.subscribers.size > 0) {
      const now = performance.now();
      for (const sub of this.subscribers.values()) sub.deliver(packet, now);
    }
    if (e.type === 'step') {
      this.counters.steps++;
      this.counters.samples += e.batchSize;
    }
  }

  /**
   * A validated chunk from a producer: accepted (ack) once the trainer has room for it.
   * `frame`: the frame's buffer, which nothing else uses (taken as it is when the arrays are views of it).
   */
  offer(producer: Producer, seq: number, batch: Batch, frame?: ArrayBuffer): void {
    if (this.isClosing) throw new LivegradError('E_SESSION_CLOSED', `Expected an open session, got "${this.name}" closing`);
    const rows = batch.x.shape[0]!;
    this.trainer.offer(producer, batch, {
      accepted: () => producer.accepted(this.name, seq, rows),
      rejected: (e) => producer.rejected(this.name, seq, e),
      consumed: (step) => producer.consumed(this.name, seq, step),
    }, frame);
  }

  /** Offers of a producer that went away: never acknowledged, so dropped. */
  dropProducer(producer: Producer): void {
    this.trainer.withdraw(producer);
  }

  /**
   * Starts a subscription: returns the ring's lossless events with step ≥ fromStep that it wants
   * (the caller sends them after its `subscribed` reply), then delivers live events.
   */
  subscribe(key: object, sub: Subscription, fromStep: number | undefined): { replay: Packet[]; complete: boolean } {
    this.unsubscribe(key);
    let replay: Packet[] = [];
    let complete = true;
    if (fromStep !== undefined) {
      const r = this.ring.since(fromStep);
      replay = r.items.filter((p) => sub.wants(p.type));
      complete = r.complete;
    }
    this.subscribers.set(key, sub);
    return { replay, complete };
  }

  unsubscribe(key: object): boolean {
    const sub = this.subscribers.get(key);
    if (!sub) return false;
    sub.close();
    this.subscribers.delete(key);
    return true;
  }

  /**
   * Ends the session. `drain`: a paused session is resumed (nothing could resume it once it is
   * closing), the messages waiting for room are taken, and every row trains, the partial batch
   * too. Otherwise it stops at the current batch boundary, and so does a session already draining
   * (a second close without drain, or shutdown, never waits for a drain). `done` runs once the
   * last event has gone out.
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
    if (drain) {
      // ordered before end(): the trainer takes it at its next batch boundary (a no-op when not paused)
      this.trainer.control({ action: 'resume' }, undefined).catch(() => undefined);
      this.trainer.end();
    } else {
      this.trainer.close(reason);
    }
  }

  private end(error?: unknown): void {
    if (this.ended) return;
    this.failure = error;
    this.ended = true;
    this.closing = true;
    for (const sub of this.subscribers.values()) sub.close();
    this.subscribers.clear();
    this.onEnd(this);
    for (const f of this.endWaiters.splice(0)) f();
  }
}
