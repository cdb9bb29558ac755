/**
 * Tensors on the wire: typed with little-endian bytes or numbers, or nested arrays; byte length
 * against shape, dtype against the session's, and a bit-exact round trip; adopting a decoded
 * frame's bytes without a copy, whatever their alignment.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readTensor, toTensor, wireTensor } from '../../src/index.js';
import { decodeFrame, encodeMsgpack } from '../../src/protocol/codec.js';
import { adoptTensor } from '../../src/protocol/tensors.js';
import { expectSameBits } from '../helpers/bits.js';
import { codeOf } from '../helpers/errors.js';

describe('readTensor / toTensor', () => {
  it('reads nested arrays of rank 1 and 2 in the session dtype', () => {
    const x = toTensor(readTensor([[1, 2], [3, 4]], 'x'), 'float64', 'x');
    expect(x.shape).toEqual([2, 2]);
    expect(x.data).toEqual(Float64Array.of(1, 2, 3, 4));
    const y = toTensor(readTensor([0, 2, 1], 'y'), 'float32', 'y');
    expect(y.shape).toEqual([3]);
    expect(y.data).toBeInstanceOf(Float32Array);
  });

  it('reads typed tensors with data as bytes or as numbers', () => {
    const bytes = new Uint8Array(Float32Array.of(1.5, -2).buffer);
    expect(toTensor(readTensor({ dtype: 'float32', shape: [2], data: bytes }, 'x'), 'float32', 'x').data).toEqual(Float32Array.of(1.5, -2));
    expect(toTensor(readTensor({ dtype: 'float32', shape: [1, 2], data: [1.5, -2] }, 'x'), 'float32', 'x').shape).toEqual([1, 2]);
  });

  it('names the problem: byte length, ragged rows, non-numbers, dtype', () => {
    expect(codeOf(() => readTensor({ dtype: 'float32', shape: [2, 2], data: new Uint8Array(12) }, 'x'))).toBe('E_BAD_TENSOR');
    expect(codeOf(() => readTensor({ dtype: 'float64', shape: [2], data: [1] }, 'x'))).toBe('E_BAD_TENSOR');
    expect(codeOf(() => readTensor([[1, 2], [3]], 'x'))).toBe('E_BAD_TENSOR');
    expect(codeOf(() => readTensor([[1, 'a']], 'x'))).toBe('E_BAD_TENSOR');
    expect(codeOf(() => readTensor([[[1]]], 'x'))).toBe('E_BAD_TENSOR');
    expect(codeOf(() => readTensor({ dtype: 'int8', shape: [1], data: [1] }, 'x'))).toBe('E_DTYPE');
    expect(codeOf(() => readTensor({ dtype: 'float32', shape: [-1], data: [] }, 'x'))).toBe('E_BAD_TENSOR');
    expect(codeOf(() => readTensor({ dtype: 'float32', shape: [2 ** 20, 2 ** 20], data: new Uint8Array(4) }, 'x'))).toBe('E_BAD_TENSOR');
    expect(codeOf(() => readTensor('abc', 'x'))).toBe('E_BAD_FIELD');
    expect(codeOf(() => toTensor(readTensor({ dtype: 'float32', shape: [1], data: [1] }, 'x'), 'float64', 'x'))).toBe('E_DTYPE');
    try {
      readTensor({ dtype: 'float32', shape: [2, 2], data: new Uint8Array(12) }, 'x');
    } catch (e) {
      expect((e as Error).message).toBe('Expected x.data to hold 16 bytes (4 × float32 for shape [2, 2]), got 12 bytes');
    }
  });

  it('round-trips any float64 or float32 values bit for bit through the wire form', () => {
    fc.assert(
      fc.property(fc.array(fc.double(), { minLength: 1, maxLength: 20 }), fc.boolean(), (values, f64) => {
        const data = f64 ? Float64Array.from(values) : Float32Array.from(values);
        const dtype = f64 ? 'float64' : 'float32';
        const back = toTensor(readTensor(wireTensor({ dtype, shape: [data.length], data }), 't'), dtype, 't');
        expectSameBits(back.data, data);
      }),
      { seed: 3, numRuns: 200 },
    );
  });

  it('writes little-endian bytes', () => {
    expect([...wireTensor({ dtype: 'float64', shape: [1], data: Float64Array.of(1) }).data]).toEqual([0, 0, 0, 0, 0, 0, 0xf0, 0x3f]);
  });
});

describe('adoptTensor', () => {
  /** A samples-like frame whose bins land at an offset that `pad` (a string before them) shifts. */
  function frame(pad: string, x: Float32Array | Float64Array, y: Float32Array | Float64Array): { x: unknown; y: unknown } {
    const dtype = x instanceof Float64Array ? 'float64' : 'float32';
    const bytes = (a: Float32Array | Float64Array) => new Uint8Array(a.buffer.slice(0));
    const m = { type: 'samples', session: pad, seq: 1, x: { dtype, shape: [x.length], data: bytes(x) }, y: { dtype, shape: [y.length], data: bytes(y) } };
    return decodeFrame(encodeMsgpack(m), true) as { x: unknown; y: unknown };
  }

  it('views the frame\'s bytes (no copy) with the values bit for bit, at every alignment', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 16 }), fc.array(fc.double(), { minLength: 1, maxLength: 40 }), fc.array(fc.double(), { minLength: 1, maxLength: 9 }), fc.boolean(), (padding, xs, ys, f64) => {
        const x = f64 ? Float64Array.from(xs) : Float32Array.from(xs);
        const y = f64 ? Float64Array.from(ys) : Float32Array.from(ys);
        const dtype = f64 ? 'float64' : 'float32';
        const m = frame('p'.repeat(padding), x, y);
        const tx = adoptTensor(readTensor(m.x, 'x'), dtype, 'x');
        const ty = adoptTensor(readTensor(m.y, 'y'), dtype, 'y');
        expectSameBits(tx.data, x);
        expectSameBits(ty.data, y);
        expect(tx.data.buffer).toBe(ty.data.buffer); // both views of the one frame
        expect(tx.shape).toEqual([x.length]);
      }),
      { seed: 5, numRuns: 300 },
    );
  });

  it('copies what is not bytes, like toTensor, and refuses the other dtype', () => {
    const t = adoptTensor(readTensor([[1, 2], [3, 4]], 'x'), 'float32', 'x');
    expect(t.data).toEqual(Float32Array.of(1, 2, 3, 4));
    const m = frame('s', Float32Array.of(1), Float32Array.of(0));
    expect(codeOf(() => adoptTensor(readTensor(m.x, 'x'), 'float64', 'x'))).toBe('E_DTYPE');
  });

  it('copies bytes that cannot come from a frame (too close to the start of their buffer to move)', () => {
    const buffer = new Uint8Array(Float32Array.of(7, 8).buffer.slice(0, 8));
    const shifted = new Uint8Array(10);
    shifted.set(buffer, 2);
    const t = adoptTensor(readTensor({ dtype: 'float32', shape: [2], data: shifted.subarray(2) }, 'x'), 'float32', 'x');
    expect(t.data).toEqual(Float32Array.of(7, 8));
    expect([...shifted.subarray(2)]).toEqual([...buffer]); // left as it was
  });
});
