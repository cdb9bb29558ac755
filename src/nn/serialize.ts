/**
 * Model and optimizer-state serialisation. Both forms are exact: fromJSON(toJSON(m)) and
 * fromBinary(toBinary(m)) give the same weights bit for bit (JSON numbers are printed with
 * the shortest representation that reads back to the same float64, and every float32 is
 * exactly a float64).
 * NOTE: JSON text has no negative zero (JSON.stringify writes -0 as 0), so a -0 weight read back
 * from text is 0; the object form and the binary form keep it.
 *
 * JSON form of a model (docs/model-format.md):
 *   { "format": "livegrad-mlp", "version": 1, "dtype": "float32", "inputSize": 3,
 *     "layers": [{ "units": 4, "activation": "sigmoid", "weights": [[…nout…] × nin], "bias": […nout…] }, …] }
 *
 * Binary form of a model: the bytes "LGM1", a uint32 LE header length h, h bytes of UTF-8 JSON
 * (the JSON form without weights and bias), zero padding to a multiple of 8, then every layer's
 * weights (row-major [nin, nout]) and bias as little-endian float32 or float64.
 */
import { LivegradError, describe } from '../errors.js';
import { isActivation, type Activation } from './activations.js';
import { mlpFromWeights, type Mlp } from './mlp.js';
import type { OptimizerState } from './optimizers.js';
import { allocate, isDType, type DType, type FloatArray } from './tensor.js';

export interface MlpJSON {
  readonly format: 'livegrad-mlp';
  readonly version: 1;
  readonly dtype: DType;
  readonly inputSize: number;
  readonly layers: readonly { readonly units: number; readonly activation: Activation; readonly weights: number[][]; readonly bias: number[] }[];
}

export interface OptimizerStateJSON {
  readonly format: 'livegrad-optimizer-state';
  readonly version: 1;
  readonly kind: OptimizerState['kind'];
  readonly dtype: DType;
  readonly t: number;
  readonly hasMomentum: boolean;
  readonly buffers: number[][][];
}

function rows(w: FloatArray, nin: number, nout: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < nin; i++) out.push(Array.from(w.subarray(i * nout, (i + 1) * nout)));
  return out;
}

export function modelToJSON(model: Mlp): MlpJSON {
  return {
    format: 'livegrad-mlp',
    version: 1,
    dtype: model.dtype,
    inputSize: model.inputSize,
    layers: model.layers.map((l) => ({ units: l.nout, activation: l.activation, weights: rows(l.w, l.nin, l.nout), bias: Array.from(l.b) })),
  };
}

function bad(message: string, cause?: unknown): LivegradError {
  return new LivegradError('E_BAD_MODEL', message, cause === undefined ? undefined : { cause });
}

function assertNumber(v: unknown, what: string): void {
  if (typeof v !== 'number') throw bad(`Expected ${what} to be a number, got ${describe(v)}`);
}

/** Reads the JSON form (object or string). Malformed input is a LivegradError E_BAD_MODEL naming the problem. */
export function modelFromJSON(json: MlpJSON | string): Mlp {
  let o: unknown = json;
  if (typeof json === 'string') {
    try {
      o = JSON.parse(json);
    } catch (e) {
      throw bad(`Expected model JSON, got unparsable text: ${(e as Error).message}`, e);
    }
  }
  const r = o as Record<string, unknown> | null;
  if (typeof r !== 'object' || r === null || r['format'] !== 'livegrad-mlp') throw bad(`Expected format "livegrad-mlp", got ${describe(r?.['format'])}`);
  if (r['version'] !== 1) throw bad(`Expected model format version 1, got ${describe(r['version'])}`);
  if (!isDType(r['dtype'])) throw bad(`Expected dtype "float32" or "float64", got ${describe(r['dtype'])}`);
  const layers = r['layers'];
  if (!Array.isArray(layers) || layers.length === 0) throw bad(`Expected a non-empty layers array, got ${describe(layers)}`);
  try {
    const model = mlpFromWeights(
      layers.map((l: Record<string, unknown>, i) => {
        if (!isActivation(l?.['activation'])) throw bad(`Expected layers[${i}].activation to be an activation name, got ${describe(l?.['activation'])}`);
        if (!Array.isArray(l['weights']) || !Array.isArray(l['bias'])) throw bad(`Expected layers[${i}] to have weights and bias arrays`);
        // NOTE: a typed array converts what it is given (null → 0, "3" → 3, true → 1), and JSON.stringify
        // writes NaN and ±Infinity as null, so every value is checked to be a number before it is copied.
        (l['weights'] as unknown[]).forEach((row, r) => {
          if (!Array.isArray(row)) throw bad(`Expected layers[${i}].weights[${r}] to be an array, got ${describe(row)}`);
          row.forEach((v: unknown, c) => assertNumber(v, `layers[${i}].weights[${r}][${c}]`));
        });
        (l['bias'] as unknown[]).forEach((v, j) => assertNumber(v, `layers[${i}].bias[${j}]`));
        return { activation: l['activation'], weights: l['weights'] as number[][], bias: l['bias'] as number[] };
      }),
      r['dtype'],
    );
    if (model.inputSize !== r['inputSize']) throw bad(`Expected inputSize ${model.inputSize} (rows of layers[0].weights), got ${describe(r['inputSize'])}`);
    model.layers.forEach((l, i) => {
      if ((layers[i] as Record<string, unknown>)['units'] !== l.nout) throw bad(`Expected layers[${i}].units ${l.nout}, got ${describe((layers[i] as Record<string, unknown>)['units'])}`);
    });
    return model;
  } catch (e) {
    if (e instanceof LivegradError) throw e;
    throw bad(`Invalid model JSON: ${(e as Error).message}`, e);
  }
}

