/**
 * Recording benchmarks (docs/recording.md) for `npm run bench`, group `record`:
 *
 *   benchRecordedStream  (a) W2 streamed from a producer process (scripts/bench/server.ts's
 *                            machinery) into a server that records every session, with
 *                            `fsync: 'batch'` and with `fsync: 'always'`, next to the same
 *                            server not recording: rounds of the three alternate, each
 *                            recording round ÷ the mean of the non-recording rounds either side
 *                            (target for `batch` ≥ 90 %); and what an fsync costs on this disk
 *   benchReplay          (b) `replayToEnd(rec, { verify: true })` of a recorded W2 session (20
 *                            epochs of digits) next to W2 trained in process by the bare stepper
 *                            (and by `train()`), alternating (target ≥ 90 % of the bare stepper)
 *                        (c) the same log read without training: `openRecording(dir).entries()`
 *                            and `openLog(dir).records()`, MB/s
 *   benchBigReplay       (d) a log of ≥ 1 GB (W2 recorded in 2048-row chunks, fsync 'never'),
 *                            replayed with verify by a script of its own (replay-child.ts, a child
 *                            process that loads only the replay, as a user's script would, bundled
 *                            and run by plain node as an installed livegrad runs) that reports its
 *                            peak RSS (target < 150 MB)
 *
 * Logs go to temporary directories under os.tmpdir(), deleted afterwards, also on failure; a
 * benchmark that writes a lot first checks the disk has 3 GB free and is skipped if not.
 * MB and GB here are 10⁶ and 10⁹ bytes, for disk and memory alike. `formatRecordBench` renders
 * the results as lines for the bench's output.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statfsSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRecordedTrainer, createServer, openLog, openRecording, replayToEnd, rng, sgd, type Batch, type FsyncPolicy, type LivegradServer, type Recording, type TrainConfig } from '../../src/index.js';
import { livegradTrainer } from './livegrad.js';
import { median } from './measure.js';
import { rxRunners } from './rx.js';
import { inProcessRate, nativeMasking, pipelineRate, streamingProducer } from './server.js';
import { digits, WORKLOADS } from './workloads.js';
import type { ReplayChildReport } from './replay-child.js';

export { vmHwmBytes } from './replay-child.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const REPLAY_CHILD = fileURLToPath(new URL('./replay-child.ts', import.meta.url));
/** A benchmark that writes more than a few MB runs only with this much free on the disk of os.tmpdir(). */
const MIN_FREE_BYTES = 3e9;
/** W2's rows as a log stores them: 64 float32 inputs and a float32 label. */
const ROW_BYTES = 64 * 4 + 4;

// ---------------------------------------------------------------------------------------------
// pure helpers (test/bench/record.test.ts)

/** One timed slot of an interleaved measurement: what ran, and its rate. */
export interface Slot {
  readonly kind: string;
  readonly rate: number;
}

/**
 * The order of an interleaved measurement: the `reference` group first and last and between
 * every two measured slots, the `measured` kinds taking turns, `perKind` slots each.
 *
 *   schedule(['plain'], ['batch', 'always'], 2) → plain batch plain always plain batch plain always plain
 */
export function schedule(reference: readonly string[], measured: readonly string[], perKind: number): string[] {
  if (reference.length === 0 || measured.length === 0) throw new TypeError('Expected at least one reference and one measured kind, got none');
  if (!Number.isInteger(perKind) || perKind < 1) throw new RangeError(`Expected perKind to be an integer ≥ 1, got ${perKind}`);
  const out = [...reference];
  for (let i = 0; i < perKind * measured.length; i++) out.push(measured[i % measured.length]!, ...reference);
  return out;
}

/**
 * For each slot of `kind`, in order: its rate ÷ the mean of the nearest `reference` slots before
 * and after it (only the one there is, at an end; the slot is left out when there is none). A
 * paired ratio, as in scripts/bench/measure.ts: a slow phase of the host that covers a slot and
 * its neighbours cancels out.
 */
