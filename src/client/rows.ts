/**
 * Rows on their way to `samples` messages: what a stream's source gives (row objects, nested
 * arrays, tensors) as chunks of typed arrays in the session's dtype, and the buffer that cuts them
 * into messages of any number of rows.
 *
 *   source items:  [x 3 rows] [x 5 rows] [x 2 rows]
 *   take(4):       rows 0-3  (a view when one chunk holds them, else a copy)
 *   take(6):       rows 4-9
 *
 * The layout of `y` — class indices `[m]` or rows of targets `[m, outputs]` — is fixed by the
 * first chunk (the session refuses the other one too: E_SHAPE).
 */
import { LivegradError, describe } from '../errors.js';
import { allocate, type DType, type FloatArray, type Tensor } from '../nn/tensor.js';
import type { Matrix, Targets } from './types.js';

/** One sample: its features, and its class index or row of targets. */
export interface Row {
  readonly x: readonly number[];
  readonly y: number | readonly number[];
}

/** Samples as one batch: `x` [m, inputSize]; `y` [m] class indices or [m, outputs] targets. */
export interface Batch {
  readonly x: Matrix;
  readonly y: Targets;
}

/** What the session's rows must look like. */
export interface RowShape {
  readonly dtype: DType;
  readonly inputSize: number;
  readonly outputSize: number;
}

/** Rows as typed arrays: x [m, inputSize], y [m] (yCols 0: class indices) or [m, yCols]. */
export interface RowChunk {
  readonly m: number;
  readonly x: FloatArray;
  readonly y: FloatArray;
  readonly yCols: number;
}

function shapeError(message: string): LivegradError {
  return new LivegradError('E_SHAPE', message);
}

function isTensor(v: unknown): v is Tensor {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && ArrayBuffer.isView((v as Tensor).data);
}

/** A tensor's data in the session's dtype: the same array (never converted silently: E_DTYPE). */
function tensorData(t: Tensor, shape: RowShape, what: string): FloatArray {
  if (t.dtype !== shape.dtype) throw new LivegradError('E_DTYPE', `Expected ${what}.dtype ${shape.dtype} (the session's), got ${t.dtype}`);
  return t.data;
}

/** Nested rows of numbers into `out` (row-major), checking each row's width. */
function fill(rows: readonly (readonly number[])[], cols: number, out: FloatArray, what: string): void {
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    if (!Array.isArray(row) || row.length !== cols) throw shapeError(`Expected ${what}[${i}] to have ${cols} numbers, got ${describe(row)}`);
    for (let j = 0; j < cols; j++) out[i * cols + j] = row[j]!;
  }
}

function matrix(x: Matrix, shape: RowShape): { m: number; data: FloatArray } {
  if (isTensor(x)) {
    if (x.shape.length !== 2 || x.shape[1] !== shape.inputSize) throw shapeError(`Expected x of shape [m, ${shape.inputSize}], got [${x.shape.join(', ')}]`);
    return { m: x.shape[0]!, data: tensorData(x, shape, 'x') };
  }
  if (!Array.isArray(x)) throw new TypeError(`Expected x to be a tensor or rows of numbers, got ${describe(x)}`);
  const data = allocate(shape.dtype, x.length * shape.inputSize);
  fill(x, shape.inputSize, data, 'x');
  return { m: x.length, data };
}

function targets(y: Targets, m: number, shape: RowShape): { data: FloatArray; yCols: number } {
  if (isTensor(y)) {
    const ok = y.shape[0] === m && (y.shape.length === 1 || (y.shape.length === 2 && y.shape[1] === shape.outputSize));
    if (!ok) throw shapeError(`Expected y of shape [${m}] or [${m}, ${shape.outputSize}], got [${y.shape.join(', ')}]`);
    return { data: tensorData(y, shape, 'y'), yCols: y.shape.length === 1 ? 0 : shape.outputSize };
  }
  if (!Array.isArray(y) || y.length !== m) throw shapeError(`Expected y to hold ${m} targets (one per row of x), got ${describe(y)}`);
  if (m > 0 && Array.isArray(y[0])) {
    const data = allocate(shape.dtype, m * shape.outputSize);
    fill(y as readonly (readonly number[])[], shape.outputSize, data, 'y');
    return { data, yCols: shape.outputSize };
  }
  const data = allocate(shape.dtype, m);
  data.set(y as readonly number[]);
  return { data, yCols: 0 };
}

