import { describe } from '../errors.js';

/** Element type of a model and of the tensors it works on. */
export type DType = 'float32' | 'float64';

/** The typed array behind a tensor. */
export type FloatArray = Float32Array | Float64Array;

/**
 * A dense row-major tensor: `data[i * shape[1] + j]` is element (i, j) of a 2-D tensor.
 * Tensors are plain data; functions that produce one allocate it, hot paths write into
 * buffers the caller passes.
 */
export interface Tensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: FloatArray;
}

export const DTYPES: readonly DType[] = ['float32', 'float64'];

export function isDType(value: unknown): value is DType {
  return value === 'float32' || value === 'float64';
}

export function assertDType(value: unknown, what = 'dtype'): asserts value is DType {
  if (!isDType(value)) throw new TypeError(`Expected ${what} "float32" or "float64", got ${describe(value)}`);
}

/** A zero-filled typed array of the given dtype. */
export function allocate(dtype: DType, length: number): FloatArray {
  return dtype === 'float64' ? new Float64Array(length) : new Float32Array(length);
}

/**
 * dst[at, at + n) = src[from, from + n): a loop for a few values, else one `set` (of a `subarray`
 * only when src is not copied whole: a view is an allocation, and a loop over thousands of values
 * is several times slower than `set`). Either may be class indices (Int32Array).
 */
export function copyRange(dst: FloatArray | Int32Array, src: FloatArray | Int32Array, from: number, n: number, at = 0): void {
  if (n <= 64) for (let i = 0; i < n; i++) dst[at + i] = src[from + i]!;
  else dst.set(from === 0 && n === src.length ? src : src.subarray(from, from + n), at);
}

export function dtypeOf(data: FloatArray): DType {
  return data instanceof Float64Array ? 'float64' : 'float32';
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function assertShape(shape: readonly number[]): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`Expected a shape of non-negative integers, got [${shape.join(', ')}]`);
  }
}

export function zeros(shape: readonly number[], dtype: DType = 'float32'): Tensor {
  assertShape(shape);
  return { dtype, shape: [...shape], data: allocate(dtype, sizeOf(shape)) };
}

/**
 * Builds a tensor from nested arrays (`[[1, 2], [3, 4]]`), a flat array plus a shape, or a typed array.
 * Non-rectangular input is a RangeError.
 */
export function tensor(values: ArrayLike<number> | readonly (readonly number[])[], shape?: readonly number[], dtype: DType = 'float32'): Tensor {
  assertDType(dtype);
  const nested = Array.isArray(values) && values.length > 0 && Array.isArray(values[0]);
  if (nested) {
    const rows = values as readonly (readonly number[])[];
    const cols = rows[0]!.length;
    const data = allocate(dtype, rows.length * cols);
    rows.forEach((row, i) => {
      if (!Array.isArray(row) || row.length !== cols) {
        throw new RangeError(`Expected every row to have ${cols} values, got ${describe(row)} at row ${i}`);
      }
      for (let j = 0; j < cols; j++) {
        const v = row[j];
        if (typeof v !== 'number') throw new TypeError(`Expected a number at [${i}][${j}], got ${describe(v)}`);
        data[i * cols + j] = v;
      }
    });
    const s = [rows.length, cols];
    if (shape && (shape.length !== 2 || shape[0] !== s[0] || shape[1] !== s[1])) {
      throw new RangeError(`Expected shape [${shape.join(', ')}], got nested arrays of shape [${s.join(', ')}]`);
    }
    return { dtype, shape: s, data };
  }
  const flat = values as ArrayLike<number>;
  const s = shape ? [...shape] : [flat.length];
  assertShape(s);
  if (sizeOf(s) !== flat.length) {
    throw new RangeError(`Expected ${sizeOf(s)} values for shape [${s.join(', ')}], got ${flat.length}`);
  }
  if (!ArrayBuffer.isView(flat)) {
    for (let i = 0; i < flat.length; i++) {
      if (typeof flat[i] !== 'number') throw new TypeError(`Expected a number at [${i}], got ${describe(flat[i])}`);
    }
  }
  const data = allocate(dtype, flat.length);
  data.set(flat);
  return { dtype, shape: s, data };
}

/** Element (i, j) of a 2-D tensor. */
export function at(t: Tensor, i: number, j: number): number {
  return t.data[i * t.shape[1]! + j]!;
}

/** Nested arrays, for printing and JSON. */
export function toNested(t: Tensor): number[][] {
  const [rows, cols] = t.shape.length === 2 ? [t.shape[0]!, t.shape[1]!] : [1, t.data.length];
  const out: number[][] = [];
  for (let i = 0; i < rows; i++) out.push(Array.from(t.data.subarray(i * cols, (i + 1) * cols)));
  return out;
}
