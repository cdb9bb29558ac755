/**
 * End-to-end training on the 8×8 digits (test/fixtures/digits.csv, read in place): a 64-64-10
 * network learns the training set, and two runs with the same seed give the same bits.
 */
import { describe, expect, it } from 'vitest';
import { mlp } from '../../src/index.js';
import { accuracy, loadDigits, trainDigits as train } from '../helpers/digits.js';
import { expectSameModel, modelsDiffer } from '../helpers/bits.js';

describe('createStepper (training on digits.csv)', () => {
  const data = loadDigits();

  it('loads 1797 samples of 64 features in [0, 1] with labels 0-9', () => {
    expect([data.rows, data.cols]).toEqual([1797, 64]);
    expect(data.x.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(new Set(data.labels)).toEqual(new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
  });

  it('reaches training accuracy > 0.95 in 20 epochs (64-64-10, sgd lr 0.5, batch 32)', () => {
    const before = accuracy(mlp({ inputSize: 64, layers: [{ units: 64, activation: 'sigmoid' }, { units: 10, activation: 'softmax' }], seed: 1 }), data);
    const acc = accuracy(train(data, 1, 20), data);
    expect(before).toBeLessThan(0.3);
    expect(acc).toBeGreaterThan(0.95);
  });

  it('gives the same weights bit for bit for the same seed, and different ones for another seed', () => {
    const a = train(data, 5, 2);
    const b = train(data, 5, 2);
    expectSameModel(a, b);
    expect(modelsDiffer(a, train(data, 6, 2))).toBe(true);
  });
});
