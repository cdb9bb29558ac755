/**
 * `connect(url, options)`: a client of a livegrad server, in Node or a browser. One connection
 * for requests (`sessions`, `create`, and a session's `control`, `predict`, `snapshot`, `close`),
 * opened again by the next request if it dropped; each stream and each subscription has one of
 * its own, so that a slow subscriber, a reconnect or a stream's credits concern no one else.
 */
import { LivegradError, describe } from '../errors.js';
import type { CreatedMessage, SessionInfo, SessionsMessage } from '../protocol/messages.js';
import { SESSION_NAME } from '../protocol/validate.js';
import type { Closable, ClientCore } from './core.js';
import { Connection, type ConnectionOptions, type Request, type Welcome } from './connection.js';
import { CONNECTION_LOST } from './errors.js';
import { SessionHandle, type Session } from './session.js';
import type { ConnectOptions, CreateConfig, CreatedSession } from './types.js';
import { createMessage } from './wire.js';
import type { ServerMessage } from '../protocol/messages.js';

export interface LivegradClient {
  /** The server's URL, as given. */
  readonly url: string;
  /** The server's `welcome` on the first connection: its protocol, what the token allows, its limits. */
  readonly welcome: Welcome;

  /**
   * Every session on the server, as `list` reports them.
   *
   * @example
   *   for (const s of await client.sessions()) console.log(s.session, s.step, s.loss);
   */
  sessions(): Promise<readonly SessionInfo[]>;

  /**
   * Creates a session and resolves once it is running (its training thread is up), with what it
   * is: its step and samples (a resumed one's), sizes, parameters, credits. Rejects with the
   * server's error: E_SESSION_EXISTS, E_BAD_MODEL, E_BAD_CONFIG, … (or at once with the protocol's
   * own check: E_BAD_FIELD naming the field).
   *
   * @example
   *   await client.create({
   *     session: 'xor',
   *     model: { inputSize: 2, layers: [{ units: 8, activation: 'tanh' }, { units: 2, activation: 'softmax' }], seed: 1 },
   *     loss: 'crossEntropy',
   *     optimizer: { kind: 'sgd', lr: 0.5 },
   *     batchSize: 4,
   *   });
   */
  create(config: CreateConfig): Promise<CreatedSession>;

  /**
   * A handle on the session `name` (it need not exist yet: requests to one that does not are
   * E_UNKNOWN_SESSION).
   *
   * @example
   *   const xor = client.session('xor');
   */
  session(name: string): Session;

  /**
   * Closes every connection: requests waiting reject, streams error, subscriptions complete.
   * Leaves no timer and no socket behind. Idempotent.
   *
   * @example
   *   await client.close();
   */
  close(): Promise<void>;
}

/**
 * Connects to a livegrad server and resolves once it has said `welcome`. Uses the platform's
 * WebSocket (browsers), else the `ws` package (Node 20), or the class given.
 *
 * Rejects with a LivegradError: the server's refusal (E_UNAUTHORIZED for a wrong token,
 * E_ORIGIN, E_NOT_FOUND for a path other than `/ws`, E_CONNECTION_LIMIT, E_SHUTTING_DOWN), or
 * a server that cannot be reached; a bad URL or option throws TypeError.
 *
 * @param url      `ws://host:port/ws` (or `wss://`)
 * @param options  a token, a WebSocket class, the format
 * @example
 *   import { connect } from 'livegrad/client';
 *   const client = await connect('ws://127.0.0.1:8080/ws', { token: process.env.LIVEGRAD_TOKEN });
 *   console.log(await client.sessions());
 *   await client.close();
 */
export async function connect(url: string, options: ConnectOptions = {}): Promise<LivegradClient> {
  const client = new Client(checkOptions(url, options));
  await client.start();
  return client;
}