export function neighbourRatios(slots: readonly Slot[], kind: string, reference: string): number[] {
  const out: number[] = [];
  slots.forEach((s, i) => {
    if (s.kind !== kind) return;
    let before: number | undefined;
    let after: number | undefined;
    for (let j = i - 1; j >= 0 && before === undefined; j--) if (slots[j]!.kind === reference) before = slots[j]!.rate;
    for (let j = i + 1; j < slots.length && after === undefined; j++) if (slots[j]!.kind === reference) after = slots[j]!.rate;
    const ref = before === undefined ? after : after === undefined ? before : (before + after) / 2;
    if (ref !== undefined) out.push(s.rate / ref);
  });
  return out;
}

/** The rates of the slots of `kind`, in order. */
export function ratesOf(slots: readonly Slot[], kind: string): number[] {
  return slots.filter((s) => s.kind === kind).map((s) => s.rate);
}

// ---------------------------------------------------------------------------------------------
// disk

/** Bytes free for an unprivileged user on the file system that holds `dir`. */
function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

/** Why a benchmark writing to os.tmpdir() cannot run, or undefined when it can. */
function diskShort(): string | undefined {
  const free = freeBytes(os.tmpdir());
  return free < MIN_FREE_BYTES ? `skipped: ${gb(free)} free on the disk of ${os.tmpdir()}, it needs ${gb(MIN_FREE_BYTES)}` : undefined;
}

/** Runs `fn` in a new temporary directory, deleted afterwards whatever happens. */
async function inTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(os.tmpdir(), `livegrad-bench-${prefix}-`));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Bytes of the files directly in `dir`. */
function dirBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
}

/** What an `fsync: 'always'` round costs here: `count` appends of `bytes` to a file in `dir`, each followed by an fsync; the median ms of one. */
async function fsyncMs(dir: string, bytes: number, count = 40): Promise<number> {
  const file = join(dir, 'fsync-probe');
  const h = await open(file, 'a');
  const data = Buffer.alloc(bytes, 1);
  const ms: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      await h.write(data);
      await h.sync();
      ms.push(performance.now() - t0);
    }
  } finally {
    await h.close();
    rmSync(file, { force: true });
  }
  return median(ms);
}

// ---------------------------------------------------------------------------------------------
// a W2 session recorded in process

/** The W2 session (as scripts/bench/producer.ts creates it on a server): digits 64-64-10, SGD lr 0.5, batch 32, seed 1. */
const W2_CONFIG: TrainConfig = {
  session: 'w2',
  model: { inputSize: 64, layers: [{ units: 64, activation: 'sigmoid' }, { units: 10, activation: 'softmax' }], seed: 1 },
  loss: 'crossEntropy',
  optimizer: sgd({ lr: WORKLOADS.W2.lr }),
  batchSize: WORKLOADS.W2.batch,
};

/**
 * Records `rows` rows of the digits into a log at `dir` through `createRecordedTrainer` (fsync
 * 'never'): the rows in a seeded order reshuffled every epoch, offered in chunks of `chunkRows`
 * (the trainer cuts them into batches of 32), at most 8 chunks not yet trained; resolves once the
 * session has ended and the log is closed. Returns the steps taken.
 */
