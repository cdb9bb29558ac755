/**
 * One WebSocket connection: the message rate limit, decoding and validation, permission checks,
 * error replies, the outbox every message leaves through, and the connection's state per session
 * (its subscription, and as a producer its credits and last sequence number).
 *
 * Bad input gets an `error` reply and the connection goes on. Only protocol faults close it:
 *
 *   1009  E_TOO_LARGE      a message over maxPayload (detected by ws)
 *   1007  E_BAD_UTF8       a text frame that is not UTF-8 (detected by ws)
 *   1002  E_PROTOCOL       a broken WebSocket frame (detected by ws)
 *   1008  E_RATE_LIMIT     a flood: over the message rate for a whole second, by more than the rate itself
 *   1013  E_SLOW_CONSUMER  the outbox stayed over its budget
 *   1001  E_SHUTTING_DOWN  the server is stopping
 */
import type { Duplex } from 'node:stream';
import type { RawData } from 'ws';
import { WebSocket } from 'ws';
import { LivegradError, type ErrorCode } from '../errors.js';
import { decodeFrame, encode, type Format } from '../protocol/codec.js';
import type { ClientMessage, MessageId, Permissions } from '../protocol/messages.js';
import { PROTOCOL_VERSION } from '../protocol/version.js';
import { parseClientMessage, refOf, sessionOf } from '../protocol/validate.js';
import { NEEDS } from './auth.js';
import type { Logger } from './log.js';
import { countError, type Counters } from './metrics.js';
import { Outbox, type OutboxOptions } from './outbox.js';
import { TokenBucket } from './rate-limit.js';
import type { Producer } from './session.js';
import { closeReason, type LivegradSocket } from './socket.js';
import type { Subscription, SubscriberTarget } from './subscriber.js';

export interface ConnectionOptions {
  readonly outbox: OutboxOptions;
  readonly messagesPerSecond: number;
  readonly burst: number;
  readonly maxPayload: number;
  readonly heartbeatMs: number;
  readonly serverName: string;
  /** Told in `welcome`: how many sessions the server holds, how long an unattended one lives, the backlog each may have. */
  readonly sessionLimits: { readonly maxSessions: number; readonly sessionIdleMs: number; readonly maxBacklogMessages: number; readonly maxBacklogBytes: number };
}

/**
 * What handles a connection's valid messages (the hub). A message's bins are views of the frame
 * it was decoded from, which nothing reads afterwards: the handler may adopt them (`adoptTensor`).
 * `frame` is the frame's ArrayBuffer when the frame fills it alone (a frame ws assembled from
 * several reads, not a slice of a read or of Node's pool): the handler may transfer it.
 */
export interface MessageHandler {
  handle(conn: Connection, message: ClientMessage, format: Format, frame: ArrayBuffer | undefined): void;
  disconnected(conn: Connection): void;
}

interface ProducerState {
  inFlight: number;
  lastSeq: number;
  credits: number;
  format: Format;
}

const FAULTS: Readonly<Record<number, { code: ErrorCode; message: (o: ConnectionOptions) => string }>> = {
  1009: { code: 'E_TOO_LARGE', message: (o) => `Expected a message of at most ${o.maxPayload} bytes, got a larger one` },
  1007: { code: 'E_BAD_UTF8', message: () => 'Expected a text frame of valid UTF-8, got invalid bytes' },
  1002: { code: 'E_PROTOCOL', message: () => 'Expected valid WebSocket frames, got a protocol violation' },
};

