/**
 * The hub: the named sessions and the handler of every valid client message. A handler either
 * replies or throws a LivegradError, which the connection turns into an `error` reply naming the
 * problem; nothing a client sends reaches a session unchecked.
 */
import { LivegradError, describe } from '../errors.js';
import { EVENT_TYPES } from '../pipeline/events.js';
import type { Format } from '../protocol/codec.js';
import type {
  ClientMessage,
  CloseMessage,
  ControlMessage,
  CreateMessage,
  MessageId,
  PredictMessage,
  ReplayMessage,
  SamplesMessage,
  SnapshotMessage,
  SubscribeMessage,
  UnsubscribeMessage,
} from '../protocol/messages.js';
import { parameterCount } from '../nn/mlp.js';
import { checkInputFinite, checkInputShape } from '../nn/batch.js';
import { adoptTensor, wireTensor } from '../protocol/tensors.js';
import type { Tensor } from '../nn/tensor.js';
import type { Connection, MessageHandler } from './connection.js';
import type { HostSnapshot } from './thread-messages.js';
import { checkBatchRows, trainConfig, type CreateLimits } from './create.js';
import type { Logger } from './log.js';
import type { Counters } from './metrics.js';
import { ServerSession, type SessionOptions } from './session.js';
import type { ReplaySession } from './replay-session.js';
import type { HostRecordOptions } from './thread-messages.js';
import { holdsLog, type RecoveredSession } from './recovery.js';
import { join } from 'node:path';
import { shuttingDown, type Reply } from './session-trainer.js';
import { Subscription } from './subscriber.js';

export interface HubOptions {
  readonly maxSessions: number;
  /** Defaults for sessions that do not set `credits` / `queueCapacity`. */
  readonly session: SessionOptions;
  readonly limits: CreateLimits;
  /** Most a `fromStep` replay may put in an outbox at once (half its budget: the live events need room too). */
  readonly replay: { readonly messages: number; readonly bytes: number };
  /** Record sessions under `dir/<session>/` (`livegrad serve --record DIR`). */
  readonly record?: { readonly dir: string; readonly options: HostRecordOptions };
}

export class Hub implements MessageHandler {
  readonly sessions = new Map<string, ServerSession>();
  /** Recordings played as sessions (`livegrad replay --serve`): watched like live ones, steered with `replay`. */
  readonly replays = new Map<string, ReplaySession>();
  readonly connections = new Set<Connection>();
  private stopping = false;
  /** The sessions open when the server began to stop, and whether each is recorded: messages to them are E_SHUTTING_DOWN, not E_UNKNOWN_SESSION. */
  private readonly stopped = new Map<string, boolean>();

  constructor(
    private readonly options: HubOptions,
    private readonly counters: Counters,
    private readonly log: Logger,
  ) {}

  handle(conn: Connection, m: ClientMessage, format: Format, frame: ArrayBuffer | undefined): void {
    switch (m.type) {
      case 'create':
        return this.create(conn, m, format);
      case 'list':
        return conn.reply({ type: 'sessions', ref: m.id ?? null, sessions: [...[...this.sessions.values()].map((s) => s.info()), ...[...this.replays.values()].map((r) => r.info())] }, format);
      case 'samples':
        return this.samples(conn, m, format, frame);
      case 'subscribe':
        return this.subscribe(conn, m, format);
      case 'unsubscribe':
        return this.unsubscribe(conn, m, format);
      case 'control':
        return this.control(conn, m, format);
      case 'predict':
        return this.predict(conn, m, format);
      case 'snapshot':
        return this.snapshot(conn, m, format);
      case 'close':
        return this.close(conn, m, format);
      case 'replay':
        return this.steer(conn, m, format);
      case 'ping':
        return conn.reply({ type: 'pong', ref: m.id ?? null, time: Date.now() }, format);
      default: {
        const never: never = m;
        throw new LivegradError('E_UNKNOWN_TYPE', `Expected a known message, got ${describe(never)}`);
      }
    }
  }

  disconnected(conn: Connection): void {
    this.connections.delete(conn);
    for (const s of this.sessions.values()) s.disconnected(conn);
    for (const r of this.replays.values()) r.unsubscribe(conn);
  }

  private get(name: string): ServerSession {
    const s = this.sessions.get(name);
    if (!s && this.replays.has(name)) throw new LivegradError('E_NOT_LIVE', `Expected a live session, got ${JSON.stringify(name)}, a played recording: subscribe to it, or steer it with replay (play, pause, seek, speed)`);
    if (!s && this.stopped.has(name)) throw shuttingDown(name, this.stopped.get(name)!);
    if (!s) throw new LivegradError('E_UNKNOWN_SESSION', `Expected an existing session, got ${JSON.stringify(name)} (send list to see the sessions)`);
    return s;
  }