async function recordW2(dir: string, rows: number, chunkRows: number, checkpointEvery: number): Promise<number> {
  const d = digits();
  const order = new Int32Array(d.rows).map((_, i) => i);
  let pos = d.rows;
  const { trainer, recorder } = createRecordedTrainer(W2_CONFIG, dir, { fsync: 'never', checkpointEvery });
  let failure: unknown;
  let wake: (() => void) | undefined;
  const done = new Promise<void>((resolve, reject) => trainer.events$.subscribe({ complete: resolve, error: reject }));
  done.catch((e: unknown) => {
    failure ??= e;
    wake?.();
  });
  let inFlight = 0;
  const handlers = {
    accepted: () => undefined,
    rejected: (e: Error) => {
      failure ??= e;
      inFlight--;
      wake?.();
    },
    consumed: () => {
      inFlight--;
      wake?.();
    },
  };
  const random = rng(1);
  try {
    trainer.start();
    for (let given = 0, chunks = 0; given < rows && failure === undefined; chunks++) {
      const m = Math.min(chunkRows, rows - given);
      const x = new Float32Array(m * 64);
      const y = new Float32Array(m);
      for (let r = 0; r < m; r++) {
        if (pos === d.rows) {
          random.shuffle(order);
          pos = 0;
        }
        const i = order[pos++]!;
        x.set(d.x.subarray(i * 64, i * 64 + 64), r * 64);
        y[r] = d.labels[i]!;
      }
      const chunk: Batch = { x: { dtype: 'float32', shape: [m, 64], data: x }, y: { dtype: 'float32', shape: [m], data: y } };
      while (inFlight >= 8 && failure === undefined) await new Promise<void>((resolve) => (wake = resolve));
      if (failure !== undefined) break;
      trainer.offer(chunk, handlers);
      inFlight++;
      given += m;
      if (chunks % 32 === 31) await recorder.durable(); // the log keeps up: nothing piles up in memory
    }
    if (!trainer.done) trainer.end();
    await done;
  } finally {
    await recorder.close();
  }
  if (failure !== undefined) throw failure;
  return trainer.steps;
}

// ---------------------------------------------------------------------------------------------
// (a) streamed into a recording server

export interface RecordedStreamKind {
  readonly fsync: FsyncPolicy;
  /** Median of its rounds. */
  readonly samplesPerSecond: number;
  /** Median over its rounds of its rate ÷ the mean of the non-recording rounds either side. */
  readonly ratio: number;
  readonly ratios: readonly number[];
  /** The size of the session's log when the server closed (warm-up and every round), bytes. */
  readonly logBytes: number;
}

export interface RecordedStreamResult {
  readonly trainingThreads: boolean;
  /** Rounds of each recording kind (the non-recording server streams one more than both together). */
  readonly rounds: number;
  readonly seconds: number;
  /** Median of the non-recording rounds. */
  readonly plainSamplesPerSecond: number;
  readonly kinds: readonly RecordedStreamKind[];
  /** One append of a `samples` message's size to a file beside the logs, then an fsync: the median, ms. */
  readonly fsyncMs: number;
  readonly messageBytes: number;
  readonly nativeMasking: boolean;
}

/**
 * (a) Three servers in this process, each with one producer process connected to a W2 session:
 * one not recording, one recording with `fsync: 'batch'`, one with `fsync: 'always'`. They
 * stream in turn, one at a time, in rounds of `seconds` (scripts/bench/server.ts's streaming
 * producer: a warm-up before its first round, everything sent trained before it reports):
 * plain, batch, plain, always, plain, …, plain. Each recording round is divided by the mean of
 * the plain rounds either side of it; the result is the median of those ratios.
 */
export async function benchRecordedStream(options: { seconds?: number; warmupSeconds?: number; rounds?: number; chunkBatches?: number; trainingThreads?: boolean } = {}): Promise<RecordedStreamResult | string> {
  const short = diskShort();
  if (short !== undefined) return short;
  const seconds = options.seconds ?? 1.5;
  const warmupSeconds = options.warmupSeconds ?? 1;
  const rounds = options.rounds ?? 5;
  const chunkBatches = options.chunkBatches ?? 16;
  const trainingThreads = options.trainingThreads ?? true;
  const policies: readonly FsyncPolicy[] = ['batch', 'always'];
  return inTempDir('stream', async (tmp) => {
    const servers: LivegradServer[] = [];
    try {
      const plainServer = await createServer({ port: 0, trainingThreads });
      servers.push(plainServer);
      const producers = new Map([['plain', streamingProducer({ mode: 'stream', url: plainServer.url, session: 'w2', rounds: 2 * rounds + 1, seconds, warmupSeconds, chunkBatches })]]);
      for (const fsync of policies) {
        const server = await createServer({ port: 0, trainingThreads, record: join(tmp, fsync), fsync });
        servers.push(server);
        producers.set(fsync, streamingProducer({ mode: 'stream', url: server.url, session: 'w2', rounds, seconds, warmupSeconds, chunkBatches }));
      }
      const slots: Slot[] = [];
      let messageBytes = 0;
      for (const kind of schedule(['plain'], policies, rounds)) {
        const r = await producers.get(kind)!.round(); // a producer's first round warms up first
        slots.push({ kind, rate: r.samplesPerSecond });
        messageBytes = r.messageBytes;
      }
      for (const p of producers.values()) await p.exited;
      for (const s of servers.splice(0)) await s.close();
      const probeMs = await fsyncMs(tmp, messageBytes);
      return {
        trainingThreads,
        rounds,
        seconds,
        plainSamplesPerSecond: median(ratesOf(slots, 'plain')),
        kinds: policies.map((fsync) => {
          const ratios = neighbourRatios(slots, fsync, 'plain');
          return { fsync, samplesPerSecond: median(ratesOf(slots, fsync)), ratio: median(ratios), ratios, logBytes: dirBytes(join(tmp, fsync, 'w2')) };
        }),
        fsyncMs: probeMs,
        messageBytes,
        nativeMasking: nativeMasking(),
      };
    } finally {
      for (const s of servers) await s.close();
    }
  });
}

