/**
 * Server benchmarks (issue 4), three runners for `npm run bench`:
 *
 *   benchStreamedW2   (a) W2 streamed by a producer in a separate process over loopback, samples/s,
 *                         next to the in-process rate of the same workload (target ≥ 90 %): each
 *                         streamed run between two in-process runs, its ratio to their mean; with
 *                         the sessions trained on their own threads (the default) or inline
 *   benchCoreSharing      what a busy second core costs training here: the bare W2 stepper alone,
 *                         and while another process spins on the other core (an ideal machine: 100 %)
 *   benchStepLatency  (b) time from sending a batch to receiving its `step` event, p50 / p99, at a
 *                         steady 100 batches/s (target p99 < 5 ms)
 *   benchFanout       (c) step events to 1,000 subscribers at 50 Hz: CPU and memory of the server
 *
 * (a) and (b) run the server in this process and the producer in a child (scripts/bench/producer.ts);
 * (c) runs the server as a `livegrad serve` child and reads its CPU and memory from /metrics.
 * `formatServerBench` renders the results as lines for the bench's output.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pack, unpack } from 'msgpackr';
import { WebSocket } from 'ws';
import { createServer } from '../../src/index.js';
import { livegradTrainer } from './livegrad.js';
import type { Trainer } from './registry.js';
import { rxRunners } from './rx.js';
import { median } from './measure.js';
import type { ProducerJob, ProducerResult } from './producer.js';
import { w2Create } from './producer.js';
import { WORKLOADS } from './workloads.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PRODUCER = fileURLToPath(new URL('./producer.ts', import.meta.url));

export interface StreamedResult {
  /** Medians of the in-process and of the streamed runs. */
  readonly inProcessSamplesPerSecond: number;
  readonly streamedSamplesPerSecond: number;
  /** Median over the streamed runs of streamed ÷ the mean of the in-process runs just before and after it (target ≥ 0.9). */
  readonly ratio: number;
  readonly ratios: readonly number[];
  readonly runs: number;
  /** What one `samples` message carries: rows, and its size as a MessagePack frame payload. */
  readonly rowsPerMessage: number;
  readonly messageBytes: number;
  /** The producer's CPU time over its timed window, in cores (median of the runs). */
  readonly producerCpu: number;
  /** Whether ws masks and unmasks frames with bufferutil's native code (else with JavaScript loops). */
  readonly nativeMasking: boolean;
  /** The server's `trainingThreads`. */
  readonly trainingThreads: boolean;
  /**
   * The same against W2 through `train()` in process (the pipeline a session runs: validation,
   * re-batching, events, metrics), measured right after each bare in-process run: like for like.
   */
  readonly pipelineSamplesPerSecond: number;
  readonly pipelineRatio: number;
  readonly pipelineRatios: readonly number[];
  /**
   * With `client: true`: the same chunks streamed by a second producer process through the client
   * library's `session.stream()` into a session of its own, in each round right after the
   * hand-written producer, and its ratio to the in-process runs either side (issue 12: ≥ 90 %).
   */
  readonly client?: { readonly samplesPerSecond: number; readonly ratio: number; readonly ratios: readonly number[]; readonly cpu: number };
}

export interface CoreSharingResult {
  readonly aloneSamplesPerSecond: number;
  readonly sharedSamplesPerSecond: number;
  /** Median over the rounds of shared ÷ alone. */
  readonly ratio: number;
  readonly ratios: readonly number[];
}

export interface LatencyResult {
  /** The server's `trainingThreads`. */
  readonly trainingThreads: boolean;
  readonly batchesPerSecond: number;
  readonly count: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface FanoutResult {
  readonly subscribers: number;
  readonly hz: number;
  readonly seconds: number;
  /** Server CPU over the window, percent of one core. */
  readonly cpuPercent: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly steps: number;
  /** Of the steps between the first and last it saw, the share the least-served subscriber received (1: none missed). */
  readonly minDelivered: number;
}

function runProducer(job: ProducerJob): Promise<ProducerResult> {
  const child = fork(PRODUCER, [], { execArgv: ['--import', 'tsx'], cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (r: ProducerResult) => resolve(r));
    child.once('exit', (code) => reject(new Error(`producer exited with ${code} before reporting`)));
    child.send(job);
  });
}

