/**
 * One `events()` subscription: a connection of its own, subscribed to the session; after a drop,
 * a new one subscribed again with `fromStep`.
 *
 * Resuming without a repeat or a loss. Several events share a step (a `step` event, then the
 * `metrics` of that step, a `control` that took effect after it, …), so the client subscribes
 * again from the step of the last event it received, not the one after (which would lose the
 * rest of that step's events), and leaves out of the replay the events of that step it already
 * has: the server replays them in the order it sent them.
 */
import { LivegradError } from '../errors.js';
import type { TrainEvent, TrainEventType } from '../pipeline/events.js';
import type { ServerMessage, SessionsMessage, SubscribedMessage, SubscribeMessage } from '../protocol/messages.js';
import { delayOf, Sleeper, type Backoff } from './backoff.js';
import type { Connection } from './connection.js';
import { decodeEvent, isEvent } from './decode.js';
import { CONNECTION_LOST, replyError } from './errors.js';
import type { GapEvent } from './events.js';

export interface EventsSettings {
  readonly session: string;
  readonly topics: readonly TrainEventType[];
  readonly rates: Readonly<Partial<Record<TrainEventType, number>>>;
  readonly fromStep: number | undefined;
  readonly reconnect: Backoff;
}

/** Topics whose events the server keeps in its ring and never drops (docs/protocol.md, "Subscriptions"). */
const LOSSLESS: ReadonlySet<TrainEventType> = new Set(['step', 'metrics', 'eval', 'lifecycle', 'control', 'error']);

/** The same event, replayed: its fields are the ones the server sent the first time (the same encoded bytes). */
function key(e: TrainEvent): string {
  return JSON.stringify(e);
}

export class EventsRun {
  private conn: Connection | undefined;
  private running: Promise<void> | undefined;
  /** The session has ended (or the client closed): no reconnecting. */
  private done = false;
  private failure: unknown;
  private readonly sleeper = new Sleeper();
  /** What the server is subscribed to: the topics asked for, and `lifecycle`, to know when the session ends. */
  private readonly topics: readonly TrainEventType[];
  private readonly wanted: ReadonlySet<string>;
  /** Whether the session is recorded (then a shutdown suspends it, and the client follows it across the restart). */
  private recording = false;
  /** The step of the last lossless event received, and those events of it (-1: none yet). */
  private lastStep = -1;
  private atLast: TrainEvent[] = [];
  /** While a replay runs: events still to come from the ring, and those of `lastStep` to leave out. */
  private replayLeft = 0;
  private skip = new Map<string, number>();
  private skipStep = -1;
  private nextId = 1;

  constructor(
    private readonly open: () => Promise<Connection>,
    private readonly settings: EventsSettings,
    private readonly emit: (e: TrainEvent | GapEvent) => void,
  ) {
    this.topics = settings.topics.includes('lifecycle') ? settings.topics : [...settings.topics, 'lifecycle'];
    this.wanted = new Set(settings.topics);
  }

  /** Follows the session until it ends (resolves), or until it cannot (rejects). */
  run(): Promise<void> {
    this.running ??= this.execute();
    return this.running;
  }

  /** Ends the subscription (its Observable completes), and resolves once its connection is closed. */
  async close(): Promise<void> {
    this.done = true;
    this.sleeper.cancel(undefined);
    await Promise.all([this.conn?.close(), this.running?.catch(() => undefined)]); // its error is the Observable's
  }

  private async execute(): Promise<void> {
    let attempt = 0;
    let first = true;
    try {
      for (;;) {
        let reason: unknown;
        try {
          const conn = await this.open();
          this.conn = conn;
          if (this.done) return; // closed while it opened
          if (first) await this.learn(conn);
          first = false;
          const subscribed = this.subscribe(conn);
          await subscribed;
          attempt = 0;
          reason = await conn.closed;
        } catch (e) {
          reason = e;
        }
        if (this.failure !== undefined) throw this.failure;
        if (this.done) return;
        if (!transient(reason)) throw reason;
        if (++attempt > this.settings.reconnect.attempts) throw reason;
        await this.sleeper.wait(delayOf(this.settings.reconnect, attempt));
        if (this.done) return;
      }
    } finally {
      this.sleeper.cancel(undefined);
      await this.conn?.close();
    }
  }