// ---------------------------------------------------------------------------------------------
// (b) replay --verify and (c) reading

export interface ReplayBenchResult {
  readonly epochs: number;
  readonly samples: number;
  readonly steps: number;
  /** Records in the log (checkpoints included) and its bytes (whole frames and prefixes). */
  readonly records: number;
  readonly bytes: number;
  readonly checkpoints: number;
  /** Checkpoints each replay held against its state and found equal. */
  readonly verified: number;
  readonly rounds: number;
  readonly replaySamplesPerSecond: number;
  readonly inProcessSamplesPerSecond: number;
  /** Median over the replays of replay ÷ the mean of the bare stepper's runs either side (target ≥ 0.9). */
  readonly ratio: number;
  readonly ratios: readonly number[];
  /** The same against W2 through `train()` in process (the trainer a replay runs, fed from memory). */
  readonly pipelineSamplesPerSecond: number;
  readonly pipelineRatio: number;
  readonly pipelineRatios: readonly number[];
  /** (c) reading the log without training, MB/s (10⁶ bytes), median of `readPasses` passes each. */
  readonly entriesMBps: number;
  readonly recordsMBps: number;
  readonly readPasses: number;
}

/** Reads every entry of an opened recording (checked as a replay checks them) and returns the seconds. */
async function readEntries(rec: Recording): Promise<number> {
  const t0 = performance.now();
  for await (const e of rec.entries()) if (e.kind === undefined) throw new Error('Expected an entry with a kind');
  return (performance.now() - t0) / 1000;
}

/** Reads every record of the log at `dir` (framing, CRC, MessagePack) and returns the seconds. */
async function readRecords(dir: string): Promise<number> {
  const t0 = performance.now();
  const log = await openLog(dir);
  for await (const e of log.records()) if (e.record.type === undefined) throw new Error('Expected a record with a type');
  return (performance.now() - t0) / 1000;
}

/**
 * (b) Records `epochs` epochs of the digits through `createRecordedTrainer` (batch by batch,
 * checkpointEvery 1000, fsync 'never'), then alternates: the bare W2 stepper and `train()` in
 * process, each for about as long as a replay takes, then one `replayToEnd(rec, { verify: true })`
 * of the whole log (the log opened once before; each replay reads it again), …, the in-process
 * pair last. (c) Then reads the log without training, `openRecording(dir).entries()` and
 * `openLog(dir).records()` in turn.
 */
