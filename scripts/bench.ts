/**
 * `npm run bench`: W1, W2, W3 of shared/bench/WORKLOADS.md for livegrad and its peers, side by side
 * (see docs/benchmarks.md). Each workload is measured in a fresh child process, all of its impls
 * side by side in it: what one workload leaves in the JIT (type feedback from another network's
 * shapes, inlining decisions) must not change another workload's numbers. Run W1 first in the same
 * process and W2 through train() measured 1–2 points lower, and less steadily, than W2 alone.
 *
 *   npm run bench                      human table: workload, impl, throughput, livegrad ÷ impl
 *   npm run bench -- --json            one JSON object per line: {"workload":"W2","impl":"livegrad","samples_per_s":123.4}
 *   npm run bench -- --only W1,W2      only these workloads (also --impl livegrad,floor); `server` names
 *                                      the server benchmarks (a) streamed W2, (b) step latency, (c) fan-out
 *   npm run bench -- --no-server       skip the server benchmarks
 *   npm run bench -- --only record     the recording benchmarks: (a) streamed W2 into a recording server,
 *                                      (b) replay --verify, (c) reading a log, (d) replaying a 1 GB log
 *   npm run bench -- --no-record       skip the recording benchmarks
 *   npm run bench -- --check           losses of every impl after the same few steps, then exit
 *   LIVEGRAD_BENCH_PYTHON=/usr/bin/python3 npm run bench   the python of the numpy peer (default python3;
 *                                      without python or numpy the bench says why and goes on without it)
 *   npm run bench -- --runs 45 --run-seconds 0.1 --warmup-seconds 1.5 --no-heap --no-accuracy
 *
 * The heap check needs a global `gc`: without --expose-gc the bench re-runs itself with it.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { heapCheck, type HeapReport } from './bench/heap.js';
import { digitsTrainAccuracy, LIVEGRAD_IMPLS } from './bench/livegrad.js';
import { measureWorkload, median, type Measurement } from './bench/measure.js';
import { CHECK_STEPS, checkLosses, lossCheckLine, numpyLine, numpyTrainer, onPythonClock, probeNumpy, type NumpyMeasurement, type RunReply } from './bench/numpy.js';
import { RUNNERS, selectRunners, type Runner } from './bench/registry.js';
import { benchBigReplay, benchRecordedStream, benchReplay, formatRecordBench, recordBenchJson, type RecordedStreamResult } from './bench/record.js';
import { benchCoreSharing, benchFanout, benchStepLatency, benchStreamedW2, formatCoreSharing, formatServerBench, type LatencyResult, type StreamedResult } from './bench/server.js';
import { tfWasmFeatures } from './bench/tfjs.js';
import { WORKLOAD_IDS, WORKLOADS, type Workload, type WorkloadId } from './bench/workloads.js';

/** Every impl the bench knows, in table order. */
const IMPLS = [...new Set(RUNNERS.map((r) => r.impl))];

/** What `--help` prints, and what a wrong option is told to read. */
export const USAGE = `usage: npm run bench [-- options]
  (none)                       W1, W2, W3 for livegrad and its peers, then the server and recording benchmarks
  --only W1,W2,server,record   only these (workloads W1 W2 W3; server: streamed W2, step latency, fan-out;
                               record: streamed into a recording server, replay --verify, reading, a 1 GB replay)
  --impl livegrad,numpy        only these impls: ${IMPLS.join(', ')}
  --json                       one JSON object a line instead of the table
  --check                      every impl's loss after the same few steps, then exit
  --runs N                     rounds of interleaved runs (45)
  --run-seconds S              seconds a run (0.1)
  --warmup-seconds S           warm-up before the rounds (1.5)
  --no-heap, --no-accuracy     skip the W2 heap check, the W2 accuracy check
  --no-server, --no-record     skip the server, the recording benchmarks
  --help                       this text
environment: LIVEGRAD_BENCH_PYTHON (the numpy peer's python, default python3)
docs/benchmarks.md says what each number means.`;

