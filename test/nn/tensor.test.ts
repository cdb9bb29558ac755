/**
 * Tensors: construction from nested rows, flat values plus a shape, or typed arrays; shape checks.
 */
import { describe, expect, it } from 'vitest';
import { DTYPES, allocate, at, tensor, toNested, zeros } from '../../src/index.js';

describe('tensor', () => {
  it('builds a row-major tensor from nested rows', () => {
    const t = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe('float32');
    expect(Array.from(t.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(at(t, 1, 0)).toBe(4);
    expect(toNested(t)).toEqual([[1, 2, 3], [4, 5, 6]]);
  });

  it('builds from flat values and a shape, in either dtype', () => {
    const t = tensor([0.1, 0.2, 0.3, 0.4], [2, 2], 'float64');
    expect(t.data).toBeInstanceOf(Float64Array);
    expect(Array.from(t.data)).toEqual([0.1, 0.2, 0.3, 0.4]);
    expect(tensor(new Float32Array([1, 2])).shape).toEqual([2]);
    expect(DTYPES).toEqual(['float32', 'float64']);
  });

  it('copies its input', () => {
    const src = new Float64Array([1, 2]);
    const t = tensor(src, [2], 'float64');
    src[0] = 9;
    expect(t.data[0]).toBe(1);
  });

  it('rounds values to float32 by default', () => {
    expect(tensor([0.1]).data[0]).toBe(Math.fround(0.1));
  });

  it('rejects non-rectangular nested rows (RangeError, "Expected X, got Y")', () => {
    expect(() => tensor([[1, 2], [3]])).toThrow(new RangeError('Expected every row to have 2 values, got an array of length 1 at row 1'));
    expect(() => tensor([[1, 2], [3, 4, 5]])).toThrow(RangeError);
  });

  it('rejects a shape that does not match the values (RangeError)', () => {
    expect(() => tensor([1, 2, 3], [2, 2])).toThrow(new RangeError('Expected 4 values for shape [2, 2], got 3'));
    expect(() => tensor([[1, 2]], [2, 1])).toThrow(new RangeError('Expected shape [2, 1], got nested arrays of shape [1, 2]'));
    expect(() => tensor([1, 2], [-1, -2])).toThrow(new RangeError('Expected a shape of non-negative integers, got [-1, -2]'));
  });

  it('rejects an unknown dtype (TypeError)', () => {
    expect(() => tensor([1], [1], 'int8' as 'float32')).toThrow(new TypeError('Expected dtype "float32" or "float64", got "int8"'));
  });
});

describe('zeros / allocate', () => {
  it('allocate zero-filled typed arrays of the dtype', () => {
    const z = zeros([2, 3], 'float64');
    expect(z.shape).toEqual([2, 3]);
    expect(z.data).toEqual(new Float64Array(6));
    expect(allocate('float32', 3)).toEqual(new Float32Array(3));
    expect(() => zeros([1.5])).toThrow(RangeError);
  });
});