/** A streaming producer child: `round()` lets it stream one round and resolves with what it measured. */
export function streamingProducer(job: Extract<ProducerJob, { mode: 'stream' }>): { round(): Promise<Extract<ProducerResult, { mode: 'stream' }>>; exited: Promise<void> } {
  const child = fork(PRODUCER, [], { execArgv: ['--import', 'tsx'], cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const results: ProducerResult[] = [];
  let waiting: { resolve(r: ProducerResult): void; reject(e: Error): void } | undefined;
  let failed: Error | undefined;
  child.on('message', (r: ProducerResult) => {
    if (waiting) waiting.resolve(r);
    else results.push(r);
    waiting = undefined;
  });
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      if (code !== 0) failed = new Error(`producer exited with ${code}`);
      waiting?.reject(failed ?? new Error('producer exited before reporting'));
      resolve();
    }),
  );
  child.send(job);
  return {
    exited,
    round: async () => {
      if (failed) throw failed;
      child.send('go');
      const r = results.shift() ?? (await new Promise<ProducerResult>((resolve, reject) => (waiting = { resolve, reject })));
      if ('error' in r) throw new Error(`producer: ${r.error}`);
      if (r.mode !== 'stream') throw new Error('Expected a stream result');
      return r;
    },
  };
}

/** W2 trained in this process with `createStepper` (the in-process rate): samples/s over `seconds`. */
export function inProcessRate(t: ReturnType<typeof livegradTrainer>, seconds: number): number {
  const t0 = performance.now();
  let samples = 0;
  while (performance.now() - t0 < seconds * 1000) samples += t.run(50) as number;
  return samples / ((performance.now() - t0) / 1000);
}

/** W2 through `train()` in this process (scripts/bench/rx.ts, as the `livegrad-rx` rows): samples/s over `seconds`. */
export async function pipelineRate(t: Trainer, seconds: number): Promise<number> {
  const t0 = performance.now();
  let samples = 0;
  while (performance.now() - t0 < seconds * 1000) samples += await t.run(50);
  return samples / ((performance.now() - t0) / 1000);
}

/** True when ws finds bufferutil's native mask and unmask (ws skips it when WS_NO_BUFFER_UTIL is set). */
export function nativeMasking(): boolean {
  if (process.env['WS_NO_BUFFER_UTIL']) return false;
  try {
    const bufferutil = createRequire(import.meta.url)('bufferutil') as { mask?: unknown };
    return String(bufferutil.mask).includes('[native code]');
  } catch {
    return false;
  }
}

/**
 * (a) W2 streamed from another process vs trained in process. The host is shared and noisy, so
 * the two take turns in short rounds, in-process first and last: one producer process stays
 * connected to one session and streams a round when told, and each streamed round is compared
 * with the mean of the in-process rounds on either side of it; the result is the median of those
 * ratios. Each in-process slot runs the bare stepper (the strict denominator, the target's) and
 * then `train()` (the pipeline a session runs), and both ratios are reported.
 */