interface Options {
  help: boolean;
  json: boolean;
  only: WorkloadId[];
  impls: string[] | undefined;
  check: boolean;
  heap: boolean;
  accuracy: boolean;
  runs: number;
  runSeconds: number;
  warmupSeconds: number;
  server: boolean;
  record: boolean;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { help: false, json: false, only: [...WORKLOAD_IDS], impls: undefined, check: false, heap: true, accuracy: true, runs: 45, runSeconds: 0.1, warmupSeconds: 1.5, server: true, record: true };
  const value = (i: number): string => {
    const v = argv[i + 1];
    if (v === undefined) throw new TypeError(`Expected a value after ${argv[i]}, got nothing`);
    return v;
  };
  const positive = (s: string, what: string): number => {
    const n = Number(s);
    if (!(n > 0)) throw new RangeError(`Expected ${what} to be a number > 0, got ${s}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    switch (a) {
      case '--help': case '-h': o.help = true; break;
      case '--json': o.json = true; break;
      case '--check': o.check = true; break;
      case '--no-heap': o.heap = false; break;
      case '--no-accuracy': o.accuracy = false; break;
      case '--no-server': o.server = false; break;
      case '--no-record': o.record = false; break;
      case '--only': {
        const ids = value(i++).split(',').map((s) => s.trim().toUpperCase());
        for (const id of ids) if (id !== 'SERVER' && id !== 'RECORD' && !(WORKLOAD_IDS as readonly string[]).includes(id)) throw new TypeError(`Expected workloads among ${WORKLOAD_IDS.join(', ')}, server, record, got ${id}`);
        o.server = ids.includes('SERVER');
        o.record = ids.includes('RECORD');
        o.only = WORKLOAD_IDS.filter((id) => ids.includes(id));
        break;
      }
      case '--impl': {
        o.impls = value(i++).split(',').map((s) => s.trim());
        for (const impl of o.impls) if (!IMPLS.includes(impl)) throw new TypeError(`Expected impls among ${IMPLS.join(', ')}, got ${impl}`);
        break;
      }
      case '--runs': o.runs = Math.round(positive(value(i++), '--runs')); break;
      case '--run-seconds': o.runSeconds = positive(value(i++), '--run-seconds'); break;
      case '--warmup-seconds': o.warmupSeconds = positive(value(i++), '--warmup-seconds'); break;
      default: throw new TypeError(`Expected an option (--help, --json, --only, --impl, --check, --runs, --run-seconds, --warmup-seconds, --no-heap, --no-accuracy, --no-server, --no-record), got ${a}`);
    }
  }
  return o;
}

/** Re-runs this script under `node --expose-gc` (same loader flags) and returns its exit code, or undefined when gc is already there. */
function respawnWithGc(): number | undefined {
  if (typeof (globalThis as { gc?: unknown }).gc === 'function' || process.env['LIVEGRAD_BENCH_CHILD'] === '1') return undefined;
  const r = spawnSync(process.execPath, ['--expose-gc', ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, LIVEGRAD_BENCH_CHILD: '1' },
  });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

/** Set in a child that measures one workload (see measureInChild). */
const WORKLOAD_ENV = 'LIVEGRAD_BENCH_WORKLOAD';
/** Set in that child to '0' when the numpy peer is skipped (no python3 with numpy: see probeNumpy). */
const NUMPY_ENV = 'LIVEGRAD_BENCH_NUMPY';

/** The selected runners of these workloads; numpy's only when `numpy` (python3 with numpy was found). */
function runnersOf(ids: readonly WorkloadId[], o: Options, numpy: boolean): Runner[] {
  return selectRunners(ids, o.impls).filter((r) => numpy || r.impl !== 'numpy');
}

/**
 * Measures one workload in a fresh process: this script again, same node flags and arguments, told
 * by WORKLOAD_ENV which workload to measure; its progress lines pass through on stderr and its
 * measurements come back as one JSON line on stdout.
 */
function measureInChild(id: WorkloadId, numpy: boolean): Measurement[] {
  return inChild(`the ${id} measurement`, { [WORKLOAD_ENV]: id, [NUMPY_ENV]: numpy ? '1' : '0' });
}

/** This script again in a fresh process, with `env` added, its JSON line on stdout parsed. */
function inChild<T>(what: string, env: Record<string, string>): T {
  const r = spawnSync(process.execPath, [...process.execArgv, process.argv[1]!, ...process.argv.slice(2)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`Expected ${what} to exit with 0, got ${r.status ?? r.signal}`);
  return JSON.parse(r.stdout) as T;
}

/** Set in a child that runs the heap check (see heapInChild). */
const HEAP_ENV = 'LIVEGRAD_BENCH_HEAP';

/**
 * The heap check in a fresh process, where its stepper is the first the process makes (this one has
 * made steppers for the numpy loss check), then once more there with a second stepper.
 */
function heapInChild(): { alone: HeapReport; beside: HeapReport } {
  return inChild('the heap check', { [HEAP_ENV]: '1' });
}

/** The child's side of measureInChild. */
async function measureOne(id: WorkloadId): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const progress = (line: string): void => {
    if (!o.json) process.stderr.write(`  ${line}\n`);
  };
  // numpy's rows go by its own clock around its training loop: its answers to the measured runs (the last o.runs)
  const numpyRuns: RunReply[] = [];
  const runners = runnersOf([id], o, process.env[NUMPY_ENV] !== '0').map((r) =>
    r.impl === 'numpy' ? { ...r, setup: (w: Workload) => numpyTrainer(w, undefined, (run) => numpyRuns.push(run)) } : r,
  );
  const results = await measureWorkload(WORKLOADS[id], runners, o, progress);
  const livegrad = results.find((m) => m.impl === 'livegrad');
  const rows = results.map((m) => (m.impl === 'numpy' ? onPythonClock(m, numpyRuns.slice(-o.runs), WORKLOADS[id], livegrad) : m));
  process.stdout.write(`${JSON.stringify(rows)}\n`);
}

/** Issue 3: train() (livegrad-rx) as a share of the bare loop (livegrad), in %. */
const RX_TARGETS: Readonly<Partial<Record<WorkloadId, number>>> = { W1: 50, W2: 95 };

/** Issue 14: livegrad ÷ numpy in the same run, as a factor. */
const NUMPY_TARGETS: Readonly<Partial<Record<WorkloadId, number>>> = { W2: 1.2, W3: 0.6 };

/** The livegrad rows held against numpy, each with its ratio on the numpy line: one per kernel choice (livegrad.ts). */
const NUMPY_CONTENDERS: readonly string[] = Object.keys(LIVEGRAD_IMPLS);

/** Median over the rounds of a's rate ÷ b's rate in the same round (as measure.ts pairs them with livegrad). */
const pairedRatio = (a: Measurement, b: Measurement): number => median(a.rates.map((x, r) => x / b.rates[r]!));

interface NumpyRatio {
  readonly workload: WorkloadId;
  readonly impl: string;
  readonly ratio: number;
  readonly target: number | undefined;
}

function numpyRatios(measured: ReadonlyMap<WorkloadId, readonly Measurement[]>): NumpyRatio[] {
  const out: NumpyRatio[] = [];
  for (const [id, rows] of measured) {
    const numpy = rows.find((r) => r.impl === 'numpy');
    if (!numpy) continue;
    for (const impl of NUMPY_CONTENDERS) {
      const row = rows.find((r) => r.impl === impl);
      if (row) out.push({ workload: id, impl, ratio: pairedRatio(row, numpy), target: NUMPY_TARGETS[id] });
    }
  }
  return out;
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(2)} MB`;

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c >= 2 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ')).join('\n');
}

function heapLines(h: HeapReport): string[] {
  const grown = h.afterSteps - h.before;
  const gcs = h.gcsDuringSteps === 0 ? 'no GC ran during the steps' : `${h.gcsDuringSteps} GC(s) ran during the steps`;
  const lines = [
    `heap, W2 livegrad createStepper, ${fmt(h.steps)} steps${h.gcExposed ? ' (heapUsed after a forced full GC)' : ' (no --expose-gc: heapUsed without a forced GC)'}:`,
    `  heapUsed before ${mb(h.before)}, right after ${mb(h.afterSteps)} (${fmt(grown / h.steps, 1)} B/step, ${gcs}), after GC ${mb(h.afterGc)}`,
    `  sampled allocation: ${fmt(h.sampledBytesPerStep, 1)} B/step${h.sampledBytesPerStep < 1 ? ' (steady-state step allocates nothing)' : ''}`,
  ];
  for (const [site, bytes] of h.sites) lines.push(`    ${fmt(bytes, 1).padStart(6)} B/step  ${site}`);
  return lines;
}

async function check(o: Options, numpy: boolean): Promise<void> {
  for (const id of o.only) {
    const w = WORKLOADS[id];
    const steps = CHECK_STEPS[id];
    const losses: [string, number][] = [];
    for (const runner of runnersOf([id], o, numpy)) {
      const t = await runner.setup(w);
      await t.run(steps);
      losses.push([runner.impl, await t.loss()]);
      t.dispose?.();
    }
    const ref = losses[0]?.[1] ?? NaN;
    const parts = losses.map(([impl, l]) => `${impl} ${l.toPrecision(7)} (${((l - ref) / ref).toExponential(1)})`);
    console.log(`${id}: loss at step ${steps}: ${parts.join(', ')}`);
  }
}

/** The server benchmarks of issue 4: a table of lines, or with --json one object per line. */
async function serverBenchmarks(o: Options, info: (line: string) => void, progress: (line: string) => void): Promise<void> {
  progress('core sharing: the W2 stepper alone and beside a busy core …');
  const cores = await benchCoreSharing();
  const as: StreamedResult[] = [];
  const bs: LatencyResult[] = [];
  for (const trainingThreads of [true, false]) {
    progress(`server (a): W2 streamed from a producer process${trainingThreads ? ' and through the client library' : ''}, ${trainingThreads ? 'threads' : 'inline'} …`);
    as.push(await benchStreamedW2({ trainingThreads, client: trainingThreads }));
  }
  for (const trainingThreads of [true, false]) {
    progress(`server (b): batch → step latency at 100 batches/s, ${trainingThreads ? 'threads' : 'inline'} …`);
    bs.push(await benchStepLatency({ trainingThreads }));
  }
  progress('server (c): 1,000 subscribers at 50 Hz …');
  const c = await benchFanout();
  if (o.json) {
    console.log(JSON.stringify({ bench: 'core-sharing', alone_samples_per_s: Math.round(cores.aloneSamplesPerSecond), shared_samples_per_s: Math.round(cores.sharedSamplesPerSecond), ratio: cores.ratio }));
    for (const a of as) {
      console.log(JSON.stringify({ workload: 'W2', impl: 'livegrad-streamed', training_threads: a.trainingThreads, samples_per_s: Math.round(a.streamedSamplesPerSecond * 10) / 10, in_process_samples_per_s: Math.round(a.inProcessSamplesPerSecond * 10) / 10, ratio: a.ratio, pipeline_samples_per_s: Math.round(a.pipelineSamplesPerSecond * 10) / 10, pipeline_ratio: a.pipelineRatio }));
      if (a.client) console.log(JSON.stringify({ workload: 'W2', impl: 'livegrad-client-stream', training_threads: a.trainingThreads, samples_per_s: Math.round(a.client.samplesPerSecond * 10) / 10, ratio: a.client.ratio, producer_cpu: a.client.cpu }));
    }
    for (const b of bs) console.log(JSON.stringify({ bench: 'step-latency', training_threads: b.trainingThreads, batches_per_s: b.batchesPerSecond, p50_ms: b.p50Ms, p99_ms: b.p99Ms, max_ms: b.maxMs, count: b.count }));
    console.log(JSON.stringify({ bench: 'fanout', subscribers: c.subscribers, hz: c.hz, cpu_percent: c.cpuPercent, rss_bytes: c.rssBytes, heap_used_bytes: c.heapUsedBytes, min_delivered: c.minDelivered }));
    return;
  }
  info(formatCoreSharing(cores));
  for (const line of formatServerBench(as, bs, c)) info(line);
}

/** The recording benchmarks: lines, or with --json one object per line. */
async function recordBenchmarks(o: Options, info: (line: string) => void, progress: (line: string) => void): Promise<void> {
  const as: (RecordedStreamResult | string)[] = [];
  for (const trainingThreads of [true, false]) {
    progress(`record (a): W2 streamed into servers recording with fsync batch and always, and one not recording, ${trainingThreads ? 'threads' : 'inline'} …`);
    as.push(await benchRecordedStream({ trainingThreads }));
  }
  progress('record (b), (c): replay --verify of 20 epochs of W2 beside the bare stepper; reading the log …');
  const b = await benchReplay();
  progress('record (d): a log of 1 GB written, then replayed in a child process …');
  const d = await benchBigReplay();
  if (o.json) for (const line of recordBenchJson(as, b, d)) console.log(JSON.stringify(line));
  else for (const line of formatRecordBench(as, b, d)) info(line);
}

/** The options, or undefined once `--help` was printed or a wrong option was told (exit code set). */
function options(): Options | undefined {
  try {
    const o = parseArgs(process.argv.slice(2));
    if (o.help) console.log(USAGE);
    return o.help ? undefined : o;
  } catch (e) {
    if (!(e instanceof TypeError || e instanceof RangeError)) throw e;
    console.error(`bench: ${e.message}\n\n${USAGE}`);
    process.exitCode = 2;
    return undefined;
  }
}

async function main(): Promise<void> {
  const o = options();
  if (o === undefined) return;
  const info = (line: string): void => {
    (o.json ? console.error : console.log)(line);
  };
  const progress = (line: string): void => {
    if (!o.json) process.stderr.write(`  ${line}\n`);
  };
  // the numpy peer: python3 with numpy, or one line saying why not
  const probe = selectRunners(o.only, o.impls).some((r) => r.impl === 'numpy') ? probeNumpy() : undefined;
  const numpy = probe?.ok === true;
  if (o.check) {
    if (probe && !probe.ok) info(numpyLine(probe));
    return check(o, numpy);
  }
  const usesWasm = selectRunners(o.only, o.impls).some((r) => r.impl === 'tfjs-wasm');
  info(`livegrad bench: node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}${usesWasm ? `, tfjs-wasm ${await tfWasmFeatures()}` : ''}`);
  if (probe) info(numpyLine(probe));
  if (numpy) {
    progress('numpy: its losses against livegrad\'s, step by step …');
    const checks = [];
    for (const id of o.only) checks.push(await checkLosses(WORKLOADS[id], CHECK_STEPS[id]));
    info(lossCheckLine(checks));
  }
  info(`${o.runs} rounds of interleaved runs of ~${o.runSeconds} s after ${o.warmupSeconds} s warm-up; throughput: median; ratio = livegrad ÷ impl, median of the per-round ratios`);

  const rows: string[][] = [['workload', 'impl', 'throughput', 'unit', 'spread', 'livegrad ÷']];
  const pipeline: string[] = []; // livegrad-rx against its targets
  const measured = new Map<WorkloadId, Measurement[]>();
  const t0 = performance.now();
  for (const id of o.only) {
    const w = WORKLOADS[id];
    if (runnersOf([id], o, numpy).length === 0) continue;
    const results = measureInChild(id, numpy);
    measured.set(id, results);
    for (const r of results) {
      if (o.json) {
        console.log(JSON.stringify({ workload: id, impl: r.impl, samples_per_s: Math.round(r.perSecond * 10) / 10 }));
        continue;
      }
      const spread = (Math.max(...r.rates) - Math.min(...r.rates)) / r.perSecond;
      rows.push([`${id} ${w.name}`, r.impl, fmt(r.perSecond), w.throughput, `±${fmt(50 * spread)}%`, r.livegradRatio === undefined ? '-' : `${fmt(r.livegradRatio, 2)}×`]);
      if (r.impl === 'livegrad-rx' && r.livegradRatio !== undefined) pipeline.push(`${id} ${fmt(100 / r.livegradRatio, 1)} % (target ≥ ${RX_TARGETS[id]} %)`);
    }
  }
  if (!o.json) console.log(`\n${table(rows)}\n`);
  if (pipeline.length > 0) info(`train() ÷ the bare loop (livegrad-rx ÷ livegrad, median of the per-round ratios): ${pipeline.join(', ')}`);
  const ratios = numpyRatios(measured);
  if (o.json) for (const q of ratios) console.log(JSON.stringify({ bench: 'numpy-ratio', workload: q.workload, impl: q.impl, ratio: Math.round(q.ratio * 1000) / 1000, ...(q.target === undefined ? {} : { target: q.target }) }));
  else if (ratios.length > 0) {
    const parts = ratios.map((q) => `${q.workload} ${q.impl} ${fmt(q.ratio, 2)}×${q.target === undefined ? '' : ` (target ≥ ${q.target}×)`}`);
    info(`livegrad ÷ numpy (median of the per-round ratios): ${parts.join(', ')}`);
    const clocks = [...measured].flatMap(([id, rs]) => rs.filter((r): r is NumpyMeasurement => r.impl === 'numpy').map((r) => `${id} ${fmt(r.benchClockPerSecond)} (${fmt(100 * (r.benchClockPerSecond / r.perSecond - 1), 1)} %)`));
    info(`  numpy's rows: its own clock around its training loop; by the bench's clock around each run (pipe round trip and thread start included): ${clocks.join(', ')}`);
  }
  const w2Livegrad = o.only.includes('W2') && (!o.impls || o.impls.includes('livegrad'));
  if (o.heap && w2Livegrad) {
    const { alone, beside } = heapInChild();
    for (const line of heapLines(alone)) info(line);
    info(`  the same check again in that process, with a second stepper: ${fmt(beside.sampledBytesPerStep, 1)} B/step sampled (once the same code has called two steppers' kernels, V8 no longer inlines those calls: see docs/kernels.md)`);
  }
  if (o.accuracy && w2Livegrad) {
    info(`W2 livegrad train accuracy after 20 epochs: ${(100 * digitsTrainAccuracy(WORKLOADS.W2, 20)).toFixed(2)}% (workload expects > 95%)`);
  }
  if (o.server) await serverBenchmarks(o, info, progress);
  if (o.record) await recordBenchmarks(o, info, progress);
  info(`bench took ${fmt((performance.now() - t0) / 1000, 1)} s`);
}

const code = respawnWithGc();
if (code !== undefined) process.exit(code);
const child = process.env[WORKLOAD_ENV];
if (process.env[HEAP_ENV] === '1') {
  const alone = await heapCheck();
  const beside = await heapCheck();
  process.stdout.write(`${JSON.stringify({ alone, beside })}\n`);
} else if (child === undefined) await main();
else await measureOne(child as WorkloadId);
