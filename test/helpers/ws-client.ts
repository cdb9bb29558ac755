/**
 * A test client over a real `ws` WebSocket: sends messages as MessagePack or JSON, decodes every
 * binary frame it receives with the strict decoder (so every test also checks that the wire is
 * plain MessagePack), and waits for messages by predicate.
 */
import { pack } from 'msgpackr';
import { WebSocket } from 'ws';
import { strictDecode } from './msgpack-strict.js';

// biome-ignore lint: test messages are dynamic
export type Msg = Record<string, any>;

export interface ConnectOptions {
  readonly token?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly query?: string;
  /** Keep every message in `messages` (default true); when false only listeners and waiters see them. */
  readonly store?: boolean;
}

export class TestClient {
  readonly messages: Msg[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: { pred: (m: Msg) => boolean; from: number; resolve: (m: Msg) => void }[] = [];
  private readonly listeners: ((m: Msg) => void)[] = [];
  private nextId = 1;

  private constructor(readonly ws: WebSocket, store: boolean) {
    ws.on('message', (data: Buffer, binary: boolean) => {
      const m = (binary ? strictDecode(data) : JSON.parse(data.toString('utf8'))) as Msg;
      if (store) this.messages.push(m);
      for (const f of this.listeners) f(m);
      const i = store ? this.messages.length - 1 : Infinity;
      this.waiters = this.waiters.filter((w) => {
        if (i >= w.from && w.pred(m)) {
          w.resolve(m);
          return false;
        }
        return true;
      });
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('error', () => undefined);
  }

  static connect(url: string, options: ConnectOptions = {}): Promise<TestClient> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
    const ws = new WebSocket(`${url}${options.query ?? ''}`, { headers, perMessageDeflate: false });
    const client = new TestClient(ws, options.store ?? true);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}: ${body}`), { status: res.statusCode, body })));
      });
      ws.once('error', reject);
    });
  }

  /** Calls `f` with every message received from now on. */
  listen(f: (m: Msg) => void): void {
    this.listeners.push(f);
  }

  send(message: object, format: 'msgpack' | 'json' = 'msgpack'): void {
    this.ws.send(format === 'msgpack' ? pack(message) : JSON.stringify(message));
  }

  sendRaw(data: Buffer | string): void {
    this.ws.send(data);
  }

  /** The first message at index ≥ from (default: any received so far) matching `pred`. */
  waitFor(pred: (m: Msg) => boolean, options: { from?: number; timeoutMs?: number } = {}): Promise<Msg> {
    const from = options.from ?? 0;
    for (let i = from; i < this.messages.length; i++) if (pred(this.messages[i]!)) return Promise.resolve(this.messages[i]!);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const last = this.messages.slice(-3).map((m) => JSON.stringify(m, (_k, v: unknown) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v)).slice(0, 300));
        reject(new Error(`Timed out waiting for a message; last received: ${last.join(' | ')}`));
      }, options.timeoutMs ?? 5000);
      this.waiters.push({
        pred,
        from,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }

  /** Sends a request with a fresh id and resolves with its reply (success or error). */
  request(message: Msg, format: 'msgpack' | 'json' = 'msgpack'): Promise<Msg> {
    const id = `r${this.nextId++}`;
    this.send({ ...message, id }, format);
    return this.waitFor((m) => m['ref'] === id);
  }

  /** Like request, but fails unless the reply is not an error. */
  async ok(message: Msg, format: 'msgpack' | 'json' = 'msgpack'): Promise<Msg> {
    const reply = await this.request(message, format);
    if (reply['type'] === 'error') throw new Error(`${String(message['type'])} failed: ${String(reply['code'])} ${String(reply['message'])}`);
    return reply;
  }

  of(type: string, session?: string): Msg[] {
    return this.messages.filter((m) => m['type'] === type && (session === undefined || m['session'] === session));
  }

  close(): Promise<{ code: number; reason: string }> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
    return this.closed;
  }

  terminate(): void {
    this.ws.terminate();
  }
}

/** A float32 tensor in wire form (little-endian bytes). */
export function f32(shape: readonly number[], values: ArrayLike<number>): { dtype: 'float32'; shape: number[]; data: Uint8Array } {
  const a = Float32Array.from(values);
  return { dtype: 'float32', shape: [...shape], data: new Uint8Array(a.buffer) };
}

/** Reads a wire tensor's data back as numbers. */
export function numbers(t: Msg): number[] {
  const copy = new Uint8Array(t['data'] as Uint8Array);
  return Array.from(t['dtype'] === 'float64' ? new Float64Array(copy.buffer) : new Float32Array(copy.buffer));
}
