/**
 * Tensors on the wire. Out: `{dtype, shape, data}` with `data` the elements row-major as
 * little-endian bytes (a MessagePack bin); in JSON `data` is an array of numbers. In: the same,
 * or `data` as an array of numbers, or plain nested arrays of numbers (`[[1, 2], [3, 4]]`, or
 * `[0, 2, 1]` for class labels) that take the session's dtype.
 *
 *   readTensor(value, path)    structure only: shape, byte length, numbers    → TensorInput
 *   toTensor(input, dtype)     the session's dtype, copied into a typed array → Tensor
 *   adoptTensor(input, dtype)  the same, a view of the frame's bytes (no copy) → Tensor
 *   wireTensor(t)              Tensor → WireTensor (bytes)
 */
import { LivegradError, describe } from '../errors.js';
import { floatsFromBytes, floatsToBytes } from '../nn/serialize.js';
import { allocate, isDType, type DType, type Tensor } from '../nn/tensor.js';
import type { TensorInput, WireTensor } from './messages.js';

/** Largest dimension and element count a tensor may declare (far above what a frame can carry). */
const MAX_ELEMENTS = 2 ** 31 - 1;

function bad(code: 'E_BAD_TENSOR' | 'E_BAD_FIELD' | 'E_DTYPE', message: string): LivegradError {
  return new LivegradError(code, message);
}

function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

/** Flattens nested arrays of numbers (rank 1 or 2, rectangular) into `out`; returns the shape. */
function flatten(value: readonly unknown[], path: string, out: number[]): number[] {
  if (value.length === 0 || !Array.isArray(value[0])) {
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      if (typeof v !== 'number') throw bad('E_BAD_TENSOR', `Expected a number at ${path}[${i}], got ${describe(v)}`);
      out.push(v);
    }
    return [value.length];
  }
  const cols = (value[0] as unknown[]).length;
  for (let i = 0; i < value.length; i++) {
    const row = value[i];
    if (!Array.isArray(row)) throw bad('E_BAD_TENSOR', `Expected ${path}[${i}] to be an array of ${cols} numbers, got ${describe(row)}`);
    if (row.length !== cols) throw bad('E_BAD_TENSOR', `Expected ${path}[${i}] to have ${cols} numbers (like ${path}[0]), got ${row.length}`);
    for (let j = 0; j < cols; j++) {
      const v: unknown = row[j];
      if (typeof v !== 'number') throw bad('E_BAD_TENSOR', `Expected a number at ${path}[${i}][${j}], got ${describe(v)}`);
      out.push(v);
    }
  }
  return [value.length, cols];
}

function readShape(value: unknown, path: string): number[] {
  if (!Array.isArray(value)) throw bad('E_BAD_FIELD', `Expected ${path}.shape to be an array of integers, got ${describe(value)}`);
  if (value.length > 8) throw bad('E_BAD_TENSOR', `Expected ${path}.shape to have at most 8 dimensions, got ${value.length}`);
  let n = 1;
  value.forEach((d: unknown, i) => {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0 || d > MAX_ELEMENTS) {
      throw bad('E_BAD_TENSOR', `Expected ${path}.shape[${i}] to be an integer in [0, ${MAX_ELEMENTS}], got ${describe(d)}`);
    }
    n *= d;
  });
  if (n > MAX_ELEMENTS) throw bad('E_BAD_TENSOR', `Expected ${path}.shape to hold at most ${MAX_ELEMENTS} elements, got [${value.join(', ')}]`);
  return value as number[];
}

/**
 * Checks the structure of a tensor a client sent: `{dtype, shape, data}` with `data` bytes whose
 * length is the shape's element count times the dtype's width, or numbers as many as the shape
 * holds; or nested arrays of numbers. Throws LivegradError E_BAD_FIELD / E_BAD_TENSOR naming `path`.
 */