export async function benchReplay(options: { epochs?: number; rounds?: number; readSeconds?: number } = {}): Promise<ReplayBenchResult> {
  const epochs = options.epochs ?? 20;
  const rounds = options.rounds ?? 15;
  const readSeconds = options.readSeconds ?? 1.5;
  return inTempDir('replay', async (tmp) => {
    const dir = join(tmp, 'w2');
    const steps = await recordW2(dir, epochs * digits().rows, WORKLOADS.W2.batch, 1000);
    const rec = await openRecording(dir);
    const bare = livegradTrainer(WORKLOADS.W2);
    const pipeline = await rxRunners.find((r) => r.workload === 'W2')!.setup(WORKLOADS.W2);
    const replayOnce = async (): Promise<{ rate: number; seconds: number; verified: number }> => {
      const t0 = performance.now();
      const r = await replayToEnd(rec, { verify: true });
      const s = (performance.now() - t0) / 1000;
      if (r.samples !== rec.rows) throw new Error(`Expected the replay to train ${rec.rows} samples, got ${r.samples}`);
      return { rate: r.samples / s, seconds: s, verified: r.verified };
    };
    const slots: Slot[] = [];
    let verified = 0;
    try {
      // warm-up: the replay path, the stepper and train() each for about a second
      let replaySeconds = 0;
      for (let spent = 0; spent < 1; spent += replaySeconds) replaySeconds = (await replayOnce()).seconds;
      inProcessRate(bare, 1);
      await pipelineRate(pipeline, 1);
      for (const kind of schedule(['bare', 'rx'], ['replay'], rounds)) {
        if (kind === 'bare') slots.push({ kind, rate: inProcessRate(bare, replaySeconds) });
        else if (kind === 'rx') slots.push({ kind, rate: await pipelineRate(pipeline, replaySeconds) });
        else {
          const r = await replayOnce();
          slots.push({ kind, rate: r.rate });
          verified = r.verified;
        }
      }
    } finally {
      pipeline.dispose?.();
    }
    // (c)
    const entries: number[] = [];
    const records: number[] = [];
    for (let spent = 0; spent < 2 * readSeconds; ) {
      const a = await readEntries(rec);
      const b = await readRecords(dir);
      entries.push(rec.report.bytes / 1e6 / a);
      records.push(rec.report.bytes / 1e6 / b);
      spent += a + b;
    }
    const ratios = neighbourRatios(slots, 'replay', 'bare');
    const pipelineRatios = neighbourRatios(slots, 'replay', 'rx');
    return {
      epochs,
      samples: rec.rows,
      steps,
      records: rec.report.records,
      bytes: rec.report.bytes,
      checkpoints: rec.counts.checkpoint,
      verified,
      rounds,
      replaySamplesPerSecond: median(ratesOf(slots, 'replay')),
      inProcessSamplesPerSecond: median(ratesOf(slots, 'bare')),
      ratio: median(ratios),
      ratios,
      pipelineSamplesPerSecond: median(ratesOf(slots, 'rx')),
      pipelineRatio: median(pipelineRatios),
      pipelineRatios,
      entriesMBps: median(entries),
      recordsMBps: median(records),
      readPasses: entries.length,
    };
  });
}

// ---------------------------------------------------------------------------------------------
// (d) a log of ≥ 1 GB replayed in a child

export interface BigReplayResult extends ReplayChildReport {
  /** Writing the log: rows recorded through createRecordedTrainer and the seconds it took. */
  readonly writeSeconds: number;
  readonly rows: number;
  readonly chunkRows: number;
}

/**
 * Runs (d)'s child on `dir` and resolves with its report. The child is scripts/bench/replay-child.ts
 * (a script that loads only the replay) bundled by esbuild (into node_modules/.cache) and run by plain node, as an
 * installed livegrad runs: tsx's loader thread and its in-memory sources would add some 55 MB.
 */
async function runReplayChild(dir: string): Promise<ReplayChildReport> {
  const { build } = await import('esbuild');
  // beside the packages it imports (rxjs, msgpackr), which node resolves from where the script is
  const script = join(ROOT, 'node_modules', '.cache', 'livegrad-bench', 'replay-child.mjs');
  await build({ entryPoints: [REPLAY_CHILD], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: script, packages: 'external', logLevel: 'warning' });
  const child = spawn(process.execPath, [script, dir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code !== 0) reject(new Error(`Expected the replay child to exit with 0, got ${code ?? signal}`));
      else resolve(JSON.parse(out) as ReplayChildReport);
    });
  });
}