export async function benchStreamedW2(
  options: { seconds?: number; warmupSeconds?: number; runs?: number; chunkBatches?: number; trainingThreads?: boolean; client?: boolean } = {},
): Promise<StreamedResult> {
  const seconds = options.seconds ?? 1.5;
  const warmupSeconds = options.warmupSeconds ?? 1;
  const runs = options.runs ?? 8;
  const chunkBatches = options.chunkBatches ?? 16;
  const trainingThreads = options.trainingThreads ?? true;
  const server = await createServer({ port: 0, trainingThreads });
  const trainer = livegradTrainer(WORKLOADS.W2);
  const pipeline = await rxRunners.find((r) => r.workload === 'W2')!.setup(WORKLOADS.W2);
  const producer = streamingProducer({ mode: 'stream', url: server.url, session: 'w2', rounds: runs, seconds, warmupSeconds, chunkBatches });
  const clientProducer = options.client ? streamingProducer({ mode: 'stream', url: server.url, session: 'w2c', rounds: runs, seconds, warmupSeconds, chunkBatches, client: true }) : undefined;
  inProcessRate(trainer, warmupSeconds);
  await pipelineRate(pipeline, warmupSeconds);
  const inProcess: number[] = [];
  const inPipeline: number[] = [];
  const streamed: number[] = [];
  const producerCpu: number[] = [];
  const clientStreamed: number[] = [];
  const clientCpu: number[] = [];
  let messageBytes = 0;
  try {
    for (let r = 0; r <= runs; r++) {
      inProcess.push(inProcessRate(trainer, seconds));
      inPipeline.push(await pipelineRate(pipeline, seconds));
      if (r === runs) break;
      const result = await producer.round(); // the first round warms up first
      streamed.push(result.samplesPerSecond);
      producerCpu.push(result.cpu);
      messageBytes = result.messageBytes;
      if (clientProducer) {
        const c = await clientProducer.round();
        clientStreamed.push(c.samplesPerSecond);
        clientCpu.push(c.cpu);
      }
    }
    await producer.exited;
    await clientProducer?.exited;
  } finally {
    pipeline.dispose?.();
    await server.close();
  }
  const ratios = streamed.map((s, r) => s / ((inProcess[r]! + inProcess[r + 1]!) / 2));
  const pipelineRatios = streamed.map((s, r) => s / ((inPipeline[r]! + inPipeline[r + 1]!) / 2));
  const clientRatios = clientStreamed.map((s, r) => s / ((inProcess[r]! + inProcess[r + 1]!) / 2));
  return {
    ...(clientProducer ? { client: { samplesPerSecond: median(clientStreamed), ratio: median(clientRatios), ratios: clientRatios, cpu: median(clientCpu) } } : {}),
    inProcessSamplesPerSecond: median(inProcess),
    streamedSamplesPerSecond: median(streamed),
    ratio: median(ratios),
    ratios,
    runs,
    rowsPerMessage: chunkBatches * WORKLOADS.W2.batch,
    messageBytes,
    producerCpu: median(producerCpu),
    nativeMasking: nativeMasking(),
    trainingThreads,
    pipelineSamplesPerSecond: median(inPipeline),
    pipelineRatio: median(pipelineRatios),
    pipelineRatios,
  };
}

/**
 * The bare W2 stepper alone, then while a child process spins on integer arithmetic (no memory
 * traffic) for as long, `rounds` times; the ratio is the median of shared ÷ alone. On a machine
 * whose cores are its own this is ~100 %; on virtual CPUs that share a physical core (or a CPU
 * quota) it shows what any producer, I/O or second thread costs the training beside it.
 */
export async function benchCoreSharing(options: { seconds?: number; rounds?: number } = {}): Promise<CoreSharingResult> {
  const seconds = options.seconds ?? 1.5;
  const rounds = options.rounds ?? 3;
  const trainer = livegradTrainer(WORKLOADS.W2);
  inProcessRate(trainer, 1);
  const alone: number[] = [];
  const shared: number[] = [];
  for (let r = 0; r < rounds; r++) {
    alone.push(inProcessRate(trainer, seconds));
    const spin = spawn(process.execPath, ['-e', `let x = 0; const end = Date.now() + ${Math.round((seconds + 1) * 1000)}; while (Date.now() < end) x = (x * 1103515245 + 12345) | 0;`], { stdio: 'ignore' });
    const exited = new Promise((resolve) => spin.once('exit', resolve));
    await new Promise((resolve) => setTimeout(resolve, 300)); // the spinner is up
    shared.push(inProcessRate(trainer, seconds));
    await exited;
  }
  const ratios = shared.map((s, r) => s / alone[r]!);
  return { aloneSamplesPerSecond: median(alone), sharedSamplesPerSecond: median(shared), ratio: median(ratios), ratios };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** (b) batch → step event latency at a steady rate. */
export async function benchStepLatency(options: { seconds?: number; warmupSeconds?: number; rate?: number; trainingThreads?: boolean } = {}): Promise<LatencyResult> {
  const rate = options.rate ?? 100;
  const trainingThreads = options.trainingThreads ?? true;
  const server = await createServer({ port: 0, trainingThreads });
  try {
    const result = await runProducer({ mode: 'latency', url: server.url, session: 'latency', seconds: options.seconds ?? 5, warmupSeconds: options.warmupSeconds ?? 1, rate });
    if ('error' in result) throw new Error(`producer: ${result.error}`);
    if (result.mode !== 'latency') throw new Error('Expected a latency result');
    const sorted = [...result.latenciesMs].sort((x, y) => x - y);
    return { trainingThreads, batchesPerSecond: rate, count: sorted.length, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), maxMs: sorted.at(-1) ?? NaN };
  } finally {
    await server.close();
  }
}