const MAGIC = [0x4c, 0x47, 0x4d, 0x31]; // "LGM1"
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function bytesOf(a: FloatArray): Uint8Array {
  const b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();
  if (!LITTLE_ENDIAN) swapBytes(b, a.BYTES_PER_ELEMENT);
  return b;
}

function swapBytes(b: Uint8Array, width: number): void {
  for (let i = 0; i < b.length; i += width) b.subarray(i, i + width).reverse();
}

/** Reads little-endian floats from bytes (any alignment). */
export function floatsFromBytes(dtype: DType, bytes: Uint8Array): FloatArray {
  const width = dtype === 'float64' ? 8 : 4;
  if (bytes.length % width !== 0) throw new RangeError(`Expected a multiple of ${width} bytes for ${dtype}, got ${bytes.length}`);
  // NOTE: a copy made with `new Uint8Array(bytes)`, not bytes.slice(): on a Node Buffer slice() is a
  // view into the shared pool, and its .buffer would hold other bytes before these.
  const copy = new Uint8Array(bytes);
  if (!LITTLE_ENDIAN) swapBytes(copy, width);
  return dtype === 'float64' ? new Float64Array(copy.buffer, 0, copy.length / 8) : new Float32Array(copy.buffer, 0, copy.length / 4);
}

/**
 * The little-endian bytes of a float array: a view of its own bytes on a little-endian machine
 * (no copy: for a caller that copies them anyway, as a log writer does), a swapped copy elsewhere.
 */
export function floatsAsBytes(a: FloatArray): Uint8Array {
  return LITTLE_ENDIAN ? new Uint8Array(a.buffer, a.byteOffset, a.byteLength) : bytesOf(a);
}

/** Little-endian bytes of a float array. */
export function floatsToBytes(a: FloatArray): Uint8Array {
  return bytesOf(a);
}

export function modelToBinary(model: Mlp): Uint8Array {
  const header = new TextEncoder().encode(
    JSON.stringify({ format: 'livegrad-mlp', version: 1, dtype: model.dtype, inputSize: model.inputSize, layers: model.layers.map((l) => ({ units: l.nout, activation: l.activation })) }),
  );
  const start = Math.ceil((8 + header.length) / 8) * 8;
  const width = model.dtype === 'float64' ? 8 : 4;
  const total = start + model.layers.reduce((n, l) => n + (l.w.length + l.b.length) * width, 0);
  const out = new Uint8Array(total);
  out.set(MAGIC, 0);
  new DataView(out.buffer).setUint32(4, header.length, true);
  out.set(header, 8);
  let off = start;
  for (const l of model.layers) {
    for (const a of [l.w, l.b]) {
      out.set(bytesOf(a), off);
      off += a.byteLength;
    }
  }
  return out;
}

