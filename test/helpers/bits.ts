/**
 * Bit-for-bit comparison of float arrays and models (tests only). `expect(a).toEqual(b)` on numbers
 * treats -0 and 0 as equal and prints huge diffs; these compare the bytes and name the first difference.
 */
import { expect } from 'vitest';
import type { FloatArray, Mlp, OptimizerState } from '../../src/index.js';

function bytes(a: FloatArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Index of the first element whose bits differ, -1 when identical (same type and length). */
export function firstBitDifference(a: FloatArray, b: FloatArray): number {
  if (a.constructor !== b.constructor || a.length !== b.length) return 0;
  const x = bytes(a), y = bytes(b), w = a.BYTES_PER_ELEMENT;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return Math.floor(i / w);
  return -1;
}

export function expectSameBits(actual: FloatArray, expected: FloatArray, what = 'array'): void {
  expect(actual.constructor.name, `${what} type`).toBe(expected.constructor.name);
  expect(actual.length, `${what} length`).toBe(expected.length);
  const i = firstBitDifference(actual, expected);
  expect(i, i < 0 ? what : `${what}[${i}]: ${actual[i]} vs ${expected[i]}`).toBe(-1);
}

export function expectSameModel(actual: Mlp, expected: Mlp): void {
  expect(actual.dtype).toBe(expected.dtype);
  expect(actual.inputSize).toBe(expected.inputSize);
  expect(actual.layers.map((l) => [l.nin, l.nout, l.activation])).toEqual(expected.layers.map((l) => [l.nin, l.nout, l.activation]));
  actual.layers.forEach((l, i) => {
    expectSameBits(l.w, expected.layers[i]!.w, `layers[${i}].w`);
    expectSameBits(l.b, expected.layers[i]!.b, `layers[${i}].b`);
  });
}

export function expectSameState(actual: OptimizerState, expected: OptimizerState): void {
  expect([actual.kind, actual.t, actual.hasMomentum]).toEqual([expected.kind, expected.t, expected.hasMomentum]);
  expect(actual.buffers.map((bs) => bs.length)).toEqual(expected.buffers.map((bs) => bs.length));
  actual.buffers.forEach((bs, i) => bs.forEach((b, j) => expectSameBits(b, expected.buffers[i]![j]!, `buffers[${i}][${j}]`)));
}

/** True when some weight or bias of the two models differs in its bits. */
export function modelsDiffer(a: Mlp, b: Mlp): boolean {
  return a.layers.some((l, i) => firstBitDifference(l.w, b.layers[i]!.w) >= 0 || firstBitDifference(l.b, b.layers[i]!.b) >= 0);
}
