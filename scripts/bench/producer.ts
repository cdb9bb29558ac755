/**
 * The bench's producer, a separate process (forked by scripts/bench/server.ts with IPC): it
 * connects to a livegrad server over loopback and either streams W2 as fast as credits allow, or
 * sends one W2 batch at a steady rate and times each batch to its `step` event. It measures on
 * its own clock and reports to its parent.
 *
 *   { mode: 'stream',  url, rounds, seconds, warmupSeconds, chunkBatches }
 *        → one { samplesPerSecond, steps, messageBytes, cpu } per round: the producer connects,
 *          creates its session and warms up once, then for each round waits for the parent's
 *          'go', streams for `seconds`, lets everything in flight train, and reports; between
 *          rounds the parent has the machine to itself (to measure in process beside it)
 *   { mode: 'latency', url, seconds, warmupSeconds, rate }          → { latenciesMs: number[] }
 *
 * The streaming producer is a plain client: it packs every `samples` message anew (x as float32
 * bytes, y as class indices), masks it as every WebSocket client must, and keeps at most its
 * credits in flight. `cpu` is its own CPU time over the timed window, in cores. With `client: true`
 * it streams the same chunks through `livegrad/client` instead (`session.stream()` of an Iterable
 * of batches, pulled as the server takes them): what a user who writes no protocol code gets.
 */
import { pack, unpack } from 'msgpackr';
import { WebSocket } from 'ws';
import { connect as connectClient, type Batch, type CreateConfig, type StreamProgress } from '../../src/client/index.js';
import { digitsBatches, WORKLOADS } from './workloads.js';

export type ProducerJob =
  | {
      readonly mode: 'stream';
      readonly url: string;
      readonly session: string;
      readonly rounds: number;
      readonly seconds: number;
      readonly warmupSeconds: number;
      /** Batches of 32 rows per `samples` message. */
      readonly chunkBatches: number;
      /** Override w2Create's credits and queue capacity (experiments). */
      readonly credits?: number;
      readonly queueCapacity?: number;
      /** Stream through the client library's `session.stream()` instead of hand-written messages. */
      readonly client?: boolean;
    }
  | { readonly mode: 'latency'; readonly url: string; readonly session: string; readonly seconds: number; readonly warmupSeconds: number; readonly rate: number };

export type ProducerResult =
  | { readonly mode: 'stream'; readonly samplesPerSecond: number; readonly steps: number; readonly messageBytes: number; readonly cpu: number }
  | { readonly mode: 'latency'; readonly latenciesMs: readonly number[] }
  | { readonly error: string };

type Msg = Record<string, unknown>;

const W2 = WORKLOADS.W2;

/**
 * The W2 session: digits 64-64-10, sigmoid, softmax + cross-entropy, SGD lr 0.5, batch 32, seed 1,
 * default event rates, and the server's default credits (8) and queueCapacity (16): what a
 * producer that sets nothing gets. (Chunks wait for room beside the trainer, so the queue need not
 * cover a round trip; a side-by-side run of 32 credits and 64 batches read the same.)
 */
export function w2Create(session: string): Msg {
  return {
    type: 'create',
    id: 'create',
    session,
    model: { inputSize: 64, layers: [{ units: 64, activation: 'sigmoid' }, { units: 10, activation: 'softmax' }], seed: 1 },
    loss: 'crossEntropy',
    optimizer: { kind: 'sgd', lr: W2.lr },
    batchSize: W2.batch,
  };
}

/** `count` W2 batches of 32 rows as one chunk: x [rows, 64] as little-endian float32 bytes, y [rows] labels. */
function chunk(stream: ReturnType<typeof digitsBatches>, count: number): { x: Uint8Array; y: Uint8Array; rows: number } {
  const xs: Float32Array[] = [];
  const ys: Float32Array[] = [];
  let rows = 0;
  while (xs.length < count) {
    const m = stream.next();
    if (m !== W2.batch) continue; // the 5-row tail of an epoch: keep chunks whole batches
    xs.push(stream.x.slice(0, m * 64));
    ys.push(Float32Array.from(stream.labels.subarray(0, m)));
    rows += m;
  }
  const x = new Float32Array(rows * 64);
  const y = new Float32Array(rows);
  xs.forEach((a, i) => x.set(a, i * W2.batch * 64));
  ys.forEach((a, i) => y.set(a, i * W2.batch));
  return { x: new Uint8Array(x.buffer), y: new Uint8Array(y.buffer), rows };
}

function connect(url: string, onMessage: (m: Msg) => void): Promise<WebSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  ws.on('message', (data: Buffer) => onMessage(unpack(data) as Msg));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function waitFor(pred: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const poll = (): void => {
      if (pred()) resolve();
      else setImmediate(poll);
    };
    poll();
  });
}