/** A batch as a chunk of the session's shape (E_SHAPE, E_DTYPE for one that cannot be). */
export function batchChunk(batch: Batch, shape: RowShape): RowChunk {
  if (typeof batch !== 'object' || batch === null) throw new TypeError(`Expected a batch {x, y}, got ${describe(batch)}`);
  const { m, data: x } = matrix(batch.x, shape);
  const { data: y, yCols } = targets(batch.y, m, shape);
  return { m, x, y, yCols };
}

/** Row objects as one chunk: `y` a number (class index) or an array (targets), the same for every row. */
export function rowsChunk(rows: readonly Row[], shape: RowShape): RowChunk {
  const m = rows.length;
  const yCols = m > 0 && Array.isArray(rows[0]!.y) ? shape.outputSize : 0;
  const x = allocate(shape.dtype, m * shape.inputSize);
  const y = allocate(shape.dtype, m * Math.max(1, yCols));
  for (let i = 0; i < m; i++) {
    const row = rows[i]!;
    if (typeof row !== 'object' || row === null || !Array.isArray(row.x) || row.x.length !== shape.inputSize) {
      throw shapeError(`Expected rows[${i}].x to have ${shape.inputSize} numbers, got ${describe(row?.x)}`);
    }
    x.set(row.x, i * shape.inputSize);
    if (yCols === 0) {
      if (typeof row.y !== 'number') throw shapeError(`Expected rows[${i}].y to be a class index (like rows[0].y), got ${describe(row.y)}`);
      y[i] = row.y;
    } else {
      if (!Array.isArray(row.y) || row.y.length !== yCols) throw shapeError(`Expected rows[${i}].y to have ${yCols} numbers (like rows[0].y), got ${describe(row.y)}`);
      y.set(row.y, i * yCols);
    }
  }
  return { m, x, y, yCols };
}

/** Rows waiting to be sent, first in first out. */
export class RowBuffer {
  private readonly chunks: RowChunk[] = [];
  /** Rows of chunks[0] already taken. */
  private offset = 0;
  /** Rows held. */
  rows = 0;
  /** The y layout of the first chunk (undefined before it): every later chunk must have it. */
  private yCols: number | undefined;

  constructor(private readonly shape: RowShape) {}

  push(chunk: RowChunk): void {
    if (chunk.m === 0) return;
    if (this.yCols === undefined) this.yCols = chunk.yCols;
    else if (chunk.yCols !== this.yCols) {
      const layout = (c: number): string => (c === 0 ? 'class indices [m]' : `targets [m, ${c}]`);
      throw shapeError(`Expected y as ${layout(this.yCols)} like the stream's first rows, got ${layout(chunk.yCols)}`);
    }
    this.chunks.push(chunk);
    this.rows += chunk.m;
  }

  /** Drops the next `n` rows (rows the session already holds). */
  skip(n: number): void {
    this.take(n);
  }

  /** The next `n` rows (1 ≤ n ≤ rows) as one chunk: views of a chunk that holds them all, else a copy. */
  take(n: number): RowChunk {
    const nin = this.shape.inputSize, yc = Math.max(1, this.yCols ?? 0);
    const first = this.chunks[0]!;
    if (first.m - this.offset >= n) {
      const a = this.offset;
      const out = { m: n, x: first.x.subarray(a * nin, (a + n) * nin), y: first.y.subarray(a * yc, (a + n) * yc), yCols: first.yCols };
      this.advance(n);
      return out;
    }
    const x = allocate(this.shape.dtype, n * nin), y = allocate(this.shape.dtype, n * yc);
    for (let at = 0; at < n; ) {
      const c = this.chunks[0]!, a = this.offset, k = Math.min(n - at, c.m - a);
      x.set(c.x.subarray(a * nin, (a + k) * nin), at * nin);
      y.set(c.y.subarray(a * yc, (a + k) * yc), at * yc);
      this.advance(k);
      at += k;
    }
    return { m: n, x, y, yCols: this.yCols ?? 0 };
  }

  private advance(k: number): void {
    this.offset += k;
    this.rows -= k;
    if (this.offset === this.chunks[0]!.m) {
      this.chunks.shift();
      this.offset = 0;
    }
  }
}
