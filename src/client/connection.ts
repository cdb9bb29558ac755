/**
 * One WebSocket speaking protocol v1: it waits for `welcome` and checks the version, encodes what
 * it sends (MessagePack, or JSON with `format: 'json'`), decodes what it receives, matches each
 * reply to its request by `ref`, hands every other message to its listeners, keeps under the
 * server's rate limit, and notices a server that went silent.
 *
 *   request(m) ──id──▶ server ──reply {ref}──▶ resolves (an `error` reply rejects)
 *   server ──ack / consumed / events / errors without a request──▶ listeners
 *   close, drop, silence ──▶ `closed` resolves with the LivegradError saying why; requests waiting reject with it
 */
import { LivegradError } from '../errors.js';
import { encodeJSON, encodeMsgpack, type Format } from '../protocol/codec.js';
import type { ClientMessage, ServerMessage, WelcomeMessage } from '../protocol/messages.js';
import { PROTOCOL_VERSION } from '../protocol/version.js';
import { decodeMessage } from './decode.js';
import { CONNECTION_LOST, closeError, replyError } from './errors.js';
import { RateGate } from './rate-gate.js';
import { createSocket, OPEN, resolveWebSocket, terminate, withQuery, type SocketCloseEvent, type SocketLike, type SocketMessageEvent, type WebSocketConstructor } from './websocket.js';

export interface ConnectionOptions {
  /** `ws://host:port/ws` */
  readonly url: string;
  readonly token: string | undefined;
  readonly WebSocket: WebSocketConstructor | undefined;
  readonly format: Format;
}

/** `welcome`: the protocol version, this connection's permissions, and the server's limits. */
export type Welcome = WelcomeMessage;

/** A request: any client message but `samples` (sent with `send`), without its `id` (the connection sets it). */
export type Request = DistributiveOmit<Exclude<ClientMessage, { type: 'samples' }>, 'id'>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

type Listener = (m: ServerMessage) => void;

/** The client's share of the server's message rate: a margin under it, for timing jitter. */
const RATE_SHARE = 0.8;
/** Ms the client waits for the closing handshake before it drops the socket. */
const CLOSE_WAIT_MS = 1000;

export class Connection {
  /** The server's `welcome`: permissions and limits. */
  welcome!: Welcome;
  /** Resolves once the connection has closed, with why (never rejects). */
  readonly closed: Promise<LivegradError>;
  private settle!: (reason: LivegradError) => void;
  private ended: LivegradError | undefined;
  private closing = false;
  private readonly listeners = new Set<Listener>();
  private readonly pending = new Map<string, { resolve: (m: ServerMessage) => void; reject: (e: LivegradError) => void }>();
  private welcomed: { resolve: (m: Welcome) => void; reject: (e: LivegradError) => void } | undefined;
  private nextId = 1;
  private gate: RateGate | undefined;
  private watchdog: ReturnType<typeof setInterval> | undefined;
  private closeTimer: ReturnType<typeof setTimeout> | undefined;
  private lastHeard = performance.now();

  private constructor(
    private readonly socket: SocketLike,
    /** The URL as given (without the token), for messages. */
    readonly url: string,
    readonly format: Format,
  ) {
    this.closed = new Promise((resolve) => (this.settle = resolve));
    socket.addEventListener('message', (e: SocketMessageEvent) => this.received(e.data));
    socket.addEventListener('close', (e: SocketCloseEvent) => this.end(this.closing ? clientClosed(url) : closeError(url, e.code, e.reason)));
  }

  /**
   * Opens a connection and resolves once the server's `welcome` has arrived; rejects with the
   * refusal (E_UNAUTHORIZED, E_ORIGIN, …), the failure, or E_PROTOCOL for another protocol version.
   */
  static async open(options: ConnectionOptions): Promise<Connection> {
    const resolved = await resolveWebSocket(options.WebSocket);
    const url = options.format === 'json' ? withQuery(options.url, 'format', 'json') : options.url;
    const { socket, opened } = createSocket(resolved, url, options.token);
    const conn = new Connection(socket, options.url, options.format);
    const welcome = new Promise<Welcome>((resolve, reject) => (conn.welcomed = { resolve, reject }));
    // NOTE: awaited once open; a failure before that is the one `opened` reports
    welcome.catch(() => undefined);
    try {
      await opened;
      conn.welcome = await welcome;
    } catch (e) {
      conn.end(e instanceof LivegradError ? e : new LivegradError(CONNECTION_LOST, String(e), { cause: e }));
      terminate(socket);
      throw e;
    }
    if (conn.welcome.protocol !== PROTOCOL_VERSION) {
      const e = new LivegradError('E_PROTOCOL', `Expected a server speaking protocol ${PROTOCOL_VERSION}, got ${JSON.stringify(conn.welcome.protocol)} from ${options.url}`);
      conn.end(e);
      terminate(socket);
      throw e;
    }
    conn.start();
    return conn;
  }