/** The parent's 'go' messages, counted as they come (one may arrive before the producer waits for it). */
let gos = 0;
let onGo: (() => void) | undefined;
process.on('message', (m) => {
  if (m !== 'go') return;
  gos++;
  onGo?.();
});

/** Resolves once the parent has said 'go' (again). */
function nextGo(): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (gos === 0) {
        onGo = check;
        return;
      }
      gos--;
      onGo = undefined;
      resolve();
    };
    check();
  });
}

/**
 * Streams whole W2 chunks in rounds, keeping at most its credits in flight; a round's samples/s
 * counts rows from `consumed` over its timed window, then waits for everything sent to be trained.
 */
async function stream(job: Extract<ProducerJob, { mode: 'stream' }>): Promise<void> {
  const batches = digitsBatches();
  const pool = Array.from({ length: 16 }, () => chunk(batches, job.chunkBatches));
  let credits = 0;
  let inFlight = 0;
  let consumedRows = 0;
  let lastStep = 0;
  let created = false;
  let failure: string | undefined;
  const rowsOf = new Map<number, number>();
  let wake: (() => void) | undefined;
  const ws = await connect(job.url, (m) => {
    switch (m['type']) {
      case 'created':
        credits = m['credits'] as number;
        created = true;
        break;
      case 'ack':
        inFlight--;
        wake?.();
        break;
      case 'consumed':
        consumedRows += rowsOf.get(m['seq'] as number) ?? 0;
        rowsOf.delete(m['seq'] as number);
        lastStep = m['step'] as number;
        wake?.();
        break;
      case 'error':
        failure = `${String(m['code'])}: ${String(m['message'])}`;
        wake?.();
        break;
    }
  });
  const overrides = { ...(job.credits === undefined ? {} : { credits: job.credits }), ...(job.queueCapacity === undefined ? {} : { queueCapacity: job.queueCapacity }) };
  ws.send(pack({ ...w2Create(job.session), ...overrides }));
  await waitFor(() => created || failure !== undefined);
  let seq = 0;
  let messageBytes = 0;
  const idle = (): Promise<void> =>
    new Promise<void>((r) => {
      wake = r;
      setTimeout(r, 50);
    }).then(() => {
      wake = undefined;
    });
  /** Sends while credits allow, until `end`. */
  const sendUntil = async (end: number): Promise<void> => {
    while (performance.now() < end && failure === undefined) {
      if (inFlight < credits) {
        const c = pool[seq % pool.length]!;
        rowsOf.set(seq, c.rows);
        const message = pack({ type: 'samples', session: job.session, seq, x: { dtype: 'float32', shape: [c.rows, 64], data: c.x }, y: { dtype: 'float32', shape: [c.rows], data: c.y } });
        messageBytes = message.length;
        ws.send(message);
        inFlight++;
        seq++;
      } else {
        await idle();
      }
    }
  };
  /** Everything sent is trained (or the session failed). */
  const drained = async (): Promise<void> => {
    while (rowsOf.size > 0 && failure === undefined) await idle();
  };
  await nextGo();
  await sendUntil(performance.now() + job.warmupSeconds * 1000);
  for (let r = 0; r < job.rounds && failure === undefined; r++) {
    if (r > 0) await nextGo();
    const mark = { t: performance.now(), rows: consumedRows, step: lastStep, cpu: process.cpuUsage() };
    await sendUntil(mark.t + job.seconds * 1000);
    const t1 = performance.now();
    const cpu = process.cpuUsage(mark.cpu);
    const rows = consumedRows - mark.rows;
    const steps = lastStep - mark.step;
    await drained();
    if (failure !== undefined) break;
    const ms = t1 - mark.t;
    process.send!({ mode: 'stream', samplesPerSecond: rows / (ms / 1000), steps, messageBytes, cpu: (cpu.user + cpu.system) / 1000 / ms } satisfies ProducerResult);
  }
  ws.close();
  if (failure !== undefined) throw new Error(failure);
}

/**
 * The same rounds as `stream`, through the client library: each round is one `session.stream()`
 * of an Iterable that yields the pool's chunks until the round's time is up (whole batches, so
 * `tail: 'hold'` holds nothing back); its samples/s counts the rows consumed by then.
 */
