/**
 * Re-batching: rows arrive in chunks of any size and leave in batches of exactly `size`
 * rows (the last one, on flush, may be shorter). When nothing is held back, a chunk's whole
 * batches pass through without a copy (the chunk itself, or views of it); rows are copied only
 * to join a remainder to the next chunk's rows — or, for a caller that asks for them (`join`),
 * not at all: a batch of rows from several chunks leaves as ranges of those rows (`JoinedBatch`),
 * to be copied once, where they are needed.
 */
import { LivegradError } from '../errors.js';
import { allocate, copyRange, dtypeOf, type DType, type FloatArray, type Tensor } from '../nn/tensor.js';
import type { Batch } from '../nn/batch.js';

export class Rebatcher {
  private size: number;
  /** Arrays this re-batcher made (for merged batches), and those handed back by `recycle`. */
  private readonly made = new WeakSet<FloatArray>();
  private readonly pool: FloatArray[] = [];
  /** Chunks (or their remainders) holding the rows held back, oldest first. */
  private xs: Tensor[] = [];
  private ys: Tensor[] = [];
  /** Rows of xs[0] / ys[0] already emitted. */
  private taken = 0;
  private rows = 0;

  constructor(size: number) {
    this.size = checkSize(size);
  }

  get batchSize(): number {
    return this.size;
  }

  /** Rows held back, waiting for a full batch. */
  get pending(): number {
    return this.rows;
  }

  setBatchSize(size: number): void {
    this.size = checkSize(size);
  }

  /** Throws LivegradError E_SHAPE unless the chunk's x width and y layout match the rows held back. */
  check(chunk: Batch): void {
    const x0 = this.xs[0], y0 = this.ys[0];
    if (x0 === undefined || y0 === undefined) return;
    const { x, y } = chunk;
    // NOTE: numbers compared, the message built only on a mismatch: this runs on every chunk
    if (x.shape[1] === x0.shape[1] && y.shape.length === y0.shape.length && y.shape[1] === y0.shape[1]) return;
    throw new LivegradError('E_SHAPE', `Expected a chunk like the rows held back (${layout(x0, y0)}), got ${layout(x, y)}`);
  }

  /**
   * Adds a chunk (x [m, nin], y [m, nout] or [m]) and calls `emit` for every whole batch it
   * completes; `made` says the batch is a copy in arrays of this re-batcher's own (rows joined
   * across chunks), which `recycle` takes back: the others are the chunk or views of it.
   */
  push(chunk: Batch, emit: (batch: Batch, made: boolean) => void, join?: (batch: JoinedBatch) => void): void {
    const m = chunk.x.shape[0]!;
    if (m === 0) return;
    this.check(chunk);
    if (this.rows === 0 && m === this.size) {
      emit(chunk, false);
      return;
    }
    let rest = chunk;
    if (this.rows === 0 && m > this.size) {
      // whole batches of a large chunk go out as views of it, uncopied; only the remainder is held
      const whole = m - (m % this.size);
      for (let r = 0; r < whole; r += this.size) emit(rowsOf(chunk, r, r + this.size), false);
      if (whole === m) return;
      rest = rowsOf(chunk, whole, m);
    }
    this.xs.push(rest.x);
    this.ys.push(rest.y);
    this.rows += rest.x.shape[0]!;
    while (this.rows >= this.size) this.cut(this.size, emit, join);
  }

  /** A copy of the rows held back, as one chunk (undefined when none are): what a checkpoint keeps. */
  held(): Batch | undefined {
    if (this.rows === 0) return undefined;
    const x0 = this.xs[0]!, y0 = this.ys[0]!;
    const xw = x0.shape[1]!;
    const yw = y0.shape.length === 1 ? 1 : y0.shape[1]!;
    const x = allocate(x0.dtype, this.rows * xw);
    const y = allocate(y0.dtype, this.rows * yw);
    let filled = 0;
    this.xs.forEach((cx, i) => {
      const from = i === 0 ? this.taken : 0;
      const k = cx.shape[0]! - from;
      x.set(cx.data.subarray(from * xw, (from + k) * xw), filled * xw);
      y.set(this.ys[i]!.data.subarray(from * yw, (from + k) * yw), filled * yw);
      filled += k;
    });
    return {
      x: { dtype: x0.dtype, shape: [this.rows, xw], data: x },
      y: { dtype: y0.dtype, shape: y0.shape.length === 1 ? [this.rows] : [this.rows, yw], data: y },
    };
  }

  /** Emits what is left as a last, shorter batch (a copy, `made`, or, with `join`, a JoinedBatch). */
  flush(emit: (batch: Batch, made: boolean) => void, join?: (batch: JoinedBatch) => void): void {
    if (this.rows > 0) this.cut(this.rows, emit, join);
  }

  /** The next n rows held back as one batch: to `join` uncopied when given, else to `emit` as a copy. */
  private cut(n: number, emit: (batch: Batch, made: boolean) => void, join: ((batch: JoinedBatch) => void) | undefined): void {
    const parts = this.takeParts(n);
    if (join) join(new JoinedBatch(parts, n));
    else emit(this.copy(parts, n), true);
  }

  /**
   * Hands back a batch this re-batcher emitted, once nothing reads it any more: its arrays are
   * reused for the next merged batch. (Chunks passed through uncopied are not the re-batcher's
   * and are left alone.) The trainer recycles every batch it has trained.
   */
  recycle(batch: Batch): void {
    this.keep(batch.x.data);
    this.keep(batch.y.data);
  }