  /** True until the connection has closed or is closing. */
  get isOpen(): boolean {
    return this.ended === undefined && !this.closing && this.socket.readyState === OPEN;
  }

  /** Calls `listener` with every message that answers no request of `request()`; returns the way to stop. */
  listen(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Sends a request with a fresh id; resolves with its reply, rejects with its `error` reply or the close. */
  async request<R extends ServerMessage>(message: Request): Promise<R> {
    await this.take();
    const id = `c${this.nextId++}`;
    return new Promise<R>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (m: ServerMessage) => void, reject });
      this.send({ ...message, id } as ClientMessage);
    });
  }

  /** Resolves when one more message keeps within the server's rate; rejects once the connection has closed. */
  take(): Promise<void> {
    if (this.ended !== undefined) return Promise.reject(this.ended);
    return this.gate!.take();
  }

  /** Sends a message now (after `take()`); throws the close's error once closed. */
  send(message: ClientMessage): void {
    if (this.ended !== undefined) throw this.ended;
    if (this.socket.readyState !== OPEN) throw new LivegradError(CONNECTION_LOST, `Expected the connection to ${this.url} to be open, got it closing`);
    this.socket.send(this.format === 'json' ? encodeJSON(message) : encodeMsgpack(message));
  }

  /** Closes with 1000 (dropping the socket after a second without the closing handshake) and resolves once closed. */
  async close(): Promise<void> {
    if (this.ended === undefined && !this.closing) {
      this.closing = true;
      this.socket.close(1000, 'client closed');
      this.closeTimer = setTimeout(() => {
        terminate(this.socket);
        this.end(clientClosed(this.url));
      }, CLOSE_WAIT_MS);
    }
    await this.closed;
  }

  /** Ends the connection now, as lost with `reason` (what a caller that gave up on it does). */
  drop(reason: LivegradError): void {
    terminate(this.socket);
    this.end(reason);
  }

  private start(): void {
    const { messagesPerSecond, burst } = this.welcome.limits;
    this.gate = new RateGate(messagesPerSecond * RATE_SHARE, Math.max(1, Math.floor(burst * RATE_SHARE)));
    // a `ping` after a quiet heartbeat interval; a server that answers nothing for three is gone
    // (browsers cannot see the server's WebSocket pings, so the client asks with messages)
    const every = Math.max(50, this.welcome.heartbeatMs);
    this.watchdog = setInterval(() => {
      const quiet = performance.now() - this.lastHeard;
      if (quiet >= 3 * every) this.drop(new LivegradError(CONNECTION_LOST, `Expected an answer from ${this.url} within ${3 * every} ms, got nothing for ${Math.round(quiet)} ms`));
      else if (quiet >= every && this.socket.readyState === OPEN) this.socket.send(this.format === 'json' ? encodeJSON({ type: 'ping' }) : encodeMsgpack({ type: 'ping' }));
    }, every);
  }

  private received(data: unknown): void {
    this.lastHeard = performance.now();
    let m: ServerMessage;
    try {
      m = decodeMessage(data);
    } catch (e) {
      this.drop(e as LivegradError); // the server broke the protocol: nothing after it can be trusted
      return;
    }
    if (this.welcomed !== undefined) {
      const w = this.welcomed;
      this.welcomed = undefined;
      if (m.type === 'welcome') w.resolve(m as Welcome);
      else w.reject(new LivegradError('E_PROTOCOL', `Expected welcome first from ${this.url}, got ${m.type}`));
      return;
    }
    const ref = (m as { ref?: unknown }).ref;
    const waiting = typeof ref === 'string' ? this.pending.get(ref) : undefined;
    if (waiting !== undefined) {
      this.pending.delete(ref as string);
      if (m.type === 'error') waiting.reject(replyError(m));
      else waiting.resolve(m);
      return;
    }
    for (const f of this.listeners) f(m);
  }

  private end(reason: LivegradError): void {
    if (this.ended !== undefined) return;
    this.ended = reason;
    clearInterval(this.watchdog);
    clearTimeout(this.closeTimer);
    this.gate?.close(reason);
    this.welcomed?.reject(reason);
    this.welcomed = undefined;
    for (const w of this.pending.values()) w.reject(reason);
    this.pending.clear();
    this.settle(reason);
  }
}

function clientClosed(url: string): LivegradError {
  return new LivegradError(CONNECTION_LOST, `Expected the connection to ${url} to stay open, got it closed by the client`);
}