  private open(name: string): ServerSession {
    const s = this.get(name);
    if (s.isClosing) throw s.closingError();
    return s;
  }

  private readonly ended = (s: ServerSession): void => {
    if (this.sessions.get(s.name) === s) this.sessions.delete(s.name);
    for (const conn of this.connections) conn.forget(s.name);
    if (s.failure === undefined) this.log.info('session ended', { session: s.name, step: s.trainer.steps, samples: s.trainer.samples });
    else this.log.error('session failed', { session: s.name, step: s.trainer.steps, error: s.failure instanceof Error ? s.failure.stack : String(s.failure) });
  };

  private create(conn: Connection, m: CreateMessage, format: Format): void {
    if (this.stopping) throw new LivegradError('E_SHUTTING_DOWN', 'Expected a running server, got one shutting down');
    if (this.sessions.has(m.session) || this.replays.has(m.session)) throw new LivegradError('E_SESSION_EXISTS', `Expected a new session name, got ${JSON.stringify(m.session)}, which exists`);
    if (this.sessions.size >= this.options.maxSessions) throw new LivegradError('E_SESSION_LIMIT', `Expected fewer than ${this.options.maxSessions} sessions, got ${this.sessions.size} open`);
    const config = trainConfig(m, this.options.limits);
    const record = this.recordOf(m);
    let session: ServerSession;
    try {
      session = new ServerSession(
        config,
        {
          ...this.options.session,
          credits: m.credits ?? this.options.session.credits,
          queueCapacity: m.queueCapacity ?? this.options.session.queueCapacity,
          ...(record ? { record } : {}),
        },
        this.counters,
        this.ended,
      );
    } catch (e) {
      if (e instanceof LivegradError) throw e;
      throw new LivegradError('E_BAD_CONFIG', (e as Error).message, { cause: e });
    }
    this.sessions.set(m.session, session);
    session.attach(conn);
    session.trainer.start();
    this.log.info('session created', { session: m.session, parameters: parameterCount(session.trainer.shape), connection: conn.id });
    // `created` once the session's thread is up, in order with the answers to what follows
    const ref = m.id ?? null;
    session.trainer.whenReady(
      this.reply(conn, ref, m.session, format, () => {
        const { paused: _p, queueDepth: _q, subscribers: _s, ...info } = session.info();
        return { type: 'created', ref, ...info };
      }),
    );
  }

  /** Where a new session is recorded: under the record directory unless it opts out; E_BAD_CONFIG for `record: true` on a server that does not record, E_SESSION_EXISTS for a name whose recording is there. */
  private recordOf(m: CreateMessage): SessionOptions['record'] {
    const r = this.options.record;
    if (m.record === true && r === undefined) throw new LivegradError('E_BAD_CONFIG', 'Expected record: true only on a server that records (livegrad serve --record DIR), got it on one that does not');
    if (r === undefined || m.record === false) return undefined;
    const dir = join(r.dir, m.session);
    if (holdsLog(dir)) {
      throw new LivegradError('E_SESSION_EXISTS', `Expected a new session name, got ${JSON.stringify(m.session)}, whose recording is in ${dir} (a finished session's: move it away, or replay it with livegrad replay)`);
    }
    return { dir, options: r.options };
  }

  /** Brings back a session from its log (server start): it trains on from where its log ends. */
  recover(r: RecoveredSession): ServerSession {
    const record = { dir: r.dir, options: { ...this.options.record!.options, firstSegment: r.nextSegment } };
    const session = new ServerSession(r.config, { ...this.options.session, queueCapacity: r.queueCapacity, record, recovered: { state: r.state, producers: r.producers } }, this.counters, this.ended);
    this.sessions.set(session.name, session);
    session.trainer.start();
    this.log.info('session recovered', { session: session.name, step: r.state.steps, queued: r.state.queue.length, producers: Object.fromEntries(r.producers) });
    return session;
  }

  /** Plays a recording as a session named after it (E_SESSION_EXISTS when the name is taken). */
  play(r: ReplaySession): void {
    if (this.sessions.has(r.name) || this.replays.has(r.name)) {
      r.close();
      throw new LivegradError('E_SESSION_EXISTS', `Expected a new session name for the recording ${r.recording.path}, got ${JSON.stringify(r.name)}, which exists`);
    }
    this.replays.set(r.name, r);
    this.log.info('playing recording', { session: r.name, path: r.recording.path, firstStep: r.recording.firstStep, lastStep: r.recording.lastStep });
  }