  /** Is there such a session, and is it recorded? */
  private async learn(conn: Connection): Promise<void> {
    const reply = await conn.request<SessionsMessage>({ type: 'list' });
    const info = reply.sessions.find((s) => s.session === this.settings.session);
    if (info === undefined) throw new LivegradError('E_UNKNOWN_SESSION', `Expected an existing session, got ${JSON.stringify(this.settings.session)}`);
    this.recording = info.recording;
  }

  /**
   * Subscribes, from the last step received (or the `fromStep` asked for), and resolves with the
   * reply. The reply and the events after it are read by the listener as they arrive (a replay
   * may come in the same read as the reply, before any promise could resume).
   */
  private subscribe(conn: Connection): Promise<void> {
    const resumed = this.lastStep >= 0;
    const fromStep = resumed ? this.lastStep : this.settings.fromStep;
    this.skip = new Map();
    this.skipStep = this.lastStep;
    if (resumed) for (const e of this.atLast) this.skip.set(key(e), (this.skip.get(key(e)) ?? 0) + 1);
    const id = `s${this.nextId++}`;
    return new Promise<void>((resolve, reject) => {
      const stop = conn.listen((m) => {
        if ((m as { ref?: unknown }).ref === id) {
          if (m.type === 'error') reject(replyError(m));
          else this.subscribed(m as SubscribedMessage, fromStep);
          resolve();
        } else this.received(m);
      });
      void conn.closed.then((reason) => {
        stop();
        reject(reason);
      });
      const message: SubscribeMessage = {
        type: 'subscribe',
        id,
        session: this.settings.session,
        topics: this.topics,
        ...(Object.keys(this.settings.rates).length > 0 ? { rates: this.settings.rates } : {}),
        ...(fromStep === undefined ? {} : { fromStep }),
      };
      conn.take().then(() => conn.send(message)).catch(reject);
    });
  }

  private subscribed(m: SubscribedMessage, fromStep: number | undefined): void {
    this.replayLeft = m.replayed;
    if (fromStep !== undefined && !m.complete) this.emit({ type: 'gap', session: m.session, fromStep, step: m.step, replayed: m.replayed });
  }

  private received(m: ServerMessage): void {
    if (this.done) return; // after the session's last event, or the client's close: nothing more
    if (!isEvent(m)) {
      if (m.type === 'error') this.fail(replyError(m));
      return; // a pong
    }
    if ((m as { session: string }).session !== this.settings.session) return;
    let e: TrainEvent;
    try {
      e = decodeEvent(m);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (this.replayLeft > 0) {
      this.replayLeft--;
      const k = e.step === this.skipStep ? key(e) : undefined;
      const n = k === undefined ? 0 : (this.skip.get(k) ?? 0);
      if (n > 0) {
        this.skip.set(k!, n - 1);
        return; // delivered before the drop
      }
    }
    if (LOSSLESS.has(e.type)) {
      if (e.step !== this.lastStep) {
        this.lastStep = e.step;
        this.atLast = [];
      }
      this.atLast.push(e);
    }
    if (this.wanted.has(e.type)) this.emit(e);
    if (e.type === 'lifecycle' && (e.state === 'completed' || e.state === 'failed')) {
      // a recorded session stopped by its server's shutdown comes back when the server restarts
      if (!(e.reason === 'shutdown' && this.recording)) void this.close();
    }
  }

  private fail(e: unknown): void {
    if (this.failure === undefined) this.failure = e;
    void this.conn?.close();
  }
}

/** What a reconnect goes on after: a lost connection, a server stopping or full for a moment, a slow-consumer close. */
function transient(e: unknown): boolean {
  return e instanceof LivegradError && (e.code === CONNECTION_LOST || e.code === 'E_SHUTTING_DOWN' || e.code === 'E_CONNECTION_LIMIT' || e.code === 'E_SLOW_CONSUMER');
}