/**
 * (d) Records W2 into a log of at least `bytes` (default 2³⁰) through `createRecordedTrainer`:
 * chunks of 2048 rows, fsync 'never', a checkpoint every 10,000 steps (and one at the start of
 * every 64 MiB segment); then a child process replays it with verify and reports its peak RSS.
 * Skipped (a string saying why) when the disk has less than 3 GB free.
 */
export async function benchBigReplay(options: { bytes?: number } = {}): Promise<BigReplayResult | string> {
  const bytes = options.bytes ?? 2 ** 30;
  const short = diskShort();
  if (short !== undefined) return short;
  const chunkRows = 2048;
  return inTempDir('big', async (tmp) => {
    const dir = join(tmp, 'w2');
    const rows = Math.ceil(bytes / ROW_BYTES);
    const t0 = performance.now();
    await recordW2(dir, rows, chunkRows, 10_000);
    const writeSeconds = (performance.now() - t0) / 1000;
    if (dirBytes(dir) < bytes) throw new Error(`Expected a log of at least ${bytes} bytes, got ${dirBytes(dir)}`);
    return { ...(await runReplayChild(dir)), writeSeconds, rows, chunkRows };
  });
}

// ---------------------------------------------------------------------------------------------
// output

const n = (x: number): string => Math.round(x).toLocaleString('en-US');
const pct = (x: number, digits = 1): string => `${(100 * x).toFixed(digits)} %`;
const mb = (b: number): string => `${(b / 1e6).toFixed(1)} MB`;
const gb = (b: number): string => `${(b / 1e9).toFixed(2)} GB`;

/** The results as lines for the bench's output; (a) once per training mode, (d) a result or why it was skipped. */
export function formatRecordBench(as: readonly (RecordedStreamResult | string)[], b: ReplayBenchResult | undefined, d: BigReplayResult | string | undefined): string[] {
  const lines: string[] = [];
  for (const a of as) {
    if (typeof a === 'string') {
      lines.push(`record (a) W2 streamed into a recording server: ${a}`);
      continue;
    }
    const mode = a.trainingThreads ? 'sessions trained on their own threads' : 'sessions trained inline';
    for (const k of a.kinds) {
      const target = k.fsync === 'batch' ? 'target ≥ 90 %' : 'no target';
      lines.push(
        `record (a) W2 streamed into a server recording with fsync '${k.fsync}', ${mode}: ${n(k.samplesPerSecond)} samples/s (≈ ${mb(k.samplesPerSecond * ROW_BYTES)}/s of rows), ` +
          `not recording ${n(a.plainSamplesPerSecond)} samples/s: ${pct(k.ratio)} (${target}; median of ${k.ratios.length} rounds of ${a.seconds} s, each against the rounds not recording either side: ` +
          `${k.ratios.map((r) => pct(r, 0)).join(', ')}; log ${mb(k.logBytes)})`,
      );
    }
    lines.push(`  this disk: appending ${n(a.messageBytes)} bytes (one message's rows) and fsyncing takes ${a.fsyncMs.toFixed(2)} ms (median), ≈ ${n(1000 / a.fsyncMs)} fsyncs/s; WebSocket masking ${a.nativeMasking ? 'native' : 'in JavaScript'}`);
  }
  if (b) {
    lines.push(
      `record (b) replayToEnd(rec, { verify: true }) of ${b.epochs} epochs of W2 (${n(b.samples)} samples, ${n(b.steps)} steps, ${n(b.records)} records, ${mb(b.bytes)}, ${b.verified} checkpoints verified a replay): ` +
        `${n(b.replaySamplesPerSecond)} samples/s, the bare stepper in process ${n(b.inProcessSamplesPerSecond)} samples/s: ${pct(b.ratio)} (target ≥ 90 %; median of ${b.ratios.length} replays, ` +
        `each against the runs either side: ${b.ratios.map((r) => pct(r, 0)).join(', ')})`,
      `  against train() in process (${n(b.pipelineSamplesPerSecond)} samples/s: the trainer a replay runs, fed from memory): ${pct(b.pipelineRatio)} (${b.pipelineRatios.map((r) => pct(r, 0)).join(', ')})`,
      `record (c) reading the same log without training: openRecording(dir).entries() ${n(b.entriesMBps)} MB/s, openLog(dir).records() ${n(b.recordsMBps)} MB/s (median of ${b.readPasses} passes each, from the page cache)`,
    );
  }
  if (typeof d === 'string') lines.push(`record (d) replaying a log of ≥ 1 GB: ${d}`);
  else if (d) {
    const peakOk = d.peakRssBytes < 150e6 ? 'under' : 'OVER';
    lines.push(
      `record (d) ${gb(d.bytes)} log (${d.segments} segments, ${n(d.records)} records of ${n(d.chunkRows)} rows) written through createRecordedTrainer in ${d.writeSeconds.toFixed(1)} s (${n(d.bytes / 1e6 / d.writeSeconds)} MB/s); ` +
        `replayed with verify in a child process: ${d.replaySeconds.toFixed(1)} s, ${n(d.bytes / 1e6 / d.replaySeconds)} MB/s, ${n(d.samples / d.replaySeconds)} samples/s, ${d.verified} checkpoints verified ` +
        `(after openRecording's pass over it: ${d.scanSeconds.toFixed(1)} s, ${n(d.bytes / 1e6 / d.scanSeconds)} MB/s)`,
      `  peak RSS ${mb(d.peakRssBytes)} (VmHWM; sampled every 50 ms: ${mb(d.sampledPeakRssBytes)}; ${mb(d.startRssBytes)} with the modules loaded): ${peakOk} the target of 150 MB`,
    );
  }
  return lines;
}