function checkOptions(url: string, options: ConnectOptions): ConnectionOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError(`Expected connect options, got ${describe(options)}`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (e) {
    throw new TypeError(`Expected a WebSocket URL like ws://127.0.0.1:8080/ws, got ${describe(url)}`, { cause: e });
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') throw new TypeError(`Expected a ws: or wss: URL, got ${describe(url)}`);
  const { token, WebSocket, format = 'msgpack' } = options;
  if (token !== undefined && typeof token !== 'string') throw new TypeError(`Expected token to be a string, got ${describe(token)}`);
  if (WebSocket !== undefined && typeof WebSocket !== 'function') throw new TypeError(`Expected WebSocket to be a WebSocket class, got ${describe(WebSocket)}`);
  if (format !== 'msgpack' && format !== 'json') throw new TypeError(`Expected format "msgpack" or "json", got ${describe(format)}`);
  return { url, token: token === '' ? undefined : token, WebSocket, format };
}

class Client implements LivegradClient, ClientCore {
  welcome!: Welcome;
  private main: Connection | undefined;
  private opening: Promise<Connection> | undefined;
  /** Connections being opened and not yet handed to their owner (closed with the client). */
  private readonly pendingOpens = new Set<Promise<Connection>>();
  private readonly running = new Set<Closable>();
  private closed = false;

  constructor(private readonly options: ConnectionOptions) {}

  get url(): string {
    return this.options.url;
  }

  async start(): Promise<void> {
    this.main = await Connection.open(this.options);
    this.welcome = this.main.welcome;
  }

  async sessions(): Promise<readonly SessionInfo[]> {
    return (await this.request<SessionsMessage>({ type: 'list' })).sessions;
  }

  async create(config: CreateConfig): Promise<CreatedSession> {
    const { type: _type, ref: _ref, ...created } = await this.request<CreatedMessage>(createMessage(config));
    return created;
  }

  session(name: string): Session {
    if (typeof name !== 'string' || !SESSION_NAME.test(name)) throw new TypeError(`Expected a session name of 1 to 64 of A-Z a-z 0-9 _ . : -, got ${describe(name)}`);
    return new SessionHandle(name, this);
  }

  async request<R extends ServerMessage>(message: Request): Promise<R> {
    const conn = await this.mainConnection();
    return conn.request<R>(message);
  }

  open(): Promise<Connection> {
    if (this.closed) return Promise.reject(closedClient(this.url));
    const opening = Connection.open(this.options).then(async (conn) => {
      this.pendingOpens.delete(opening);
      if (this.closed) {
        await conn.close();
        throw closedClient(this.url);
      }
      return conn;
    });
    this.pendingOpens.add(opening);
    opening.catch(() => this.pendingOpens.delete(opening));
    return opening;
  }

  track(c: Closable): () => void {
    if (this.closed) throw closedClient(this.url);
    this.running.add(c);
    return () => this.running.delete(c);
  }

  async close(): Promise<void> {
    this.closed = true;
    const opening = [...this.pendingOpens, ...(this.opening === undefined ? [] : [this.opening])];
    await Promise.all([
      ...[...this.running].map((r) => r.close()),
      this.main?.close(),
      // a connection still opening is closed as it opens; one that fails to open needs nothing
      ...opening.map((p) => p.then((c) => c.close(), () => undefined)),
    ]);
  }

  /** The request connection: the open one, or a new one when it dropped. */
  private mainConnection(): Promise<Connection> {
    if (this.closed) return Promise.reject(closedClient(this.url));
    if (this.main?.isOpen === true) return Promise.resolve(this.main);
    this.opening ??= this.open().then(
      (conn) => {
        this.main = conn;
        this.opening = undefined;
        return conn;
      },
      (e: unknown) => {
        this.opening = undefined;
        throw e;
      },
    );
    return this.opening;
  }
}

function closedClient(url: string): LivegradError {
  return new LivegradError(CONNECTION_LOST, `Expected an open client of ${url}, got one closed (client.close())`);
}