/** Starts `livegrad serve --port 0` as a child and resolves with its port. */
function serveChild(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--port', '0', '--log-level', 'info'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; port?: number };
      if (entry.msg === 'listening') resolve({ child, port: entry.port! });
    });
  });
}

async function metrics(port: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

function open(url: string, onMessage?: (data: Buffer) => void): Promise<WebSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  if (onMessage) ws.on('message', onMessage);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** (c) `subscribers` clients subscribed to step events of a session trained at `hz` steps per second. */
export async function benchFanout(options: { subscribers?: number; hz?: number; seconds?: number } = {}): Promise<FanoutResult> {
  const subscribers = options.subscribers ?? 1000;
  const hz = options.hz ?? 50;
  const seconds = options.seconds ?? 5;
  const { child, port } = await serveChild();
  const url = `ws://127.0.0.1:${port}/ws`;
  const sockets: WebSocket[] = [];
  try {
    const producer = await open(url);
    producer.send(pack(w2Create('fanout')));
    // per subscriber, over the measured window: step events received, first and last step seen
    let counting = false;
    const count = new Int32Array(subscribers);
    const first = new Int32Array(subscribers).fill(-1);
    const last = new Int32Array(subscribers);
    const onStep = (i: number) => (data: Buffer) => {
      if (!counting) return;
      const step = (unpack(data) as { step: number }).step;
      if (first[i] === -1) first[i] = step;
      last[i] = step;
      count[i]!++;
    };
    for (let i = 0; i < subscribers; i += 100) {
      const batch = await Promise.all(Array.from({ length: Math.min(100, subscribers - i) }, (_, k) => open(url, onStep(i + k))));
      for (const ws of batch) ws.send(pack({ type: 'subscribe', session: 'fanout', topics: ['step'] }));
      sockets.push(...batch);
    }
    await new Promise((r) => setTimeout(r, 500));
    const x = new Uint8Array(new Float32Array(32 * 64).map((_, i) => (i % 17) / 16).buffer);
    const y = new Uint8Array(new Float32Array(32).map((_, i) => i % 10).buffer);
    let seq = 0;
    const send = (): void => {
      producer.send(pack({ type: 'samples', session: 'fanout', seq: seq++, x: { dtype: 'float32', shape: [32, 64], data: x }, y: { dtype: 'float32', shape: [32], data: y } }));
    };
    const timer = setInterval(send, 1000 / hz);
    await new Promise((r) => setTimeout(r, 1000)); // warm-up
    counting = true;
    const m0 = await metrics(port);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const m1 = await metrics(port);
    const t1 = performance.now();
    clearInterval(timer);
    await new Promise((r) => setTimeout(r, 200)); // the last events in flight
    counting = false;
    const cpu = (k: string) => (m1.get(k) ?? 0) - (m0.get(k) ?? 0);
    const steps = cpu('livegrad_steps_total');
    let least = Infinity;
    for (let i = 0; i < subscribers; i++) least = Math.min(least, first[i]! < 0 ? 0 : count[i]! / (last[i]! - first[i]! + 1));
    sockets.push(producer);
    return {
      subscribers,
      hz,
      seconds,
      cpuPercent: (100 * (cpu('process_cpu_user_seconds_total') + cpu('process_cpu_system_seconds_total'))) / ((t1 - t0) / 1000),
      rssBytes: m1.get('process_resident_memory_bytes') ?? NaN,
      heapUsedBytes: m1.get('nodejs_heap_used_bytes') ?? NaN,
      steps,
      minDelivered: least,
    };
  } finally {
    for (const ws of sockets) ws.terminate();
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
}

const mb = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MB`;

/** The core-sharing result as a line for the bench's output. */
export function formatCoreSharing(r: CoreSharingResult): string {
  const n = (x: number): string => Math.round(x).toLocaleString('en-US');
  return (
    `core sharing: the W2 stepper alone ${n(r.aloneSamplesPerSecond)} samples/s, with another process busy on the other core ${n(r.sharedSamplesPerSecond)}: ` +
    `${(100 * r.ratio).toFixed(0)} % (rounds: ${r.ratios.map((x) => `${(100 * x).toFixed(0)} %`).join(', ')}; 100 % where cores are not shared)`
  );
}

/** The results as lines for the bench's output; (a) once per training mode. */
export function formatServerBench(as: readonly StreamedResult[], bs: readonly LatencyResult[], c: FanoutResult | undefined): string[] {
  const lines: string[] = [];
  for (const a of as) {
    const n = (x: number): string => Math.round(x).toLocaleString('en-US');
    lines.push(
      `server (a) W2 streamed over loopback from another process, sessions trained ${a.trainingThreads ? 'on their own threads' : 'inline'}: ${n(a.streamedSamplesPerSecond)} samples/s, ` +
        `in process ${n(a.inProcessSamplesPerSecond)} samples/s: ${(100 * a.ratio).toFixed(1)} % (target ≥ 90 %; median of ${a.runs} runs, each against the in-process runs either side: ` +
        `${a.ratios.map((r) => `${(100 * r).toFixed(0)} %`).join(', ')})`,
      `  against train() in process (${n(a.pipelineSamplesPerSecond)} samples/s: the session's pipeline, like for like): ${(100 * a.pipelineRatio).toFixed(1)} % ` +
        `(${a.pipelineRatios.map((r) => `${(100 * r).toFixed(0)} %`).join(', ')})`,
      `  messages of ${n(a.rowsPerMessage)} rows (${n(a.messageBytes)} bytes), producer CPU ${(100 * a.producerCpu).toFixed(0)} % of a core, ` +
        `WebSocket masking ${a.nativeMasking ? 'native (bufferutil)' : 'in JavaScript (bufferutil not loaded)'}`,
    );
    if (a.client) {
      lines.push(
        `  through the client library (session.stream() in another process, the same chunks, right after each hand-written round): ${n(a.client.samplesPerSecond)} samples/s, ` +
          `${(100 * a.client.ratio).toFixed(1)} % of in process (target ≥ 90 %; ${a.client.ratios.map((r) => `${(100 * r).toFixed(0)} %`).join(', ')}), producer CPU ${(100 * a.client.cpu).toFixed(0)} % of a core`,
      );
    }
  }
  for (const b of bs) lines.push(`server (b) batch → step event at ${b.batchesPerSecond} batches/s, ${b.trainingThreads ? 'own threads' : 'inline'}: p50 ${b.p50Ms.toFixed(2)} ms, p99 ${b.p99Ms.toFixed(2)} ms, max ${b.maxMs.toFixed(2)} ms over ${b.count} batches (target p99 < 5 ms)`);
  if (c) {
    lines.push(
      `server (c) step events to ${c.subscribers} subscribers at ${c.hz} Hz: server CPU ${c.cpuPercent.toFixed(1)} % of a core, RSS ${mb(c.rssBytes)}, heap ${mb(c.heapUsedBytes)}; ` +
        `${c.steps} steps, the least-served subscriber received ${(100 * c.minDelivered).toFixed(1)} % of its step events`,
    );
  }
  return lines;
}

/** Runs (a), (b) and (c) in turn and returns the lines (for running this file on its own). */
export async function runServerBenchmarks(log: (line: string) => void = console.log): Promise<void> {
  log(formatCoreSharing(await benchCoreSharing()));
  for (const trainingThreads of [true, false]) for (const l of formatServerBench([await benchStreamedW2({ trainingThreads, client: trainingThreads })], [], undefined)) log(l);
  for (const trainingThreads of [true, false]) for (const l of formatServerBench([], [await benchStepLatency({ trainingThreads })], undefined)) log(l);
  const c = await benchFanout();
  for (const l of formatServerBench([], [], c)) log(l);
}

if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href) await runServerBenchmarks();