  private steer(conn: Connection, m: ReplayMessage, format: Format): void {
    const r = this.replays.get(m.session);
    if (!r) {
      if (this.sessions.has(m.session)) throw new LivegradError('E_NOT_LIVE', `Expected a played recording, got ${JSON.stringify(m.session)}, a live session: steer it with control`);
      throw new LivegradError('E_UNKNOWN_SESSION', `Expected an existing session, got ${JSON.stringify(m.session)} (send list to see the sessions)`);
    }
    let step = r.steps;
    /** The session the reply is about: this one, or a fork of it. */
    let played = r;
    try {
      switch (m.action) {
        case 'play':
          r.play();
          break;
        case 'pause':
          r.pause();
          break;
        case 'seek':
          step = r.seek(m.step);
          break;
        case 'speed':
          r.setSpeed(m.speed);
          break;
        case 'fork':
          played = r.forkAt(m.as!, m.step, m.lr!);
          step = m.step!;
          break;
      }
    } catch (e) {
      if (e instanceof RangeError) throw new LivegradError('E_BAD_FIELD', e.message, { cause: e });
      throw e;
    }
    if (played !== r) this.play(played);
    const s = played.state();
    conn.reply({ type: 'replaying', ref: m.id ?? null, session: played.name, step, playing: s.playing, speed: s.speed, lastStep: s.lastStep, ended: s.ended }, format);
  }

  private samples(conn: Connection, m: SamplesMessage, format: Format, frame: ArrayBuffer | undefined): void {
    const s = this.open(m.session);
    const p = conn.producer(m.session, s.credits, format);
    if (m.seq <= p.lastSeq) {
      throw new LivegradError('E_BAD_SEQ', `Expected seq > ${p.lastSeq} (strictly increasing per connection and session), got ${m.seq}`);
    }
    if (m.producer !== undefined && m.seq <= s.lastOffered(m.producer)) {
      const last = s.lastOffered(m.producer);
      throw new LivegradError('E_BAD_SEQ', `Expected seq > ${last} from producer ${JSON.stringify(m.producer)} (strictly increasing per producer name and session, across connections: the session holds up to ${last}; resume from ${last + 1}), got ${m.seq}`);
    }
    p.lastSeq = m.seq;
    if (p.inFlight >= p.credits) {
      throw new LivegradError('E_NO_CREDIT', `Expected at most ${p.credits} unacknowledged samples messages in flight, got one more (seq ${m.seq}): wait for an ack`);
    }
    const model = s.trainer.shape;
    // views of the frame's bytes where aligned; a trainer thread takes the frame itself when both
    // are views of it (SessionTrainer.offer), else copies of them
    const batch = { x: adoptTensor(m.x, model.dtype, 'x'), y: adoptTensor(m.y, model.dtype, 'y') };
    const step = m.step ?? false;
    // one step of m rows must fit the activation budget, as a batch of m would
    if (step) checkBatchRows(model, batch.x.shape[0] ?? 0, this.options.limits, 'E_SHAPE');
    // shapes, finiteness and labels are checked once, by the trainer when it admits the batch (then ack, or error)
    p.inFlight++; // until the trainer has admitted the batch (ack) or refused it
    try {
      s.offer(conn, m.seq, batch, step, frame, m.producer);
    } catch (e) {
      p.inFlight--;
      throw e;
    }
  }

  /** A live session or a played recording: what a subscriber watches. */
  private watched(name: string): ServerSession | ReplaySession {
    return this.replays.get(name) ?? this.get(name);
  }

  private subscribe(conn: Connection, m: SubscribeMessage, format: Format): void {
    const s = this.watched(m.session);
    conn.format = format;
    const topics = m.topics ?? EVENT_TYPES;
    const sub = new Subscription(m.session, topics, m.rates ?? {}, conn, this.counters);
    conn.subscriptions.get(m.session)?.close();
    conn.subscriptions.set(m.session, sub);
    const ring = s.subscribe(conn, sub, m.fromStep);
    // the newest events that fit the replay budget; older ones are reported missing (complete: false)
    let first = ring.replay.length;
    let bytes = 0;
    while (first > 0 && ring.replay.length - first < this.options.replay.messages) {
      const size = ring.replay[first - 1]!.encoded(format).length;
      if (bytes + size > this.options.replay.bytes) break;
      bytes += size;
      first--;
    }
    const replay = ring.replay.slice(first);
    const complete = ring.complete && first === 0;
    conn.reply({ type: 'subscribed', ref: m.id ?? null, session: m.session, topics, step: "trainer" in s ? s.trainer.steps : s.steps, replayed: replay.length, complete }, format);
    sub.replay(replay);
  }