const round1 = (x: number): number => Math.round(x * 10) / 10;
const round4 = (x: number): number => Math.round(x * 1e4) / 1e4;

/** The results as the bench's `--json` lines, one object each. */
export function recordBenchJson(as: readonly (RecordedStreamResult | string)[], b: ReplayBenchResult | undefined, d: BigReplayResult | string | undefined): object[] {
  const out: object[] = [];
  for (const a of as) {
    if (typeof a === 'string') {
      out.push({ bench: 'record-stream', skipped: a });
      continue;
    }
    for (const k of a.kinds) {
      out.push({
        bench: 'record-stream',
        fsync: k.fsync,
        training_threads: a.trainingThreads,
        samples_per_s: round1(k.samplesPerSecond),
        not_recording_samples_per_s: round1(a.plainSamplesPerSecond),
        ratio: round4(k.ratio),
        log_bytes: k.logBytes,
        fsync_ms: round4(a.fsyncMs),
      });
    }
  }
  if (b) {
    out.push({
      bench: 'record-replay',
      samples_per_s: round1(b.replaySamplesPerSecond),
      in_process_samples_per_s: round1(b.inProcessSamplesPerSecond),
      ratio: round4(b.ratio),
      pipeline_samples_per_s: round1(b.pipelineSamplesPerSecond),
      pipeline_ratio: round4(b.pipelineRatio),
      samples: b.samples,
      log_bytes: b.bytes,
      verified: b.verified,
    });
    out.push({ bench: 'record-read', entries_mb_per_s: round1(b.entriesMBps), records_mb_per_s: round1(b.recordsMBps), log_bytes: b.bytes });
  }
  if (typeof d === 'string') out.push({ bench: 'record-big', skipped: d });
  else if (d) {
    out.push({
      bench: 'record-big',
      log_bytes: d.bytes,
      write_s: round4(d.writeSeconds),
      scan_s: round4(d.scanSeconds),
      replay_s: round4(d.replaySeconds),
      replay_mb_per_s: round1(d.bytes / 1e6 / d.replaySeconds),
      samples_per_s: round1(d.samples / d.replaySeconds),
      verified: d.verified,
      peak_rss_bytes: d.peakRssBytes,
      start_rss_bytes: d.startRssBytes,
    });
  }
  return out;
}