function bytesOf(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

export class Connection implements SubscriberTarget, Producer {
  /** Format of events (set by the last `subscribe`) and of messages not answering a request. */
  format: Format;
  readonly outbox: Outbox;
  readonly subscriptions = new Map<string, Subscription>();
  private readonly producing = new Map<string, ProducerState>();
  private readonly bucket: TokenBucket;
  private alive = true;
  private closed = false;
  private floodWindow = -Infinity;
  private floodDrops = 0;
  private lastFloodReply = -Infinity;

  constructor(
    readonly id: number,
    private readonly socket: LivegradSocket,
    raw: Duplex,
    readonly permissions: Permissions,
    format: Format,
    private readonly options: ConnectionOptions,
    private readonly handler: MessageHandler,
    private readonly counters: Counters,
    private readonly log: Logger,
  ) {
    this.format = format;
    this.bucket = new TokenBucket(options.messagesPerSecond, options.burst);
    const sink = {
      get bufferedAmount() {
        return socket.bufferedAmount;
      },
      send(data: Buffer | string, cb?: (err?: Error) => void) {
        if (socket.readyState === WebSocket.OPEN) socket.send(data, cb);
        else cb?.(new Error('socket not open'));
      },
      // the TCP socket under the WebSocket (the one the HTTP upgrade handed over)
      cork: () => raw.cork(),
      uncork: () => raw.uncork(),
    };
    this.outbox = new Outbox(sink, options.outbox, (reason) => {
      counters.slowClosed++;
      countError(counters, 'E_SLOW_CONSUMER');
      this.log.warn('slow consumer closed', { connection: id, reason });
      this.close(1013, reason);
    }, counters);
    socket.onFault = (code) => this.onFault(code);
    socket.on('message', (data, isBinary) => this.onMessage(bytesOf(data), isBinary));
    socket.on('pong', () => {
      this.alive = true;
    });
    socket.on('error', (err) => this.log.debug('socket error', { connection: id, error: err.message }));
    socket.on('close', (code, reason) => this.onClose(code, reason.toString()));
    this.reply({
      type: 'welcome',
      protocol: PROTOCOL_VERSION,
      server: options.serverName,
      permissions,
      limits: { maxPayload: options.maxPayload, messagesPerSecond: options.messagesPerSecond, burst: options.burst, ...options.sessionLimits },
      heartbeatMs: options.heartbeatMs,
    });
  }

  get isOpen(): boolean {
    return !this.closed && this.socket.readyState === WebSocket.OPEN;
  }

  /** Bytes buffered for this connection: outbox and socket. */
  get bufferedBytes(): number {
    return this.outbox.bytes + this.socket.bufferedAmount;
  }

  private onMessage(data: Buffer, binary: boolean): void {
    if (this.closed) return;
    this.counters.messagesIn++;
    this.counters.bytesIn += data.length;
    if (!this.bucket.take()) {
      this.flooded();
      return;
    }
    const format: Format = binary ? 'msgpack' : 'json';
    let raw: unknown;
    let message: ClientMessage;
    try {
      raw = decodeFrame(data, binary);
      message = parseClientMessage(raw);
    } catch (e) {
      this.fail(e, refOf(raw), format, sessionOf(raw));
      return;
    }
    const need = NEEDS[message.type];
    if (need !== undefined && !this.permissions[need]) {
      const token = need === 'produce' ? 'the producer token' : 'the read or producer token';
      this.fail(new LivegradError('E_FORBIDDEN', `Expected ${token} for ${message.type}, got a connection without it`), refOf(raw), format, sessionOf(raw));
      return;
    }
    try {
      const frame = binary && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer ? data.buffer : undefined;
      this.handler.handle(this, message, format, frame);
    } catch (e) {
      this.fail(e, refOf(raw), format, sessionOf(raw));
    }
  }

  private flooded(): void {
    this.counters.flooded++;
    const now = performance.now();
    if (now - this.floodWindow > 1000) {
      this.floodWindow = now;
      this.floodDrops = 0;
    }
    this.floodDrops++;
    const limit = `${this.options.messagesPerSecond} messages per second (burst ${this.options.burst})`;
    if (this.floodDrops > this.options.messagesPerSecond) {
      this.fault(1008, 'E_RATE_LIMIT', `Expected at most ${limit}, got a sustained flood`);
    } else if (now - this.lastFloodReply >= 1000) {
      this.lastFloodReply = now;
      this.fail(new LivegradError('E_RATE_LIMIT', `Expected at most ${limit}, got more: messages are being dropped`), null, this.format);
    }
  }

  /** Queues a message in the lossless lane. */
  reply(message: object, format: Format = this.format): void {
    this.outbox.pushLossless(encode(message, format));
  }

  /** Replies with an error; a LivegradError keeps its code, anything else is E_INTERNAL (and logged). */
  fail(e: unknown, ref: MessageId | null, format: Format, session?: string): void {
    let code: string;
    let message: string;
    if (e instanceof LivegradError) {
      code = e.code;
      message = e.message;
    } else {
      code = 'E_INTERNAL';
      message = `Internal error handling the message: ${e instanceof Error ? e.message : String(e)}`;
      this.log.error('internal error', { connection: this.id, error: e instanceof Error ? e.stack : String(e) });
    }
    countError(this.counters, code);
    this.reply({ type: 'error', ref, code, message, ...(session === undefined ? {} : { session }) }, format);
  }

  /** A protocol fault: the error message, then close with `code` and a reason naming the error. */
  fault(code: number, errorCode: ErrorCode, message: string): void {
    if (this.closed) return;
    countError(this.counters, errorCode);
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(encode({ type: 'error', ref: null, code: errorCode, message }, this.format));
    this.close(code, `${errorCode}: ${message}`);
  }

  private onFault(code: number): string | undefined {
    const f = FAULTS[code];
    if (!f) return undefined;
    const message = f.message(this.options);
    countError(this.counters, f.code);
    this.closed = true;
    this.outbox.close();
    this.socket.send(encode({ type: 'error', ref: null, code: f.code, message }, this.format));
    return closeReason(`${f.code}: ${message}`);
  }

  // Producer: what the session tells about a producer's messages

  /** Credit and sequence state of this connection as a producer to `session`, created on first use. */
  producer(session: string, credits: number, format: Format): ProducerState {
    let s = this.producing.get(session);
    if (!s) {
      s = { inFlight: 0, lastSeq: -1, credits, format };
      this.producing.set(session, s);
    }
    s.format = format;
    return s;
  }

  accepted(session: string, seq: number, rows: number): void {
    const s = this.producing.get(session);
    if (!s) return;
    s.inFlight--;
    this.reply({ type: 'ack', session, seq, rows, credits: s.credits }, s.format);
  }

  consumed(session: string, seq: number, step: number): void {
    const s = this.producing.get(session);
    this.reply({ type: 'consumed', session, seq, step }, s?.format ?? this.format);
  }

  rejected(session: string, seq: number, error: LivegradError): void {
    const s = this.producing.get(session);
    if (s) s.inFlight--;
    this.fail(error, seq, s?.format ?? this.format, session);
  }

  /** The session ended: drop this connection's state for it. */
  forget(session: string): void {
    this.subscriptions.get(session)?.close();
    this.subscriptions.delete(session);
    this.producing.delete(session);
  }

  /** Called every heartbeat interval: terminates a peer that did not answer the last ping. */
  heartbeat(): void {
    if (this.closed) return;
    if (!this.alive) {
      this.log.info('peer missed a pong, terminating', { connection: this.id });
      this.socket.terminate();
      return;
    }
    this.alive = false;
    this.socket.ping();
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.outbox.close();
    for (const sub of this.subscriptions.values()) sub.close();
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) this.socket.close(code, closeReason(reason));
  }

  /** Resolves once the outbox and the socket's buffer are empty, or after `timeoutMs`. */
  async flushed(timeoutMs: number): Promise<void> {
    const end = performance.now() + timeoutMs;
    while (this.isOpen && (!this.outbox.empty || this.socket.bufferedAmount > 0) && performance.now() < end) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Resolves when the socket has closed (terminating it after `timeoutMs`). */
  closedSocket(timeoutMs: number): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.socket.terminate(), timeoutMs);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private onClose(code: number, reason: string): void {
    this.closed = true;
    this.outbox.close();
    for (const sub of this.subscriptions.values()) sub.close();
    this.log.debug('connection closed', { connection: this.id, code, reason });
    this.handler.disconnected(this);
    this.subscriptions.clear();
    this.producing.clear();
  }
}
