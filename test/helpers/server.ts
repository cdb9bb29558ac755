/**
 * Server test harness (tests only): servers on 127.0.0.1 port 0 and clients that are all closed
 * after each test, a tiny model, deterministic sample chunks, and a producer that honours credits.
 */
import { afterEach } from 'vitest';
import { createServer, type Batch, type LivegradServer, type ServerOptions } from '../../src/index.js';
import { f32, TestClient, type ConnectOptions, type Msg } from './ws-client.js';

export function useServers() {
  const servers: LivegradServer[] = [];
  const clients: TestClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  return {
    async start(options: ServerOptions = {}): Promise<LivegradServer> {
      const s = await createServer({ host: '127.0.0.1', port: 0, ...options });
      servers.push(s);
      return s;
    },
    async connect(server: LivegradServer, options: ConnectOptions = {}): Promise<TestClient> {
      const c = await TestClient.connect(server.url, options);
      clients.push(c);
      return c;
    },
  };
}

/** The server's two ways to train a session (`trainingThreads`), for describe.each. */
export const TRAINING_MODES = [
  { mode: 'on their own threads', trainingThreads: true },
  { mode: 'inline', trainingThreads: false },
] as const;

/** 4 inputs, 8 tanh, 3 softmax: 67 parameters. */
export const TINY = { inputSize: 4, layers: [{ units: 8, activation: 'tanh' }, { units: 3, activation: 'softmax' }], seed: 1 } as const;

export function createMessage(session: string, overrides: Msg = {}): Msg {
  return { type: 'create', session, model: TINY, loss: 'crossEntropy', optimizer: { kind: 'sgd', lr: 0.1 }, batchSize: 4, ...overrides };
}

/** Chunk `seq`: x [rows, 4] (float32 values in (-1, 1)), labels [rows] in 0..2. Deterministic. */
export function chunkValues(seq: number, rows: number): { x: Float32Array; y: Float32Array } {
  const x = new Float32Array(rows * 4);
  const y = new Float32Array(rows);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < 4; j++) x[i * 4 + j] = Math.sin(seq * 13 + i * 7 + j * 3);
    y[i] = (seq + i) % 3;
  }
  return { x, y };
}

export function samples(session: string, seq: number, rows: number): Msg {
  const { x, y } = chunkValues(seq, rows);
  return { type: 'samples', session, seq, x: f32([rows, 4], x), y: f32([rows], y) };
}

/**
 * Sends chunks firstSeq … firstSeq+count-1 of `rows` rows, never more than `credits` unacknowledged,
 * and resolves when the last one is acknowledged.
 */
export async function produce(c: TestClient, session: string, count: number, rows: number, options: { credits?: number; firstSeq?: number } = {}): Promise<void> {
  const credits = options.credits ?? 8;
  const first = options.firstSeq ?? 0;
  const acked = (seq: number) => c.waitFor((m) => (m['type'] === 'ack' || m['type'] === 'error') && m['session'] === session && (m['seq'] === seq || m['ref'] === seq), { timeoutMs: 20_000 });
  for (let k = 0; k < count; k++) {
    if (k >= credits) await acked(first + k - credits);
    c.send(samples(session, first + k, rows));
  }
  const last = await acked(first + count - 1);
  if (last['type'] === 'error') throw new Error(`samples ${first + count - 1} refused: ${String(last['code'])} ${String(last['message'])}`);
}

/** Chunk `seq` of `rows` rows (as `samples` sends it) as a Batch, for an in-process trainer fed the same rows. */
export function chunkBatch(seq: number, rows: number): Batch {
  const { x, y } = chunkValues(seq, rows);
  return { x: { dtype: 'float32', shape: [rows, 4], data: x }, y: { dtype: 'float32', shape: [rows], data: y } };
}

/** The names of the server's sessions, as `list` tells `c`. */
export async function sessionNames(c: TestClient): Promise<string[]> {
  return ((await c.ok({ type: 'list' }))['sessions'] as { session: string }[]).map((s) => s.session);
}
