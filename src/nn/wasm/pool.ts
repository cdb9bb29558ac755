/**
 * A second thread for large products: one `worker_threads` worker with its own instance of the
 * kernels over the stepper's shared memory, so handing it half a product copies nothing.
 *
 * The hand-off is a few words in a SharedArrayBuffer: the caller writes the kernel's index and
 * arguments, bumps `seq` and notifies; the worker runs the kernel on its half (a column or row
 * range, see `abi.ts`), stores `seq` in `done` and notifies; the caller, having run its own half
 * meanwhile, waits for `done`. Both sides spin briefly before they sleep in `Atomics.wait`:
 * waking a sleeping thread costs ~30–150 µs here, a spinning one under 1 µs, and the products of
 * one step come a few µs apart. A worker that has seen no work for SPIN_MS sleeps: no core is
 * burned while nothing trains.
 *
 * Whether a product is split is decided per call by its size (`splitAt`): a hand-off costs about a
 * microsecond even when hot, and below SPLIT_MIN_WORK multiply-adds one thread is as fast.
 * Splitting never changes a result: every output element is computed whole by one thread, in the
 * order `abi.ts` fixes.
 *
 * And by how the last hand-offs went (`splitting`): on a host whose other CPU is busy (another
 * process, another session's thread) the worker is not running when its half is due, and the caller
 * waits a scheduler's time slice for it: two threads then take several times as long as one. A pool
 * whose worker finished its half so late that one thread would have been as fast, on BAD_IN_A_ROW hand-offs
 * in a row stops splitting for the next BACKOFF_CALLS products, then tries again (a new worker's
 * first WARMUP_HANDOFFS hand-offs do not count).
 */
import { KERNEL_NAMES, type KernelExports } from './abi.js';

type KernelName = keyof KernelExports;

/** Below this many multiply-adds a product stays on the calling thread. */
export const SPLIT_MIN_WORK = 1 << 18;
/** How long an idle thread (worker or caller) spins before it sleeps. */
export const SPIN_MS = 0.3;
/** Hand-offs in a row whose worker finished well after the caller (see above) before the pool stops splitting. */
export const BAD_IN_A_ROW = 8;
/**
 * Hand-offs a new worker is given before its lateness counts: the first waits for the thread to
 * start, and the next few run code the worker's V8 has not optimized yet (measured: a back-off at
 * every start on a quiet host, without this).
 */
export const WARMUP_HANDOFFS = 64;
/** Products it then leaves to the caller alone, before it tries the worker again. */
export const BACKOFF_CALLS = 500;
/** A worker that has not finished its half after this long is taken for dead (no product takes seconds). */
const WAIT_LIMIT_MS = 60_000;

/**
 * The split point of a product of `work` multiply-adds over `columns` output columns (or rows):
 * the calling thread takes [0, at), the worker [at, columns); undefined when it is not worth it.
 * `at` is a multiple of 8, as the kernels' ranges require.
 */
export function splitAt(work: number, columns: number): number | undefined {
  if (work < SPLIT_MIN_WORK || columns < 16) return undefined;
  return Math.round(columns / 16) * 8;
}

// control words (Int32Array indices), then 16 float64 arguments from byte 64
const SEQ = 0, DONE = 1, OP = 2, STOP = 3, FAILED = 4;
const ARGS_AT = 64, ARGS = 16, RESULT_AT = ARGS_AT + 8 * ARGS;

interface WorkerLike {
  terminate(): Promise<number>;
  unref(): void;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'exit', listener: (code: number) => void): unknown;
}
interface WorkerThreads {
  Worker: new (code: string, options: { eval: true; workerData: unknown }) => WorkerLike;
}

/** A Node built-in module, read without a static import (this module is also bundled for browsers, which get undefined). */
function builtin(id: string): unknown {
  const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return p?.getBuiltinModule?.(id);
}

const workerThreads = (): WorkerThreads | undefined => builtin('node:worker_threads') as WorkerThreads | undefined;

/** The default thread count of a stepper: 2 where worker_threads exist and the machine has two or more CPUs, else 1. */
export function defaultThreads(): number {
  const os = builtin('node:os') as { availableParallelism?: () => number } | undefined;
  if (workerThreads() === undefined || os?.availableParallelism === undefined) return 1;
  return Math.min(2, os.availableParallelism());
}

