/**
 * Learning-rate schedules: the rate for optimizer step t (0-based), as PyTorch's StepLR,
 * ExponentialLR and CosineAnnealingLR give it when scheduler.step() follows every optimizer.step().
 */
import { describe, expect, it } from 'vitest';
import {
  constantLR,
  cosineLR,
  createStepper,
  exponentialLR,
  learningRate,
  mlpFromWeights,
  sgd,
  stepLR,
  type Schedule,
} from '../../src/index.js';

const rates = (s: Schedule, lr0: number, n: number): number[] => Array.from({ length: n }, (_, t) => learningRate(s, lr0, t));

describe('constantLR', () => {
  it('gives lr0 at every step', () => {
    expect(rates(constantLR, 0.3, 4)).toEqual([0.3, 0.3, 0.3, 0.3]);
  });
});

describe('stepLR', () => {
  it('multiplies by gamma every stepSize steps: lr0 · gamma^⌊t / stepSize⌋', () => {
    expect(rates(stepLR({ stepSize: 2, gamma: 0.5 }), 1, 7)).toEqual([1, 1, 0.5, 0.5, 0.25, 0.25, 0.125]);
  });

  it('defaults gamma to 0.1 (PyTorch)', () => {
    expect(stepLR({ stepSize: 3 })).toEqual({ kind: 'step', stepSize: 3, gamma: 0.1 });
  });

  it('rejects a stepSize that is not a positive integer and a negative gamma (RangeError)', () => {
    expect(() => stepLR({ stepSize: 0 })).toThrow(new RangeError('Expected stepSize to be a positive integer, got 0'));
    expect(() => stepLR({ stepSize: 1.5 })).toThrow(RangeError);
    expect(() => stepLR({ stepSize: 1, gamma: -0.5 })).toThrow(new RangeError('Expected gamma to be a finite number ≥ 0, got -0.5'));
  });
});

describe('exponentialLR', () => {
  it('gives lr0 · gamma^t', () => {
    expect(rates(exponentialLR({ gamma: 0.5 }), 2, 4)).toEqual([2, 1, 0.5, 0.25]);
  });

  it('rejects a non-finite gamma (RangeError)', () => {
    expect(() => exponentialLR({ gamma: NaN })).toThrow(new RangeError('Expected gamma to be a finite number ≥ 0, got NaN'));
  });
});

describe('cosineLR', () => {
  it('anneals from lr0 to etaMin over tMax steps: etaMin + (lr0 - etaMin)(1 + cos(πt / tMax)) / 2', () => {
    const r = rates(cosineLR({ tMax: 4 }), 1, 5);
    // cos 0 = 1, cos π/4 = √½, cos π/2 = 0, cos 3π/4 = -√½, cos π = -1
    const expected = [1, (1 + Math.SQRT1_2) / 2, 0.5, (1 - Math.SQRT1_2) / 2, 0];
    r.forEach((v, t) => expect(v).toBeCloseTo(expected[t]!, 15));
  });

  it('ends at etaMin and stays there after tMax', () => {
    const s = cosineLR({ tMax: 4, etaMin: 0.1 });
    expect(learningRate(s, 1, 2)).toBeCloseTo(0.1 + 0.9 * 0.5, 15);
    expect(learningRate(s, 1, 4)).toBeCloseTo(0.1, 15);
    expect(learningRate(s, 1, 9)).toBeCloseTo(0.1, 15);
  });

  it('rejects tMax < 1 and a negative etaMin (RangeError)', () => {
    expect(() => cosineLR({ tMax: 0 })).toThrow(new RangeError('Expected tMax to be a positive integer, got 0'));
    expect(() => cosineLR({ tMax: 3, etaMin: -1 })).toThrow(new RangeError('Expected etaMin to be a finite number ≥ 0, got -1'));
  });
});

describe('createStepper with a schedule', () => {
  it('set the learning rate of each applied optimizer step', () => {
    const model = mlpFromWeights([{ activation: 'linear', weights: [[0]], bias: [0] }], 'float64');
    const stepper = createStepper(model, { loss: 'sse', optimizer: sgd({ lr: 0.8, schedule: stepLR({ stepSize: 2, gamma: 0.5 }) }) });
    const x = new Float64Array([1]);
    const y = { labels: false, data: new Float64Array([0]) };
    const used = Array.from({ length: 5 }, () => stepper.step(x, y, 1).lr);
    expect(used).toEqual([0.8, 0.8, 0.4, 0.4, 0.2]);
  });
});
