/**
 * End-to-end training on the 8×8 digits (test/fixtures/digits.csv, read in place): a 64-64-10
 * network learns the training set, and two runs with the same seed give the same bits.
 */
import { describe, expect, it } from 'vitest';
import { createStepper, mlp, rng, sgd, type Mlp, type StepConfig } from '../../src/index.js';
import { loadDigits, type Digits } from '../helpers/digits.js';
import { expectSameModel, modelsDiffer } from '../helpers/bits.js';

const BATCH = 32;

/**
 * Trains a fresh 64-64-10 sigmoid/softmax network with sgd lr 0.5 and cross-entropy, on batches of
 * 32 drawn without replacement from an order reshuffled every epoch by the seeded generator.
 */
function train(data: Digits, seed: number, epochs: number): Mlp {
  const model = mlp({ inputSize: data.cols, layers: [{ units: 64, activation: 'sigmoid' }, { units: 10, activation: 'softmax' }], seed });
  const config: StepConfig = { loss: 'crossEntropy', optimizer: sgd({ lr: 0.5 }) };
  const stepper = createStepper(model, config, undefined, BATCH);
  const random = rng(seed);
  const order = Int32Array.from({ length: data.rows }, (_, i) => i);
  const x = new Float32Array(BATCH * data.cols);
  const y = new Int32Array(BATCH);
  for (let epoch = 0; epoch < epochs; epoch++) {
    random.shuffle(order);
    for (let start = 0; start < data.rows; start += BATCH) {
      const m = Math.min(BATCH, data.rows - start);
      for (let r = 0; r < m; r++) {
        const i = order[start + r]!;
        x.set(data.x.subarray(i * data.cols, (i + 1) * data.cols), r * data.cols);
        y[r] = data.labels[i]!;
      }
      const info = stepper.step(x, { labels: true, data: y }, m);
      if (!info.applied) throw new Error(`Expected every batch to be applied, got ${info.skipReason} in epoch ${epoch}`);
    }
  }
  return model;
}

function accuracy(model: Mlp, data: Digits): number {
  const stepper = createStepper(model, { loss: 'crossEntropy', optimizer: sgd({ lr: 0 }) }, undefined, data.rows);
  const out = stepper.forward(data.x, data.rows);
  let correct = 0;
  for (let i = 0; i < data.rows; i++) {
    let best = 0;
    for (let j = 1; j < 10; j++) if (out[i * 10 + j]! > out[i * 10 + best]!) best = j;
    if (best === data.labels[i]) correct++;
  }
  return correct / data.rows;
}

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
