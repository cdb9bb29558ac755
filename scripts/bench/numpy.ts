/**
 * numpy as a peer: the workloads' networks as hand-written backprop in numpy float32
 * (`numpy.py` beside this file), in a python child process per trainer. The child gets the same
 * initial weights (`workload.model()`) and the same batches, in the same order, as livegrad: they
 * are drawn here from `workload.batches()` and written as raw little-endian files into a temporary
 * directory, which the child reads once and which is deleted as soon as it is ready. A run sends
 * `run N` on the child's stdin and waits for its answer, so the bench measures it in the same
 * interleaved rounds as every other impl; the child times its own training loop (`perf_counter`)
 * and answers with that time, which the bench's numpy rows use (`onPythonClock`) instead of its
 * clock around the round trip. Between runs the child stops OpenBLAS' threads (see numpy.py), so
 * that they do not spin on a core while the next impl runs.
 *
 * The child's environment is the bench's without `OPENBLAS_CORETYPE` and `OPENBLAS_L2_SIZE` (the
 * host sets them; they throttle OpenBLAS); its thread count is OpenBLAS' default, one per core.
 * `LIVEGRAD_BENCH_PYTHON` names the python to run (default `python3`).
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { livegradTrainer } from './livegrad.js';
import { median, type Measurement } from './measure.js';
import type { Runner, Trainer } from './registry.js';
import { WORKLOAD_IDS, digits, type Workload, type WorkloadId } from './workloads.js';

const SCRIPT = fileURLToPath(new URL('./numpy.py', import.meta.url));

/** Unset for the child alone: they throttle OpenBLAS on this host. */
export const OPENBLAS_UNSET: readonly string[] = ['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE'];

/** The python the bench runs: `LIVEGRAD_BENCH_PYTHON`, else `python3` on the PATH. */
export function pythonExecutable(env: NodeJS.ProcessEnv = process.env): string {
  return env['LIVEGRAD_BENCH_PYTHON'] || 'python3';
}

function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of OPENBLAS_UNSET) delete env[name];
  return env;
}

/** What the child reports about itself: numpy's version and the BLAS it runs. */
export interface NumpyInfo {
  readonly numpy: string;
  /** e.g. OpenBLAS' `openblas_get_config()`: "OpenBLAS 0.3.31 … DYNAMIC_ARCH … SkylakeX MAX_THREADS=64". */
  readonly blas: string;
  /** OpenBLAS' thread count; null when numpy's BLAS is not OpenBLAS. */
  readonly threads: number | null;
  readonly library: string | null;
  /** The `OPENBLAS_*` variables the child saw (OPENBLAS_UNSET never among them). */
  readonly openblas_env: Readonly<Record<string, string>>;
}

export type NumpyProbe = ({ readonly ok: true } & NumpyInfo) | { readonly ok: false; readonly reason: string };