  private keep(a: FloatArray): void {
    if (this.pool.length < POOL_LIMIT && this.made.has(a)) this.pool.push(a);
  }

  /** A float array of this dtype and length: from the pool when one fits, else new. */
  private array(dtype: DType, length: number): FloatArray {
    for (let i = this.pool.length - 1; i >= 0; i--) {
      const a = this.pool[i]!;
      if (a.length === length && dtypeOf(a) === dtype) {
        this.pool[i] = this.pool[this.pool.length - 1]!; // the pool is unordered: no splice (it allocates)
        this.pool.pop();
        return a;
      }
    }
    const a = allocate(dtype, length);
    this.made.add(a);
    return a;
  }

  /** The next n rows held back, taken out, as ranges of the chunks they are in, in order. */
  private takeParts(n: number): RowRange[] {
    const parts: RowRange[] = [];
    let filled = 0;
    while (filled < n) {
      const x = this.xs[0]!, y = this.ys[0]!;
      const from = this.taken, left = x.shape[0]! - from;
      const k = Math.min(left, n - filled);
      parts.push({ x, y, from, to: from + k });
      filled += k;
      if (k === left) {
        this.xs.shift();
        this.ys.shift();
        this.taken = 0;
      } else {
        this.taken = from + k;
      }
    }
    this.rows -= n;
    return parts;
  }

  /** The n rows of `parts` copied together, into arrays of this re-batcher's own. */
  private copy(parts: readonly RowRange[], n: number): Batch {
    // NOTE: a merged batch is always fully written, so a pooled array needs no clearing
    return copied(parts, n, (dtype, length) => this.array(dtype, length));
  }
}

/**
 * Rows [from, to) of a chunk whose tensors are x and y: a part of a batch, not yet copied (and no
 * view made of it: a `subarray` costs an object, and W2's joined batches take two parts a step).
 */
export interface RowRange {
  readonly x: Tensor;
  readonly y: Tensor;
  readonly from: number;
  readonly to: number;
}

/**
 * A batch of rows from several chunks, not yet copied together: `parts` are ranges of those
 * chunks' rows, in order. `write` copies them where they are needed; reading `x` or `y` copies them
 * into arrays of the batch's own, once.
 */
export class JoinedBatch implements Batch {
  private joined: Batch | undefined;

  constructor(
    readonly parts: readonly RowRange[],
    readonly rows: number,
  ) {}

  get x(): Tensor {
    return this.join().x;
  }

  get y(): Tensor {
    return this.join().y;
  }

  /** Writes the rows into x [rows, nin] and y [rows, nout] or [rows], one after another. */
  write(x: FloatArray, y: FloatArray): void {
    copyRows(this.parts, x, y);
  }

  private join(): Batch {
    this.joined ??= copied(this.parts, this.rows, allocate);
    return this.joined;
  }
}

/** The n rows of `parts` copied together into arrays from `make`, as one batch laid out as they are. */
function copied(parts: readonly RowRange[], n: number, make: (dtype: DType, length: number) => FloatArray): Batch {
  const { x: x0, y: y0 } = parts[0]!;
  const x = make(x0.dtype, n * x0.shape[1]!);
  const y = make(y0.dtype, n * (y0.shape.length === 1 ? 1 : y0.shape[1]!));
  copyRows(parts, x, y);
  return batchOf(x0, y0, n, x, y);
}

/** The rows of `parts` into x and y, one after another. */
function copyRows(parts: readonly RowRange[], x: FloatArray, y: FloatArray): void {
  let xAt = 0, yAt = 0;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    const xw = p.x.shape[1]!, yw = p.y.shape.length === 1 ? 1 : p.y.shape[1]!;
    const k = p.to - p.from;
    copyRange(x, p.x.data, p.from * xw, k * xw, xAt);
    copyRange(y, p.y.data, p.from * yw, k * yw, yAt);
    xAt += k * xw;
    yAt += k * yw;
  }
}

/** A batch of n rows in x and y, laid out as the tensors x0 and y0. */
function batchOf(x0: Tensor, y0: Tensor, n: number, x: FloatArray, y: FloatArray): Batch {
  const yw = y0.shape.length === 1 ? 1 : y0.shape[1]!;
  return {
    x: { dtype: x0.dtype, shape: [n, x0.shape[1]!], data: x },
    y: { dtype: y0.dtype, shape: y0.shape.length === 1 ? [n] : [n, yw], data: y },
  };
}

/** "x [m, nin], y [m]" or "x [m, nin], y [m, nout]", for messages. */
function layout(x: Tensor, y: Tensor): string {
  return `x [m, ${x.shape[1]}], y ${y.shape.length === 1 ? '[m]' : `[m, ${y.shape[1]}]`}`;
}

/** Rows [from, to) of a chunk, as views of its arrays. */
function rowsOf(chunk: Batch, from: number, to: number): Batch {
  const { x, y } = chunk;
  const xw = x.shape[1]!, yw = y.shape.length === 1 ? 1 : y.shape[1]!;
  return {
    x: { dtype: x.dtype, shape: [to - from, xw], data: x.data.subarray(from * xw, to * xw) },
    y: { dtype: y.dtype, shape: y.shape.length === 1 ? [to - from] : [to - from, yw], data: y.data.subarray(from * yw, to * yw) },
  };
}

/** Arrays kept for reuse at most: enough for x and y of a few batches in flight. */
const POOL_LIMIT = 8;

/** The batch size, or a RangeError naming it. */
export function checkSize(size: number): number {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`Expected batch size to be a positive integer, got ${size}`);
  return size;
}