export function modelFromBinary(bytes: Uint8Array): Mlp {
  if (bytes.length < 8 || MAGIC.some((c, i) => bytes[i] !== c)) throw bad('Expected binary model starting with "LGM1", got other bytes');
  const h = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
  if (8 + h > bytes.length) throw bad(`Expected a ${h}-byte header, got only ${bytes.length - 8} bytes after the magic`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + h))) as Record<string, unknown>;
  } catch (e) {
    throw bad(`Expected a JSON header in binary model: ${(e as Error).message}`, e);
  }
  const dtype = header['dtype'];
  if (!isDType(dtype)) throw bad(`Expected dtype "float32" or "float64", got ${describe(dtype)}`);
  const specs = header['layers'];
  if (!Array.isArray(specs) || specs.length === 0) throw bad(`Expected a non-empty layers array in the header, got ${describe(specs)}`);
  const width = dtype === 'float64' ? 8 : 4;
  let off = Math.ceil((8 + h) / 8) * 8;
  let nin = header['inputSize'];
  if (typeof nin !== 'number' || !Number.isInteger(nin) || nin < 1) throw bad(`Expected a positive integer inputSize, got ${describe(nin)}`);
  const layers = specs.map((s: Record<string, unknown>, i) => {
    const units = s?.['units'];
    if (typeof units !== 'number' || !Number.isInteger(units) || units < 1) throw bad(`Expected layers[${i}].units to be a positive integer, got ${describe(units)}`);
    if (!isActivation(s['activation'])) throw bad(`Expected layers[${i}].activation to be an activation name, got ${describe(s['activation'])}`);
    const take = (n: number): FloatArray => {
      if (off + n * width > bytes.length) throw bad(`Expected ${n * width} more bytes for layers[${i}], got ${bytes.length - off}`);
      const a = floatsFromBytes(dtype, bytes.subarray(off, off + n * width));
      off += n * width;
      return a;
    };
    const w = take((nin as number) * units);
    const b = take(units);
    const layer = { activation: s['activation'], weights: { dtype, shape: [nin as number, units], data: w }, bias: { dtype, shape: [units], data: b } };
    nin = units;
    return layer;
  });
  if (off !== bytes.length) throw bad(`Expected ${off} bytes in binary model, got ${bytes.length}`);
  try {
    return mlpFromWeights(layers, dtype);
  } catch (e) {
    throw bad(`Invalid binary model: ${(e as Error).message}`, e);
  }
}

export function optimizerStateToJSON(state: OptimizerState, dtype: DType): OptimizerStateJSON {
  return {
    format: 'livegrad-optimizer-state',
    version: 1,
    kind: state.kind,
    dtype,
    t: state.t,
    hasMomentum: state.hasMomentum,
    buffers: state.buffers.map((bs) => bs.map((b) => Array.from(b))),
  };
}

export function optimizerStateFromJSON(json: OptimizerStateJSON | string): OptimizerState {
  const r = (typeof json === 'string' ? safeParse(json) : json) as unknown as Record<string, unknown>;
  const fail = (msg: string): never => {
    throw new LivegradError('E_BAD_STATE', msg);
  };
  if (typeof r !== 'object' || r === null || r['format'] !== 'livegrad-optimizer-state') fail(`Expected format "livegrad-optimizer-state", got ${describe(r?.['format'])}`);
  if (r['version'] !== 1) fail(`Expected optimizer state version 1, got ${describe(r['version'])}`);
  const kind = r['kind'];
  if (kind !== 'sgd' && kind !== 'adam' && kind !== 'adamw') fail(`Expected kind "sgd", "adam" or "adamw", got ${describe(kind)}`);
  const dtype = r['dtype'];
  if (!isDType(dtype)) return fail(`Expected dtype "float32" or "float64", got ${describe(dtype)}`);
  const t = r['t'];
  if (typeof t !== 'number' || !Number.isInteger(t) || t < 0) fail(`Expected t to be a non-negative integer, got ${describe(t)}`);
  if (typeof r['hasMomentum'] !== 'boolean') fail(`Expected hasMomentum to be a boolean, got ${describe(r['hasMomentum'])}`);
  const buffers = r['buffers'];
  if (!Array.isArray(buffers)) return fail(`Expected buffers to be an array, got ${describe(buffers)}`);
  const per = kind === 'sgd' ? 1 : 2;
  return {
    kind: kind as OptimizerState['kind'],
    t: t as number,
    hasMomentum: r['hasMomentum'] as boolean,
    buffers: buffers.map((bs: unknown, i) => {
      if (!Array.isArray(bs) || bs.length !== per) return fail(`Expected buffers[${i}] to hold ${per} arrays, got ${describe(bs)}`);
      return bs.map((b: unknown, j) => {
        if (!Array.isArray(b) || b.some((v) => typeof v !== 'number' || !Number.isFinite(v))) return fail(`Expected buffers[${i}][${j}] to be an array of finite numbers`);
        const a = allocate(dtype, b.length);
        a.set(b as number[]);
        return a;
      });
    }),
  };
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new LivegradError('E_BAD_STATE', `Expected optimizer state JSON, got unparsable text: ${(e as Error).message}`, { cause: e });
  }
}