async function clientStream(job: Extract<ProducerJob, { mode: 'stream' }>): Promise<void> {
  const batches = digitsBatches();
  const pool: Batch[] = Array.from({ length: 16 }, () => {
    const c = chunk(batches, job.chunkBatches);
    return { x: { dtype: 'float32', shape: [c.rows, 64], data: new Float32Array(c.x.buffer) }, y: { dtype: 'float32', shape: [c.rows], data: new Float32Array(c.y.buffer) } };
  });
  const client = await connectClient(job.url);
  try {
    const { type: _type, id: _id, ...config } = w2Create(job.session) as unknown as { type: string; id: string } & CreateConfig;
    const overrides = { ...(job.credits === undefined ? {} : { credits: job.credits }), ...(job.queueCapacity === undefined ? {} : { queueCapacity: job.queueCapacity }) };
    await client.create({ ...config, ...overrides });
    const session = client.session(job.session);
    const rowsPerMessage = job.chunkBatches * W2.batch;
    let k = 0;
    /** The latest progress of the stream running, and what it said when its source stopped. */
    let latest = { consumed: 0 };
    let stopped: (at: { t: number; consumed: number; cpu: NodeJS.CpuUsage }) => void = () => undefined;
    const until = (end: number): Iterable<Batch> => ({
      *[Symbol.iterator]() {
        while (performance.now() < end) yield pool[k++ % pool.length]!;
        stopped({ t: performance.now(), consumed: latest.consumed, cpu: process.cpuUsage() });
      },
    });
    const run = (end: number): Promise<unknown> => {
      latest = { consumed: 0 };
      return new Promise((resolve, reject) => {
        session.stream(until(end), { rowsPerMessage, tail: 'hold' }).subscribe({ next: (p: StreamProgress) => (latest = p), error: reject, complete: () => resolve(undefined) });
      });
    };
    await nextGo();
    await run(performance.now() + job.warmupSeconds * 1000);
    for (let r = 0; r < job.rounds; r++) {
      if (r > 0) await nextGo();
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      const window = new Promise<{ t: number; consumed: number; cpu: NodeJS.CpuUsage }>((resolve) => (stopped = resolve));
      await run(t0 + job.seconds * 1000);
      const { t, consumed, cpu: cpu1 } = await window;
      const cpu = { user: cpu1.user - cpu0.user, system: cpu1.system - cpu0.system };
      const ms = t - t0;
      process.send!({ mode: 'stream', samplesPerSecond: consumed / (ms / 1000), steps: consumed / W2.batch, messageBytes: 0, cpu: (cpu.user + cpu.system) / 1000 / ms } satisfies ProducerResult);
    }
  } finally {
    await client.close();
  }
}

/** One 32-row batch every 1/rate s; latency = arrival of its `step` event − its send. */
async function latency(job: Extract<ProducerJob, { mode: 'latency' }>): Promise<ProducerResult> {
  const batches = digitsBatches();
  const pool = Array.from({ length: 64 }, () => chunk(batches, 1));
  const sentAt: number[] = [];
  const latenciesMs: number[] = [];
  let ready = 0;
  let failure: string | undefined;
  const ws = await connect(job.url, (m) => {
    if (m['type'] === 'step') {
      const step = m['step'] as number;
      const t = sentAt[step - 1];
      if (t !== undefined) latenciesMs.push(performance.now() - t);
    } else if (m['type'] === 'created' || m['type'] === 'subscribed') {
      ready++;
    } else if (m['type'] === 'error') {
      failure = `${String(m['code'])}: ${String(m['message'])}`;
    }
  });
  ws.send(pack(w2Create(job.session)));
  ws.send(pack({ type: 'subscribe', id: 'sub', session: job.session, topics: ['step'] }));
  await waitFor(() => ready === 2 || failure !== undefined);
  const interval = 1000 / job.rate;
  const total = Math.round((job.warmupSeconds + job.seconds) * job.rate);
  const warm = Math.round(job.warmupSeconds * job.rate);
  const t0 = performance.now();
  for (let seq = 0; seq < total && failure === undefined; seq++) {
    const due = t0 + seq * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const c = pool[seq % pool.length]!;
    const data = pack({ type: 'samples', session: job.session, seq, x: { dtype: 'float32', shape: [c.rows, 64], data: c.x }, y: { dtype: 'float32', shape: [c.rows], data: c.y } });
    sentAt[seq] = performance.now();
    ws.send(data);
  }
  await new Promise((r) => setTimeout(r, 200));
  ws.close();
  if (failure !== undefined) return { error: failure };
  return { mode: 'latency', latenciesMs: latenciesMs.slice(warm) };
}

process.once('message', (job: ProducerJob) => {
  const done = job.mode === 'stream' ? (job.client ? clientStream(job) : stream(job)).then(() => undefined) : latency(job);
  done.then(
    (r) => (r === undefined ? process.exit(0) : process.send!(r, () => process.exit(0))),
    (e: unknown) => process.send!({ error: e instanceof Error ? e.message : String(e) }, () => process.exit(1)),
  );
});
