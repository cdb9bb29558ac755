/**
 * The demo's producer: a WebSocket client that speaks protocol v1 (MessagePack binary frames),
 * creates a session, and streams a data set at a steady pace within its credits, the way any
 * producer in any language would (docs/protocol.md).
 */
import { pack, unpack } from 'msgpackr';
import { WebSocket } from 'ws';
import { floatsToBytes, rng, type Dataset } from '../../src/index.js';

type Message = Record<string, unknown>;

export interface StreamOptions {
  /** Passes over the data. */
  readonly epochs: number;
  /** Rows per `samples` message. */
  readonly rows: number;
  /** Messages per second. */
  readonly rate: number;
  readonly seed: number;
  /** Called after each epoch is sent. */
  readonly onEpoch?: (epoch: number) => void;
}

/** A float32 tensor on the wire: little-endian bytes. */
function wire(data: Float32Array, shape: readonly number[]): Message {
  return { dtype: 'float32', shape, data: floatsToBytes(data) };
}

export class Producer {
  private readonly ws: WebSocket;
  private readonly waiting = new Map<string | number, { resolve: (m: Message) => void; reject: (e: Error) => void }>();
  /** Per session: its window of credits and the samples messages in flight (sent, not yet answered). */
  private readonly windows = new Map<string, { credits: number; inFlight: number }>();
  private seq = 0;
  /** Streams waiting for a credit: all woken by every ack or refusal (each checks its own session). */
  private readonly waking = new Set<() => void>();
  private closed = false;
  /** Training events of the sessions this connection subscribed to. */
  onEvent: ((event: Message) => void) | undefined;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data: Buffer) => this.onMessage(unpack(data) as Message));
    ws.on('close', () => {
      this.closed = true;
      this.wakeAll();
      for (const w of this.waiting.values()) w.reject(new Error('connection closed'));
    });
  }

  private wakeAll(): void {
    for (const wake of [...this.waking]) wake();
  }

  static connect(url: string, token?: string): Promise<Producer> {
    const ws = new WebSocket(url, { perMessageDeflate: false, headers: token ? { authorization: `Bearer ${token}` } : {} });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new Producer(ws)));
      ws.once('error', reject);
    });
  }

  private onMessage(m: Message): void {
    if (typeof m['step'] === 'number' && typeof m['session'] === 'string' && 'time' in m) {
      this.onEvent?.(m);
      return;
    }
    const ref = m['ref'] as string | number | null | undefined;
    if (m['type'] === 'ack') {
      const w = this.windows.get(m['session'] as string);
      if (w) {
        w.inFlight--;
        w.credits = m['credits'] as number;
      }
      this.wakeAll();
    } else if (m['type'] === 'error' && typeof m['code'] === 'string' && ref !== null && ref !== undefined && !this.waiting.has(ref)) {
      // a refused samples message (its ref is the seq): it is no longer in flight
      const w = this.windows.get(m['session'] as string);
      if (w) w.inFlight--;
      console.error(`demo producer: ${m['code']}: ${m['message']}`);
      this.wakeAll();
    }
    if (ref !== null && ref !== undefined) {
      const w = this.waiting.get(ref);
      if (w) {
        this.waiting.delete(ref);
        if (m['type'] === 'error') w.reject(new Error(`${m['code']}: ${m['message']}`));
        else w.resolve(m);
      }
    }
  }

  /** Sends a request with an id and resolves with its reply (rejects on an `error` reply). */
  request(message: Message): Promise<Message> {
    const id = `r${++this.seq}`;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.ws.send(pack({ ...message, id }));
    });
  }

  async create(session: Message): Promise<Message> {
    const created = await this.request({ type: 'create', ...session });
    this.windows.set(created['session'] as string, { credits: created['credits'] as number, inFlight: 0 });
    return created;
  }

  /** Streams `data` to `session`: shuffled each epoch, `rows` per message, at most `rate` messages a second. */
  async stream(session: string, data: Dataset, o: StreamOptions): Promise<void> {
    const n = data.x.shape[0]!, nin = data.x.shape[1]!;
    const labels = data.y.shape.length === 1;
    const nout = labels ? 1 : data.y.shape[1]!;
    const random = rng(o.seed);
    const order = Int32Array.from({ length: n }, (_, i) => i);
    const interval = 1000 / o.rate;
    let next = performance.now();
    for (let epoch = 1; epoch <= o.epochs && !this.closed; epoch++) {
      random.shuffle(order);
      for (let s = 0; s < n && !this.closed; s += o.rows) {
        const m = Math.min(o.rows, n - s);
        const x = new Float32Array(m * nin), y = new Float32Array(m * nout);
        for (let r = 0; r < m; r++) {
          const i = order[s + r]!;
          x.set(data.x.data.subarray(i * nin, (i + 1) * nin), r * nin);
          y.set(data.y.data.subarray(i * nout, (i + 1) * nout), r * nout);
        }
        const w = this.windows.get(session);
        if (!w) throw new Error(`Expected a session created by this producer, got ${JSON.stringify(session)}`);
        while (w.inFlight >= w.credits && !this.closed) {
          await new Promise<void>((resolve) => {
            const wake = (): void => {
              this.waking.delete(wake);
              resolve();
            };
            this.waking.add(wake);
          });
        }
        const delay = next - performance.now();
        if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
        next = Math.max(next + interval, performance.now() - interval);
        if (this.closed) return;
        w.inFlight++;
        this.ws.send(pack({ type: 'samples', session, seq: ++this.seq, x: wire(x, [m, nin]), y: wire(y, labels ? [m] : [m, nout]) }));
      }
      o.onEpoch?.(epoch);
    }
  }

  close(): void {
    this.ws.close(1000, 'demo done');
  }
}