/** The worker's program (plain JS: it runs as an eval'd worker, the same from source, dist or a bundle). */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, control, names, spinMs } = workerData;
const instance = new WebAssembly.Instance(module, { env: { memory, abort() { throw new Error('a WebAssembly kernel aborted'); } } });
const kernels = names.map((name) => instance.exports[name]);
const ctrl = new Int32Array(control, 0, 16);
const a = new Float64Array(control, ${ARGS_AT}, ${ARGS});
const result = new Float64Array(control, ${RESULT_AT}, 1);
let seen = 0;
for (;;) {
  let s = Atomics.load(ctrl, ${SEQ});
  if (s === seen) {
    const until = performance.now() + spinMs;
    for (let i = 1; (s = Atomics.load(ctrl, ${SEQ})) === seen; i++) if ((i & 255) === 0 && performance.now() > until) break;
    if (s === seen) { Atomics.wait(ctrl, ${SEQ}, seen); continue; }
  }
  seen = s;
  if (Atomics.load(ctrl, ${STOP}) === 1) break;
  try {
    const r = kernels[ctrl[${OP}]](a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15]);
    result[0] = typeof r === 'number' ? r : 0;
  } catch (err) {
    Atomics.store(ctrl, ${FAILED}, 1);
    Atomics.store(ctrl, ${DONE}, s);
    Atomics.notify(ctrl, ${DONE});
    throw err;
  }
  Atomics.store(ctrl, ${DONE}, s);
  Atomics.notify(ctrl, ${DONE});
}
`;

/** One worker computing halves of products in `memory`. Started on the first `start`, stopped by `close`. */
export class KernelPool {
  private readonly control = new SharedArrayBuffer(RESULT_AT + 8);
  private readonly resultCell = new Float64Array(this.control, RESULT_AT, 1);
  private readonly ctrl = new Int32Array(this.control, 0, 16);
  private readonly args = new Float64Array(this.control, ARGS_AT, ARGS);
  private worker: WorkerLike | undefined;
  private failure: Error | undefined;
  private seq = 0;
  private closed = false;
  /** When the work last started (performance.now()), and the back-off's state (see the module comment). */
  private startedAt = 0;
  private badInARow = 0;
  private handoffs = 0;
  private backoff = 0;
  /** Hand-offs the back-off made the caller skip, and times it backed off (for tests and the bench). */
  skipped = 0;
  backoffs = 0;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    private readonly module: WebAssembly.Module,
    private readonly memory: WebAssembly.Memory,
  ) {}

  /**
   * Whether the next product should be split: false while the pool backs off from a worker that was
   * late (see the module comment). Each call that answers false counts toward the back-off's end.
   */
  splitting(): boolean {
    if (this.backoff === 0) return true;
    this.backoff--;
    this.skipped++;
    return false;
  }

  /** Hands `kernel(...args)` to the worker; `wait()` must follow before the next start. */
  start(kernel: KernelName, args: readonly number[]): void {
    if (this.closed) throw new Error('Expected an open kernel pool, got one already closed');
    this.worker ??= this.spawn();
    this.ctrl[OP] = KERNEL_NAMES.indexOf(kernel);
    // every slot: a kernel is called with all of them, and one left out must read 0, as a direct call's does
    for (let i = 0; i < ARGS; i++) this.args[i] = i < args.length ? args[i]! : 0;
    this.seq = (this.seq + 1) | 0;
    Atomics.store(this.ctrl, SEQ, this.seq);
    Atomics.notify(this.ctrl, SEQ);
    this.startedAt = performance.now();
  }

  /** Until the worker has finished the work last started. Throws when the worker failed. */
  wait(): void {
    const began = performance.now();
    if (Atomics.load(this.ctrl, DONE) !== this.seq || Atomics.load(this.ctrl, FAILED) === 1) this.waitLong(began);
    // the back-off: a worker that keeps finishing well after the caller is not getting a CPU
    if (++this.handoffs <= WARMUP_HANDOFFS) return;
    // late: the caller waited longer than its own half took, so the split took longer than the caller
    // alone would have. A worker merely slower than the caller (a vCPU shared with another tenant:
    // measured at 60 % speed at times) still pays, and is kept.
    const own = began - this.startedAt, waited = performance.now() - began;
    if (waited > own && waited > 0.05) {
      if (++this.badInARow >= BAD_IN_A_ROW) {
        this.badInARow = 0;
        this.backoff = BACKOFF_CALLS;
        this.backoffs++;
      }
    } else this.badInARow = 0;
  }

  private waitLong(began: number): void {
    for (let i = 1; Atomics.load(this.ctrl, DONE) !== this.seq; i++) {
      if ((i & 255) !== 0) continue;
      const now = performance.now();
      if (now - began < SPIN_MS) continue;
      // NOTE: a worker's 'error' event cannot arrive while this thread blocks here: a kernel that
      // throws reports FAILED itself, and a worker that never answers is given up after WAIT_LIMIT_MS
      if (Atomics.load(this.ctrl, FAILED) === 1 || now - began > WAIT_LIMIT_MS) break;
      const done = Atomics.load(this.ctrl, DONE);
      if (done !== this.seq) Atomics.wait(this.ctrl, DONE, done, 10);
    }
    if (Atomics.load(this.ctrl, DONE) !== this.seq || Atomics.load(this.ctrl, FAILED) === 1) {
      const why = Atomics.load(this.ctrl, FAILED) === 1 ? 'a kernel threw' : `no answer in ${WAIT_LIMIT_MS / 1000} s`;
      void this.close();
      throw new Error(`livegrad: the kernel pool's worker failed (${why}${this.failure ? `: ${this.failure.message}` : ''})`);
    }
  }

  /** What the kernel last waited for returned (0 for one that returns nothing): read after `wait()`. */
  result(): number {
    return this.resultCell[0]!;
  }

  /** Stops the worker (if it started); resolves once its thread has exited. Idempotent. */
  close(): Promise<void> {
    if (this.closed) return this.exited;
    this.closed = true;
    if (this.worker !== undefined) {
      Atomics.store(this.ctrl, STOP, 1);
      Atomics.store(this.ctrl, SEQ, (this.seq + 1) | 0);
      Atomics.notify(this.ctrl, SEQ);
      this.exited = this.worker.terminate().then(() => undefined);
      this.worker = undefined;
    }
    return this.exited;
  }

  /** Whether a worker is running (for tests). */
  get running(): boolean {
    return this.worker !== undefined;
  }

  private spawn(): WorkerLike {
    const wt = workerThreads();
    if (wt === undefined) throw new Error('Expected worker_threads for a kernel pool (threads > 1 needs Node)');
    const worker = new wt.Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { module: this.module, memory: this.memory, control: this.control, names: KERNEL_NAMES, spinMs: SPIN_MS },
    });
    // a stepper nobody closed must not keep the process alive
    worker.unref();
    worker.on('error', (err) => {
      this.failure = err;
    });
    worker.on('exit', (code) => {
      if (!this.closed) this.failure ??= new Error(`exited with code ${code}`);
    });
    return worker;
  }
}