  private unsubscribe(conn: Connection, m: UnsubscribeMessage, format: Format): void {
    const s = this.watched(m.session);
    s.unsubscribe(conn);
    conn.subscriptions.delete(m.session);
    conn.reply({ type: 'unsubscribed', ref: m.id ?? null, session: m.session }, format);
  }

  /**
   * How the answer to a session message reaches its connection: `reply` with its result, or the
   * error it was refused with (E_BAD_CONTROL, E_SESSION_CLOSED, …) as an `error` reply to its id.
   */
  private reply<T>(conn: Connection, ref: MessageId | null, session: string, format: Format, reply: (value: T) => object): Reply<T> {
    return {
      ok: (value) => conn.reply(reply(value), format),
      fail: (e) => conn.fail(e, ref, format, session),
    };
  }

  private control(conn: Connection, m: ControlMessage, format: Format): void {
    const s = this.open(m.session);
    const c = m.control;
    if (c.action === 'set' && c.batchSize !== undefined) checkBatchRows(s.trainer.shape, c.batchSize, this.options.limits, 'E_BAD_CONTROL');
    s.attach(conn);
    const ref = m.id ?? null;
    s.trainer.control(
      c,
      m.atStep,
      this.reply(conn, ref, m.session, format, ({ step }: { step: number }) => ({ type: 'controlled', ref, session: m.session, action: c.action, step, atStep: m.atStep ?? null })),
    );
  }

  private predict(conn: Connection, m: PredictMessage, format: Format): void {
    const s = this.get(m.session);
    const model = s.trainer.shape;
    const x = adoptTensor(m.x, model.dtype, 'x');
    checkBatchRows(model, checkInputShape(model, x), this.options.limits, 'E_SHAPE');
    checkInputFinite(model, x);
    const ref = m.id ?? null;
    s.trainer.predict(
      x,
      m.now ?? false,
      this.reply(conn, ref, m.session, format, ({ output, step }: { output: Tensor; step: number }) => ({ type: 'prediction', ref, session: m.session, step, output: wireTensor(output) })),
    );
  }

  private snapshot(conn: Connection, m: SnapshotMessage, format: Format): void {
    const s = this.get(m.session);
    const ref = m.id ?? null;
    s.trainer.snapshot(m.now ?? false, this.reply(conn, ref, m.session, format, ({ model, state, step, samples, config, batchSize }: HostSnapshot) => {
      const dtype = model.dtype;
      return {
        type: 'snapshot',
        ref,
        session: m.session,
        step,
        samples,
        model: {
          dtype,
          inputSize: model.inputSize,
          layers: model.layers.map((l) => ({
            activation: l.activation,
            w: wireTensor({ dtype, shape: [l.nin, l.nout], data: l.w }),
            b: wireTensor({ dtype, shape: [l.nout], data: l.b }),
          })),
        },
        loss: config.loss,
        optimizer: { ...config.optimizer },
        optimizerState: {
          kind: state.kind,
          t: state.t,
          hasMomentum: state.hasMomentum,
          buffers: state.buffers.map((bs) => bs.map((b) => wireTensor({ dtype, shape: [b.length], data: b }))),
        },
        clipNorm: config.clipNorm ?? null,
        batchSize,
        kernels: s.trainer.kernels,
      };
    }));
  }

  private close(conn: Connection, m: CloseMessage, format: Format): void {
    const s = this.get(m.session);
    s.close(m.drain ?? false, () => {
      conn.reply({ type: 'closed', ref: m.id ?? null, session: m.session, step: s.trainer.steps, samples: s.trainer.samples }, format);
    });
  }

  /**
   * Shutdown: no new sessions; every session stops at its current batch boundary. A session whose
   * training thread is still in a step `timeoutMs` later has the thread terminated (the session
   * fails, its subscribers are told); an inline step cannot be interrupted and is waited for.
   */
  stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    for (const r of this.replays.values()) r.close();
    this.replays.clear();
    const sessions = [...this.sessions.values()];
    for (const s of sessions) this.stopped.set(s.name, s.recorded);
    // a recorded session is suspended, not closed: a restart on the same record directory continues it
    const all = sessions.map((s) => new Promise<void>((resolve) => s.shutdown(resolve)));
    const timer = setTimeout(() => {
      for (const s of sessions) {
        if (!s.trainer.done) s.trainer.terminate(`Expected session "${s.name}" to stop within ${timeoutMs} ms of shutdown, got a step still running: its training thread was terminated`);
      }
    }, timeoutMs);
    return Promise.all(all).then(() => clearTimeout(timer));
  }
}
