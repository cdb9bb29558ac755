/**
 * One `stream()`: rows from a source to a session over a connection of its own, within the
 * session's credits and the server's rate, cut into messages, until every row is trained.
 *
 *   source ─read─▶ RowBuffer ─cut─▶ samples seq ──▶ server
 *                                        in flight ◀── ack (credit back) ◀──┤
 *                                        unconsumed ◀── consumed (step) ◀───┘
 *
 * Cutting. While the source goes on, a message ends on a batch boundary (its last row's index + 1
 * a multiple of `batchSize`, counted from the stream's first row): the rows of a partial batch
 * would wait in the session anyway. When the source ends, the rows left are sent with the last
 * batch's rows — fewer than `batchSize`, or a whole batch — as one message with `step: true`
 * (`tail: 'step'`): it trains them as one step, as `train()` trains the last partial batch when its
 * source completes, so every row is trained and the stream can complete. With `tail: 'hold'`
 * they are sent like the rest and wait in the session for the next rows.
 *
 * Sequence numbers. Unnamed, `seq` counts messages on this connection. With a `producer` name,
 * `seq` is the index of the message's last row in the source: the session's `producers[name]` then
 * says how many rows of the source it holds, whatever the message sizes were — which is how a
 * stream resumes (`resume`) and how it goes on after its connection dropped: it reconnects, asks
 * the session what it holds, and sends again only what it does not.
 */
import { LivegradError } from '../errors.js';
import type { DType } from '../nn/tensor.js';
import type { ConsumedMessage, AckMessage, ErrorMessage, SamplesMessage, ServerMessage, SessionInfo, SessionsMessage } from '../protocol/messages.js';
import { wireTensor } from '../protocol/tensors.js';
import { delayOf, Sleeper, type Backoff } from './backoff.js';
import type { Connection } from './connection.js';
import { isEvent } from './decode.js';
import { CONNECTION_LOST, replyError } from './errors.js';
import { RowBuffer, type RowChunk, type RowShape } from './rows.js';
import { readSource, type SourceReader, type StreamSource } from './source.js';

/** Where a stream stands, in rows of its source. */
export interface StreamProgress {
  /** Rows sent (this run; rows skipped on resume are not counted). */
  readonly sent: number;
  /** Rows the session has accepted (`ack`). */
  readonly acked: number;
  /** Rows trained (`consumed`). */
  readonly consumed: number;
  /** The step that trained the last row consumed; before any, the session's step when the stream began. */
  readonly step: number;
  /** Rows at the start of the source the session already held from this producer (`resume`): not sent. */
  readonly skipped: number;
}

export interface StreamSettings {
  readonly session: string;
  readonly producer: string | undefined;
  readonly resume: boolean;
  readonly rowsPerMessage: number | undefined;
  readonly tail: 'step' | 'hold';
  readonly reconnect: Backoff;
}

/** A samples message, kept from its sending until it is trained. */
interface Sent {
  readonly seq: number;
  /** Rows [start, end) of the source. */
  readonly start: number;
  readonly end: number;
  readonly rows: RowChunk;
  readonly step: boolean;
}

/** What a message of samples may weigh, by default: large enough that per-message costs vanish next to training (docs/protocol.md, `samples`). */
const TARGET_MESSAGE_BYTES = 128 * 1024;
/** Bytes of a samples message besides its tensors' data (keys, names, headers), at most. */
const MESSAGE_OVERHEAD = 512;
/** Characters of one number in JSON, at most ("-1.2345678901234567e-300,"). */
const JSON_NUMBER_BYTES = 25;
/** Values a frame may hold (FRAME_LIMITS: 1,048,576), less room for the rest of the message. */
const JSON_MAX_NUMBERS = 1_000_000;
/** How long after samples are refused for an ended session a server's shutdown would have closed the connection (1001). */
const SHUTDOWN_GRACE_MS = 3000;
/** How often a stream that lost the `consumed` of rows the session holds asks whether they have trained. */
const POLL_MS = 100;

export class StreamRun {
  private conn: Connection | undefined;
  private running: Promise<void> | undefined;
  /** Why the connection was lost, until the loop has dealt with it. */
  private lost: LivegradError | undefined;
  private failure: unknown;
  private stopped = false;
  private wake: () => void = () => undefined;
  private readonly sleeper = new Sleeper();