/** Whether `python` can run the numpy peer, and on what BLAS. Synchronous: a second or less. */
export function probeNumpy(python = pythonExecutable()): NumpyProbe {
  const r = spawnSync(python, [SCRIPT, 'probe'], { env: childEnv(), encoding: 'utf8', timeout: 30_000 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    return { ok: false, reason: code === 'ENOENT' ? `${python} not found` : `${python} did not run (${r.error.message})` };
  }
  if (r.status !== 0) {
    const last = r.stderr.trim().split('\n').at(-1) ?? '';
    return { ok: false, reason: /No module named '?numpy'?/.test(r.stderr) ? `${python} has no numpy (${last})` : `${python} ${SCRIPT} probe exited with ${r.status ?? r.signal}: ${last}` };
  }
  return { ok: true, ...(JSON.parse(r.stdout) as NumpyInfo) };
}

/** The bench's line about the peer: what it runs on, or why it was skipped. */
export function numpyLine(p: NumpyProbe): string {
  if (!p.ok) return `numpy peer skipped: ${p.reason}`;
  const threads = p.threads === null ? 'threads as its BLAS sets them' : `${p.threads} thread${p.threads === 1 ? '' : 's'} (OpenBLAS' default: one per core)`;
  const env = Object.entries(p.openblas_env).map(([k, v]) => `${k}=${v}`);
  return `numpy peer: numpy ${p.numpy}, ${p.blas}, ${threads}; ${OPENBLAS_UNSET.join(' and ')} unset for it${env.length > 0 ? `, its environment has ${env.join(' ')}` : ''}`;
}

/**
 * How many of a workload's batches the child gets; it cycles through them. W1 has one batch and
 * W3 a pool of 8; W2 is reshuffled every epoch, so it gets 4 epochs' worth (57 batches each, the
 * last of 5 rows), after which it repeats them where livegrad draws new orders: the same work.
 */
function batchCount(w: Workload): number {
  switch (w.id) {
    case 'W1': return 1;
    case 'W2': return 4 * Math.ceil(digits().rows / w.batch);
    case 'W3': return 8;
  }
}

const f32 = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const i32 = (a: Int32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Writes the workload's initial weights and its first `count` batches into `dir`, as numpy.py reads them. */
function writeWorkload(w: Workload, dir: string, count: number): void {
  const [nin, , nout] = w.sizes;
  const model = w.model();
  const [l0, l1] = [model.layers[0]!, model.layers[1]!];
  writeFileSync(path.join(dir, 'spec.json'), JSON.stringify({ id: w.id, sizes: w.sizes, hidden: w.hidden, loss: w.loss, lr: w.lr }));
  writeFileSync(path.join(dir, 'w1.f32'), f32(Float32Array.from(l0.w)));
  writeFileSync(path.join(dir, 'b1.f32'), f32(Float32Array.from(l0.b)));
  writeFileSync(path.join(dir, 'w2.f32'), f32(Float32Array.from(l1.w)));
  writeFileSync(path.join(dir, 'b2.f32'), f32(Float32Array.from(l1.b)));
  const batches = w.batches();
  const rows = new Int32Array(count);
  const x: Uint8Array[] = [], y: Uint8Array[] = [], labels: Uint8Array[] = [];
  for (let b = 0; b < count; b++) {
    const m = batches.next();
    rows[b] = m;
    x.push(f32(batches.x.slice(0, m * nin)));
    y.push(f32(batches.onehot.slice(0, m * nout)));
    labels.push(i32(batches.labels.slice(0, m)));
  }
  writeFileSync(path.join(dir, 'rows.i32'), i32(rows));
  writeFileSync(path.join(dir, 'x.f32'), Buffer.concat(x));
  writeFileSync(path.join(dir, 'y.f32'), Buffer.concat(y));
  writeFileSync(path.join(dir, 'labels.i32'), Buffer.concat(labels));
}

/** numpy.py's answer to `run N` / `losses N`; `seconds` is its own clock around the training loop. */
export interface RunReply {
  readonly steps: number;
  readonly samples: number;
  readonly seconds: number;
  readonly loss: number;
  readonly losses?: number[];
}

/** A numpy.py child serving one workload; `request` sends a command line and resolves with its JSON answer. */
class NumpyChild {
  readonly info: Promise<NumpyInfo>;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting: { resolve: (v: unknown) => void; reject: (e: Error) => void }[] = [];
  private stderr = '';
  private exited: Error | undefined;

  constructor(w: Workload, python: string) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'livegrad-numpy-'));
    try {
      writeWorkload(w, dir, batchCount(w));
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    this.child = spawn(python, [SCRIPT, 'serve', dir], { env: childEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.setEncoding('utf8').on('data', (s: string) => {
      this.stderr = (this.stderr + s).slice(-4000);
    });
    createInterface({ input: this.child.stdout }).on('line', (line) => this.waiting.shift()?.resolve(JSON.parse(line)));
    const fail = (e: Error): void => {
      this.exited ??= e;
      for (const p of this.waiting.splice(0)) p.reject(e);
    };
    this.child.on('error', fail);
    this.child.on('exit', (code, signal) => fail(new Error(`Expected the numpy peer (${python} numpy.py serve) to keep running, got exit ${code ?? signal}: ${this.stderr.trim()}`)));
    this.info = this.next<NumpyInfo>().finally(() => rmSync(dir, { recursive: true, force: true }));
  }

  private next<T>(): Promise<T> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise<T>((resolve, reject) => this.waiting.push({ resolve: resolve as (v: unknown) => void, reject }));
  }

  request(line: string): Promise<RunReply> {
    const reply = this.next<RunReply>();
    this.child.stdin.write(`${line}\n`);
    return reply;
  }

  close(): void {
    this.child.stdin.end();
  }
}

/** A numpy trainer, which also gives each step's loss. */
export interface NumpyTrainer extends Trainer {
  readonly info: NumpyInfo;
  /** Runs `steps` steps and returns each one's loss (the batch's loss before its update). */
  losses(steps: number): Promise<number[]>;
}

/**
 * Starts a numpy.py child for the workload and waits until it has loaded it.
 * @param onRun  gets the child's answer to every run, warm-up included, in order (its own clock).
 */
export async function numpyTrainer(w: Workload, python = pythonExecutable(), onRun?: (r: RunReply) => void): Promise<NumpyTrainer> {
  const child = new NumpyChild(w, python);
  let info: NumpyInfo;
  try {
    info = await child.info;
  } catch (e) {
    child.close();
    throw e;
  }
  let last = NaN;
  const run = async (line: string): Promise<RunReply> => {
    const r = await child.request(line);
    last = r.loss;
    onRun?.(r);
    return r;
  };
  return {
    info,
    run: async (steps) => (await run(`run ${steps}`)).samples,
    loss: () => last,
    losses: async (steps) => (await run(`losses ${steps}`)).losses ?? [],
    dispose: () => child.close(),
  };
}

export const numpyRunners: Runner[] = WORKLOAD_IDS.map((id) => ({
  workload: id,
  impl: 'numpy',
  setup: (w: Workload) => numpyTrainer(w),
}));

/** Largest relative difference allowed between numpy's loss and livegrad's at any step of the check. */
export const LOSS_TOLERANCE = 1e-5;

export interface LossCheck {
  readonly workload: WorkloadId;
  readonly steps: number;
  /** Largest |numpy − livegrad| ÷ |livegrad| over the steps, and the step (1-based) where it fell. */
  readonly maxRelative: number;
  readonly atStep: number;
  readonly numpy: readonly number[];
  readonly livegrad: readonly number[];
}

/**
 * numpy's loss trajectory against livegrad's: both start from the workload's weights and train
 * `steps` steps on its batches.
 * @param livegrad  the livegrad trainer to hold numpy against; by default the bench's `livegrad` row's.
 */
export async function checkLosses(w: Workload, steps: number, python = pythonExecutable(), livegrad: (w: Workload) => Trainer = livegradTrainer): Promise<LossCheck> {
  const t = await numpyTrainer(w, python);
  let numpy: number[];
  try {
    numpy = await t.losses(steps);
  } finally {
    t.dispose?.();
  }
  const lg = livegrad(w);
  const reference: number[] = [];
  try {
    for (let s = 0; s < steps; s++) {
      await lg.run(1);
      reference.push(await lg.loss());
    }
  } finally {
    lg.dispose?.();
  }
  let maxRelative = 0, atStep = 0;
  reference.forEach((l, s) => {
    const r = Math.abs(numpy[s]! - l) / Math.abs(l);
    if (!(r <= maxRelative)) [maxRelative, atStep] = [r, s + 1]; // NaN counts as the largest
  });
  return { workload: w.id, steps, maxRelative, atStep, numpy, livegrad: reference };
}

/** Steps of the bench's loss check, as for `--check`: W3's steps are slow for the slow peers. */
export const CHECK_STEPS: Readonly<Record<WorkloadId, number>> = { W1: 50, W2: 50, W3: 5 };

/** The check's line; throws when a workload is over the tolerance. */
export function lossCheckLine(checks: readonly LossCheck[]): string {
  const bad = checks.find((c) => !(c.maxRelative <= LOSS_TOLERANCE));
  if (bad) {
    const s = bad.atStep - 1;
    throw new Error(`Expected numpy's ${bad.workload} loss to equal livegrad's within ${LOSS_TOLERANCE} (relative) at every step, got ${bad.numpy[s]} against ${bad.livegrad[s]} at step ${bad.atStep}`);
  }
  const parts = checks.map((c) => `${c.workload} ${c.steps} steps, at most ${c.maxRelative.toExponential(1)}`);
  return `numpy's loss against livegrad's, step by step from the same weights and batches (relative difference): ${parts.join('; ')} (tolerance ${LOSS_TOLERANCE.toExponential(0)})`;
}

/** numpy's own measurement beside the bench's: the rates of its own clock, and the bench's median. */
export interface NumpyMeasurement extends Measurement {
  /** The median rate by the bench's clock around `run()` (the pipe round trip and thread start included). */
  readonly benchClockPerSecond: number;
}

/**
 * Replaces the rates of numpy's measurement, taken by the bench's clock around each `run()`, with
 * those of the child's own clock around its training loop (`runs`: its answers to the measured
 * runs, in order), and its ratio to livegrad with the median of the per-round ratios to those.
 */
export function onPythonClock(m: Measurement, runs: readonly RunReply[], w: Workload, livegrad: Measurement | undefined): NumpyMeasurement {
  if (runs.length !== m.rates.length) throw new RangeError(`Expected an answer from numpy for each of its ${m.rates.length} measured runs, got ${runs.length}`);
  const rates = runs.map((r) => (w.throughput === 'steps/s' ? r.steps : r.samples) / r.seconds);
  return {
    ...m,
    perSecond: median(rates),
    rates,
    livegradRatio: livegrad === undefined ? undefined : median(rates.map((x, r) => livegrad.rates[r]! / x)),
    benchClockPerSecond: m.perSecond,
  };
}