export function readTensor(value: unknown, path: string): TensorInput {
  if (Array.isArray(value)) {
    const data: number[] = [];
    const shape = flatten(value, path, data);
    return { dtype: undefined, shape, data };
  }
  if (!isMap(value)) throw bad('E_BAD_FIELD', `Expected ${path} to be a tensor {dtype, shape, data} or nested arrays of numbers, got ${describe(value)}`);
  const dtype = value['dtype'];
  if (!isDType(dtype)) throw bad('E_DTYPE', `Expected ${path}.dtype "float32" or "float64", got ${describe(dtype)}`);
  const shape = readShape(value['shape'], path);
  const n = shape.reduce((a, d) => a * d, 1);
  const data = value['data'];
  if (isBytes(data)) {
    const width = dtype === 'float64' ? 8 : 4;
    if (data.length !== n * width) {
      throw bad('E_BAD_TENSOR', `Expected ${path}.data to hold ${n * width} bytes (${n} × ${dtype} for shape [${shape.join(', ')}]), got ${data.length} bytes`);
    }
    return { dtype, shape, data };
  }
  if (Array.isArray(data)) {
    if (data.length !== n) throw bad('E_BAD_TENSOR', `Expected ${path}.data to hold ${n} numbers for shape [${shape.join(', ')}], got ${data.length}`);
    for (let i = 0; i < data.length; i++) {
      if (typeof data[i] !== 'number') throw bad('E_BAD_TENSOR', `Expected a number at ${path}.data[${i}], got ${describe(data[i])}`);
    }
    return { dtype, shape, data: data as number[] };
  }
  throw bad('E_BAD_FIELD', `Expected ${path}.data to be bytes or an array of numbers, got ${describe(data)}`);
}

/**
 * The tensor in `dtype`, in a fresh typed array. A typed tensor of the other dtype is E_DTYPE
 * (a session never converts its inputs silently); nested arrays take `dtype`.
 */
export function toTensor(input: TensorInput, dtype: DType, path: string): Tensor {
  if (input.dtype !== undefined && input.dtype !== dtype) throw bad('E_DTYPE', `Expected ${path}.dtype ${dtype} (the session's), got ${input.dtype}`);
  const { data } = input;
  if (isBytes(data)) {
    // NOTE: MessagePack bin decodes to a Node Buffer, whose slice() is a view, not a copy;
    // floatsFromBytes copies with slice(), so it must be handed a plain Uint8Array view.
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return { dtype, shape: input.shape, data: floatsFromBytes(dtype, bytes) };
  }
  const out = allocate(dtype, data.length);
  out.set(data);
  return { dtype, shape: input.shape, data: out };
}

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
/** Bytes that precede a tensor's bin in any MessagePack frame: the fixstr key "data" (5) and a bin8 header (2). */
const MIN_BIN_PREFIX = 7;

/**
 * `toTensor` for a tensor decoded from a MessagePack frame that nothing reads after decoding (a
 * message the server received): on a little-endian host its elements become a view of the
 * frame's bytes instead of a copy. Numbers (JSON, nested arrays) are copied as by `toTensor`.
 *
 * NOTE: a Float32Array (Float64Array) view needs a byte offset that is a multiple of 4 (8), and
 * where a bin lands in a frame depends on everything encoded before it. When it is k bytes past
 * such an offset, the elements are first moved k bytes back, in place. What they move over is
 * their own bin header and the map key `data` before it — at least 7 bytes (bin8 header 2, fixstr
 * "data" 5) — which no decoded value refers to: the decoder copies strings and numbers out, only
 * bins are views, and each bin's view starts after its header. So the frame changes, the message
 * does not. A frame read again after decoding must go through `toTensor`.
 */
export function adoptTensor(input: TensorInput, dtype: DType, path: string): Tensor {
  const { data } = input;
  if (!LITTLE_ENDIAN || !isBytes(data) || input.dtype !== dtype) return toTensor(input, dtype, path);
  const width = dtype === 'float64' ? 8 : 4;
  const k = data.byteOffset % width;
  if (k !== 0 && data.byteOffset < MIN_BIN_PREFIX) return toTensor(input, dtype, path); // not a bin from a frame
  const offset = data.byteOffset - k;
  if (k !== 0) new Uint8Array(data.buffer, offset, data.byteLength + k).copyWithin(0, k);
  const n = data.byteLength / width;
  return { dtype, shape: input.shape, data: dtype === 'float64' ? new Float64Array(data.buffer, offset, n) : new Float32Array(data.buffer, offset, n) };
}

/** A tensor for the wire: its elements as little-endian bytes. */
export function wireTensor(t: Tensor): WireTensor {
  return { dtype: t.dtype, shape: [...t.shape], data: floatsToBytes(t.data) };
}

/** True for a `WireTensor` (used by the JSON encoder to write `data` as numbers). */
export function isWireTensor(v: unknown): v is WireTensor {
  return isMap(v) && isDType(v['dtype']) && Array.isArray(v['shape']) && isBytes(v['data']);
}

/** The elements of a wire tensor as numbers (JSON form). */
export function wireTensorNumbers(t: WireTensor): number[] {
  return Array.from(floatsFromBytes(t.dtype, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)));
}