  private shape!: RowShape;
  private buffer!: RowBuffer;
  private reader: SourceReader | undefined;
  private sourceDone = false;
  private batchSize = 1;
  private rowsPerMessage = 1;
  private credits = 1;
  private format: 'msgpack' | 'json' = 'msgpack';

  /** Rows of the source to drop before sending (held by the session already). */
  private toSkip = 0;
  private skipped = 0;
  /** The source's rows sent: the index one past the last. */
  private sentEnd = 0;
  private acked = 0;
  /** Every row before this one is trained. */
  private consumedEnd = 0;
  private step = 0;
  private nextSeq = 0;
  private readonly inFlight: Sent[] = [];
  private readonly unconsumed: Sent[] = [];
  private readonly resend: Sent[] = [];
  /** Accepted messages whose `consumed` went to a connection that was lost. */
  private orphans = false;
  /** Set when samples were refused for a closing session: fails the stream unless the connection closes first. */
  private closedGrace: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly open: () => Promise<Connection>,
    private readonly source: StreamSource,
    private readonly settings: StreamSettings,
    private readonly progress: (p: StreamProgress) => void,
  ) {}

  /** Streams every row; resolves once they are trained (or, `tail: 'hold'`, all but the held rows), rejects with why not. */
  run(): Promise<void> {
    this.running ??= this.execute();
    return this.running;
  }

  /** Ends the stream now (an unsubscribe, `client.close()`), and resolves once its connection is closed: what is in flight is not waited for. */
  async close(): Promise<void> {
    this.fail(new LivegradError(CONNECTION_LOST, `Expected the stream to session "${this.settings.session}" to run to its end, got it stopped`));
    this.stopped = true;
    await Promise.all([this.conn?.close(), this.running?.catch(() => undefined)]); // its error is the Observable's
  }

  private async execute(): Promise<void> {
    try {
      await this.connect(true);
      this.report(); // where it starts: nothing sent yet, or what a resumed producer skips
      this.reader = readSource(this.source, this.shape, {
        push: (chunk) => this.read(chunk),
        end: () => {
          this.sourceDone = true;
          this.wake();
        },
        fail: (e) => this.fail(e),
        hasRoom: () => this.buffer.rows < 2 * Math.max(this.rowsPerMessage, this.batchSize),
      });
      this.reader.demand();
      await this.loop();
    } finally {
      this.reader?.stop();
      clearTimeout(this.closedGrace);
      this.sleeper.cancel(undefined);
      await this.conn?.close();
    }
  }

  private async loop(): Promise<void> {
    for (;;) {
      this.check();
      if (this.lost !== undefined) {
        await this.reconnect();
        continue;
      }
      const message = this.next();
      if (message !== undefined) {
        try {
          await this.conn!.take();
          this.check();
          this.send(message);
        } catch (e) {
          this.check();
          if (!(e instanceof LivegradError)) throw e;
          // the connection was lost before the message left: it goes again after a reconnect
          this.lost ??= e;
          if (!this.inFlight.includes(message)) this.resend.unshift(message);
        }
        continue;
      }
      if (this.finished()) return;
      if (this.orphans && this.allSent()) await this.pollOrphans();
      else await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private check(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  private fail(e: unknown): void {
    if (this.failure === undefined) this.failure = e;
    this.sleeper.cancel(e);
    this.wake();
  }

  /** Opens a connection and reads the session's state; on a reconnect, sorts what was in flight into held and to send again. */
  private async connect(first: boolean): Promise<void> {
    const conn = await this.open();
    this.conn = conn;
    try {
      this.check(); // stopped while it opened
      conn.listen((m) => this.received(conn, m));
      void conn.closed.then((reason) => {
        if (this.conn !== conn || this.stopped) return;
        clearTimeout(this.closedGrace);
        this.closedGrace = undefined;
        this.lost = reason;
        this.wake();
      });
      const reply = await conn.request<SessionsMessage>({ type: 'list' });
      const info = reply.sessions.find((s) => s.session === this.settings.session);
      if (info === undefined) throw new LivegradError('E_UNKNOWN_SESSION', `Expected an existing session, got ${JSON.stringify(this.settings.session)} (the server has ${reply.sessions.length === 0 ? 'none' : reply.sessions.map((s) => JSON.stringify(s.session)).join(', ')})`);
      // a played recording takes no rows (and gives no credits): say so rather than wait for one
      if (info.replay !== undefined) throw new LivegradError('E_NOT_LIVE', `Expected a live session to stream into, got ${JSON.stringify(this.settings.session)}, a played recording (${info.replay.path}): follow it with events(), steer it with replay()`);
      if (first) this.begin(conn, info);
      else this.resume(info);
      this.credits = info.credits;
    } catch (e) {
      this.conn = undefined; // its close is not a loss to handle
      await conn.close();
      throw e;
    }
  }

  private begin(conn: Connection, info: SessionInfo): void {
    this.shape = { dtype: info.dtype, inputSize: info.inputSize, outputSize: info.outputSize };
    this.buffer = new RowBuffer(this.shape);
    this.batchSize = info.batchSize;
    this.step = info.step;
    this.format = conn.format;
    this.rowsPerMessage = rowsPerMessage(conn, info, this.settings.rowsPerMessage, this.format);
    const { producer, resume } = this.settings;
    const held = producer === undefined ? undefined : info.producers[producer];
    if (resume && held !== undefined) {
      this.toSkip = held + 1;
      this.skipped = this.sentEnd = this.consumedEnd = held + 1;
    }
  }

  /** After a reconnect: what the session holds of what was in flight counts as accepted; the rest goes again, in order. */
  private resume(info: SessionInfo): void {
    const held = info.producers[this.settings.producer!] ?? -1;
    for (const s of this.inFlight.splice(0)) {
      if (s.seq <= held) {
        this.acked += s.end - s.start;
        this.unconsumed.push(s);
      } else this.resend.push(s);
    }
    this.resend.sort((a, b) => a.seq - b.seq);
    this.orphans = this.unconsumed.length > 0;
  }

  private async reconnect(): Promise<void> {
    const reason = this.lost!;
    this.lost = undefined;
    this.conn = undefined;
    const { producer, reconnect } = this.settings;
    if (producer === undefined || reconnect.attempts === 0) throw this.lostError(reason);
    let last: unknown = reason;
    for (let n = 1; n <= reconnect.attempts; n++) {
      await this.sleeper.wait(delayOf(reconnect, n));
      this.check();
      try {
        await this.connect(false);
        return;
      } catch (e) {
        if (!transient(e)) throw e;
        last = e;
      }
    }
    throw this.lostError(last instanceof LivegradError ? last : reason);
  }

  private lostError(reason: LivegradError): LivegradError {
    const inFlight = this.inFlight.reduce((n, s) => n + s.end - s.start, 0);
    const hint = this.settings.producer === undefined ? ' (a stream with a `producer` name reconnects and resumes)' : '';
    return new LivegradError(
      reason.code,
      `${reason.message}: streaming to session "${this.settings.session}", ${this.acked} rows accepted, ${inFlight} in flight that may or may not have been${hint}`,
      { cause: reason },
    );
  }

  private read(chunk: RowChunk): void {
    let rows = chunk;
    if (this.toSkip > 0) {
      const k = Math.min(this.toSkip, chunk.m);
      this.toSkip -= k;
      if (k === chunk.m) return;
      const nin = this.shape.inputSize, yc = Math.max(1, chunk.yCols);
      rows = { m: chunk.m - k, x: chunk.x.subarray(k * nin), y: chunk.y.subarray(k * yc), yCols: chunk.yCols };
    }
    this.buffer.push(rows);
    this.wake();
  }

  /** The next message to send, if one may go now. */
  private next(): Sent | undefined {
    if (this.inFlight.length >= this.credits) return undefined;
    const again = this.resend.shift();
    if (again !== undefined) return again;
    const rows = this.buffer.rows;
    if (rows === 0 || this.toSkip > 0) return undefined;
    const B = this.batchSize, C = this.rowsPerMessage;
    let n: number;
    let step = false;
    if (!this.sourceDone) {
      // whole batches only: the rows of a partial one would wait in the session anyway
      n = Math.min(C, Math.floor((this.sentEnd + rows) / B) * B - this.sentEnd);
      if (n <= 0) return undefined;
    } else {
      const end = this.sentEnd + rows;
      const last = this.settings.tail === 'step' ? end % B || B : end % B;
      const lastStart = Math.max(this.sentEnd, end - last);
      if (lastStart > this.sentEnd) n = Math.min(C, lastStart - this.sentEnd);
      else {
        n = Math.min(C, rows);
        step = this.settings.tail === 'step' && n === rows;
      }
    }
    const chunk = this.buffer.take(n);
    this.reader?.demand();
    const start = this.sentEnd;
    this.sentEnd += n;
    const seq = this.settings.producer === undefined ? this.nextSeq++ : this.sentEnd - 1;
    return { seq, start, end: this.sentEnd, rows: chunk, step };
  }

  private send(s: Sent): void {
    const { dtype } = this.shape;
    const m = s.rows.m;
    const message: SamplesMessage = {
      type: 'samples',
      session: this.settings.session,
      seq: s.seq,
      x: tensor(dtype, [m, this.shape.inputSize], s.rows.x),
      y: tensor(dtype, s.rows.yCols === 0 ? [m] : [m, s.rows.yCols], s.rows.y),
      ...(s.step ? { step: true } : {}),
      ...(this.settings.producer === undefined ? {} : { producer: this.settings.producer }),
    };
    this.conn!.send(message);
    this.inFlight.push(s);
    this.report();
  }

  private received(conn: Connection, m: ServerMessage): void {
    if (conn !== this.conn || isEvent(m)) return;
    if (m.type !== 'error' && (m as { session?: unknown }).session !== this.settings.session) return;
    switch (m.type) {
      case 'ack':
        this.acknowledged(m);
        break;
      case 'consumed':
        this.consumed(m);
        break;
      case 'error':
        this.refused(m as ErrorMessage);
        break;
      default:
        return; // a pong, or a message for no stream
    }
    this.wake();
  }

  private acknowledged(m: AckMessage): void {
    const i = this.inFlight.findIndex((s) => s.seq === m.seq);
    if (i < 0) return;
    const [s] = this.inFlight.splice(i, 1);
    this.acked += s!.end - s!.start;
    this.credits = m.credits;
    if (s!.end > this.consumedEnd) this.unconsumed.push(s!);
    this.report();
  }

  private consumed(m: ConsumedMessage): void {
    const s = this.unconsumed.find((u) => u.seq === m.seq) ?? this.inFlight.find((u) => u.seq === m.seq);
    if (s === undefined) return;
    // rows train in the order received: every row before this message's last is trained too
    this.consumedEnd = Math.max(this.consumedEnd, s.end);
    this.step = m.step;
    this.dropConsumed();
    this.report();
  }

  private dropConsumed(): void {
    for (let i = this.unconsumed.length - 1; i >= 0; i--) if (this.unconsumed[i]!.end <= this.consumedEnd) this.unconsumed.splice(i, 1);
    if (this.unconsumed.length === 0) this.orphans = false;
  }

  private refused(m: ErrorMessage): void {
    const s = this.inFlight.find((u) => u.seq === m.ref);
    const e = replyError(m);
    const where = s === undefined ? '' : ` (the message of rows ${s.start} to ${s.end - 1} of the stream, seq ${s.seq})`;
    const error = new LivegradError(e.code, `${e.message}${where}`, { cause: e });
    if (e.code !== 'E_SHUTTING_DOWN' || s === undefined) {
      this.fail(error);
      return;
    }
    // a server that shuts down refuses the samples it receives with E_SHUTTING_DOWN, then closes
    // the connection with 1001: the message stays in flight (a named producer sends it again after
    // the restart, if the session comes back), and the stream fails with this error only if the
    // connection is still open SHUTDOWN_GRACE_MS later.
    this.closedGrace ??= setTimeout(() => this.fail(error), SHUTDOWN_GRACE_MS);
  }

  private allSent(): boolean {
    return this.sourceDone && this.buffer.rows === 0 && this.resend.length === 0 && this.inFlight.length === 0;
  }

  /** Every row sent and accepted, and trained but the rows `tail: 'hold'` leaves waiting for more. */
  private finished(): boolean {
    if (!this.allSent()) return false;
    const mustTrain = this.settings.tail === 'step' ? this.sentEnd : this.sentEnd - (this.sentEnd % this.batchSize);
    return this.consumedEnd >= mustTrain;
  }

  /**
   * Rows the session accepted before the connection was lost were trained (or will be) in order
   * after the restart, but their `consumed` went to the lost connection: once the session has
   * nothing queued, they have trained.
   */
  private async pollOrphans(): Promise<void> {
    await this.sleeper.wait(POLL_MS);
    this.check();
    const conn = this.conn;
    if (conn === undefined) return;
    let info: SessionInfo | undefined;
    try {
      info = (await conn.request<SessionsMessage>({ type: 'list' })).sessions.find((s) => s.session === this.settings.session);
    } catch (e) {
      if (this.lost !== undefined) return; // the connection went: the loop reconnects
      throw e;
    }
    if (info === undefined) throw new LivegradError('E_UNKNOWN_SESSION', `Expected session "${this.settings.session}" to train the rows it accepted, got it gone`);
    if (info.queueDepth === 0 && this.orphans) {
      this.consumedEnd = Math.max(this.consumedEnd, ...this.unconsumed.map((s) => s.end));
      this.step = info.step;
      this.dropConsumed();
      this.report();
    }
  }

  private report(): void {
    this.progress({ sent: this.sentEnd - this.skipped - this.rowsWaiting(), acked: this.acked, consumed: this.consumedEnd - this.skipped, step: this.step, skipped: this.skipped });
  }

  /** Rows cut into messages but not on the wire now (to be sent again after a reconnect). */
  private rowsWaiting(): number {
    return this.resend.reduce((n, s) => n + s.end - s.start, 0);
  }
}

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/**
 * A tensor of rows for the wire. NOTE: on a little-endian host (every browser platform, every
 * Node) the elements' own bytes are the wire's, so they are sent as a view, not copied again
 * before the encoder copies them into the frame (a copy was a tenth of the client's CPU on W2).
 */
function tensor(dtype: DType, shape: readonly number[], data: Float32Array | Float64Array): SamplesMessage['x'] {
  if (!LITTLE_ENDIAN) return wireTensor({ dtype, shape, data });
  return { dtype, shape, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** Errors a reconnect goes on after: the server unreachable, stopping, or full for a moment. */
function transient(e: unknown): boolean {
  return e instanceof LivegradError && (e.code === CONNECTION_LOST || e.code === 'E_SHUTTING_DOWN' || e.code === 'E_CONNECTION_LIMIT');
}

/**
 * Rows per message: `wanted`, or as many as make about TARGET_MESSAGE_BYTES; never more than fit
 * the server's `maxPayload`, nor so many that `credits` messages in flight would fill half the
 * session's backlog (E_BACKLOG).
 */
function rowsPerMessage(conn: Connection, info: SessionInfo, wanted: number | undefined, format: 'msgpack' | 'json'): number {
  const numbers = info.inputSize + info.outputSize;
  const bytesPerRow = format === 'json' ? numbers * JSON_NUMBER_BYTES : numbers * (info.dtype === 'float64' ? 8 : 4);
  const { maxPayload, maxBacklogBytes } = conn.welcome.limits;
  let most = Math.floor((maxPayload - MESSAGE_OVERHEAD) / bytesPerRow);
  if (maxBacklogBytes !== undefined) most = Math.min(most, Math.floor(maxBacklogBytes / (2 * info.credits) / bytesPerRow));
  if (format === 'json') most = Math.min(most, Math.floor(JSON_MAX_NUMBERS / numbers));
  if (most < 1) throw new LivegradError('E_TOO_LARGE', `Expected a row of session "${info.session}" to fit a message of at most ${maxPayload} bytes, got rows of ${bytesPerRow} bytes`);
  if (wanted !== undefined) {
    if (wanted > most) throw new RangeError(`Expected rowsPerMessage at most ${most} (the server's maxPayload of ${maxPayload} bytes, in ${format}), got ${wanted}`);
    return wanted;
  }
  return Math.max(1, Math.min(most, Math.floor(TARGET_MESSAGE_BYTES / bytesPerRow)));
}
