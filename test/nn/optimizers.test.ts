/**
 * Optimizers against values derived by hand from PyTorch's update rules (torch.optim.SGD, Adam,
 * AdamW, single-tensor path). The expected values are written out as the arithmetic of each step,
 * never computed by the code under test.
 */
import { describe, expect, it } from 'vitest';
import {
  adam,
  adamw,
  applyOptimizer,
  checkOptimizer,
  currentLR,
  exponentialLR,
  sgd,
  type Optimizer,
  type OptimizerState,
} from '../../src/index.js';

/** Fresh state for one parameter tensor of n float64 values. */
function freshState(opt: Optimizer, n: number): OptimizerState {
  const per = opt.kind === 'sgd' ? 1 : 2;
  return { kind: opt.kind, t: 0, hasMomentum: false, buffers: [Array.from({ length: per }, () => new Float64Array(n))] };
}

/** Runs the optimizer over the gradient sequence; returns p after each step. */
function run(opt: Optimizer, p0: readonly number[], grads: readonly (readonly number[])[]): { params: number[][]; state: OptimizerState } {
  const p = Float64Array.from(p0);
  const state = freshState(opt, p.length);
  const params = grads.map((g) => {
    applyOptimizer(opt, state, [p], [Float64Array.from(g)]);
    return Array.from(p);
  });
  return { params, state };
}

function expectClose(actual: readonly number[], expected: readonly number[], what: string): void {
  expect(actual.length, what).toBe(expected.length);
  actual.forEach((v, i) => expect(Math.abs(v - expected[i]!), `${what}[${i}]: ${v} vs ${expected[i]}`).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(expected[i]!))));
}

// Single parameter p = 1, gradients 0.5, 0.25, 1 over three steps, lr 0.1.
const G = [[0.5], [0.25], [1]] as const;

describe('sgd', () => {
  it('takes p ← p - lr·g without momentum', () => {
    // 1 - 0.05 = 0.95;  0.95 - 0.025 = 0.925;  0.925 - 0.1 = 0.825
    expectClose(run(sgd({ lr: 0.1 }), [1], G).params.flat(), [0.95, 0.925, 0.825], 'p');
  });

  it('starts the momentum buffer at g on the first step (PyTorch), then buf ← μ·buf + g', () => {
    // μ 0.9:  buf 0.5            p = 1 - 0.1·0.5 = 0.95
    //         buf 0.45 + 0.25 = 0.7    p = 0.95 - 0.07 = 0.88
    //         buf 0.63 + 1 = 1.63      p = 0.88 - 0.163 = 0.717
    const { params, state } = run(sgd({ lr: 0.1, momentum: 0.9 }), [1], G);
    expectClose(params.flat(), [0.95, 0.88, 0.717], 'p');
    expectClose(Array.from(state.buffers[0]![0]!), [1.63], 'buf');
    expect(state.hasMomentum).toBe(true);
    expect(state.t).toBe(3);
  });

  it('does not dampen the first step, then buf ← μ·buf + (1 - dampening)·g', () => {
    // μ 0.9, dampening 0.5:  buf 0.5 (not 0.25)              p = 0.95
    //                        buf 0.45 + 0.125 = 0.575         p = 0.95 - 0.0575 = 0.8925
    //                        buf 0.5175 + 0.5 = 1.0175        p = 0.8925 - 0.10175 = 0.79075
    expectClose(run(sgd({ lr: 0.1, momentum: 0.9, dampening: 0.5 }), [1], G).params.flat(), [0.95, 0.8925, 0.79075], 'p');
  });

  it('steps along g + μ·buf with nesterov', () => {
    // μ 0.9:  buf 0.5,   d = 0.5 + 0.45 = 0.95     p = 1 - 0.095 = 0.905
    //         buf 0.7,   d = 0.25 + 0.63 = 0.88    p = 0.905 - 0.088 = 0.817
    //         buf 1.63,  d = 1 + 1.467 = 2.467     p = 0.817 - 0.2467 = 0.5703
    expectClose(run(sgd({ lr: 0.1, momentum: 0.9, nesterov: true }), [1], G).params.flat(), [0.905, 0.817, 0.5703], 'p');
  });

  it('adds weightDecay·p to the gradient, before the momentum buffer', () => {
    // wd 0.1:        d = 0.5 + 0.1 = 0.6          p = 1 - 0.06 = 0.94
    //                d = 0.25 + 0.094 = 0.344     p = 0.94 - 0.0344 = 0.9056
    expectClose(run(sgd({ lr: 0.1, weightDecay: 0.1 }), [1], G.slice(0, 2)).params.flat(), [0.94, 0.9056], 'p');
    // wd 0.1, μ 0.9: buf = 0.6                    p = 0.94
    //                buf = 0.54 + 0.344 = 0.884   p = 0.94 - 0.0884 = 0.8516
    expectClose(run(sgd({ lr: 0.1, momentum: 0.9, weightDecay: 0.1 }), [1], G.slice(0, 2)).params.flat(), [0.94, 0.8516], 'p');
  });

  it('keeps one momentum buffer per parameter tensor', () => {
    const opt = sgd({ lr: 1, momentum: 0.5 });
    const a = new Float64Array([0]), b = new Float64Array([0, 0]);
    const state: OptimizerState = { kind: 'sgd', t: 0, hasMomentum: false, buffers: [[new Float64Array(1)], [new Float64Array(2)]] };
    applyOptimizer(opt, state, [a, b], [new Float64Array([1]), new Float64Array([2, -2])]);
    applyOptimizer(opt, state, [a, b], [new Float64Array([1]), new Float64Array([0, 0])]);
    // a: buf 1 → 1.5, p = -1 - 1.5 = -2.5;  b: buf [2, -2] → [1, -1], p = [-2 - 1, 2 + 1]
    expect(Array.from(a)).toEqual([-2.5]);
    expect(Array.from(b)).toEqual([-3, 3]);
  });

  it('uses PyTorch defaults: momentum 0, dampening 0, nesterov false, weightDecay 0, constant schedule', () => {
    expect(sgd({ lr: 0.1 })).toEqual({ kind: 'sgd', lr: 0.1, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0, schedule: { kind: 'constant' } });
  });

  it('rejects bad options with "Expected X, got Y" (RangeError / TypeError)', () => {
    const bad: [() => unknown, ErrorConstructor, RegExp][] = [
      [() => sgd({ lr: NaN }), RangeError, /^Expected lr to be a finite number ≥ 0, got NaN$/],
      [() => sgd({ lr: Infinity }), RangeError, /^Expected lr to be a finite number ≥ 0, got Infinity$/],
      [() => sgd({ lr: -0.1 }), RangeError, /^Expected lr .*, got -0.1$/],
      [() => sgd({ lr: '0.1' as unknown as number }), RangeError, /^Expected lr .*, got "0.1"$/],
      [() => sgd({ lr: 0.1, momentum: -0.9 }), RangeError, /^Expected momentum to be a finite number ≥ 0, got -0.9$/],
      [() => sgd({ lr: 0.1, dampening: 2 }), RangeError, /^Expected dampening to be a finite number in \[0, 1\], got 2$/],
      [() => sgd({ lr: 0.1, weightDecay: -1 }), RangeError, /^Expected weightDecay .*, got -1$/],
      [() => sgd({ lr: 0.1, nesterov: true }), RangeError, /^Expected nesterov to have momentum > 0 and dampening 0, got momentum 0, dampening 0$/],
      [() => sgd({ lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true }), RangeError, /^Expected nesterov .*, got momentum 0.9, dampening 0.1$/],
      [() => sgd({ lr: 0.1, nesterov: 'yes' as unknown as boolean }), TypeError, /^Expected nesterov to be a boolean, got "yes"$/],
      [() => sgd(null as unknown as { lr: number }), TypeError, /^Expected sgd options object, got null$/],
    ];
    for (const [f, type, message] of bad) {
      expect(f).toThrow(type);
      expect(f).toThrow(message);
    }
  });
});

describe('adam', () => {
  // p = [1, -2], lr 0.1, β1 0.9, β2 0.999, eps 1e-8; gradients [0.5, -1], [0.25, 0.5], [1, -0.5].
  //   m ← 0.9 m + 0.1 g;   v ← 0.999 v + 0.001 g²;   p ← p - 0.1 · (m / (1 - 0.9^t)) / (√(v / (1 - 0.999^t)) + 1e-8)
  // t = 1: m = [0.05, -0.1]     v = [0.00025, 0.001]           bias corrections 0.1, 0.001: m̂ = g, √v̂ = |g|
  // t = 2: m = [0.07, -0.04]    v = [0.00031225, 0.001249]     bias corrections 0.19, 0.001999
  // t = 3: m = [0.163, -0.086]  v = [0.00131193775, 0.001497751]  bias corrections 0.271, 0.002997001
  const grads = [[0.5, -1], [0.25, 0.5], [1, -0.5]] as const;
  const step1 = [(0.1 * 0.5) / (0.5 + 1e-8), (0.1 * -1) / (1 + 1e-8)];
  const step2 = [(0.1 * (0.07 / 0.19)) / (Math.sqrt(0.00031225 / 0.001999) + 1e-8), (0.1 * (-0.04 / 0.19)) / (Math.sqrt(0.001249 / 0.001999) + 1e-8)];
  const step3 = [(0.1 * (0.163 / 0.271)) / (Math.sqrt(0.00131193775 / 0.002997001) + 1e-8), (0.1 * (-0.086 / 0.271)) / (Math.sqrt(0.001497751 / 0.002997001) + 1e-8)];

  it('takes three bias-corrected steps (first step ≈ lr · sign(g))', () => {
    const { params, state } = run(adam({ lr: 0.1 }), [1, -2], grads);
    const p1 = [1 - step1[0]!, -2 - step1[1]!];
    const p2 = [p1[0]! - step2[0]!, p1[1]! - step2[1]!];
    const p3 = [p2[0]! - step3[0]!, p2[1]! - step3[1]!];
    expectClose(params[0]!, p1, 'p after 1');
    expectClose(params[1]!, p2, 'p after 2');
    expectClose(params[2]!, p3, 'p after 3');
    // ≈ [0.900000002, -1.900000001], [0.80678204, -1.87336630], [0.71587341, -1.82847597]
    expectClose(params[2]!, [0.7158734055451459, -1.8284759682991438], 'p after 3 (decimal)');
    expectClose(Array.from(state.buffers[0]![0]!), [0.163, -0.086], 'm');
    expectClose(Array.from(state.buffers[0]![1]!), [0.00131193775, 0.001497751], 'v');
    expect(state.t).toBe(3);
  });

  it('adds weightDecay·p to the gradient (L2, coupled)', () => {
    // wd 0.1: d = [0.5 + 0.1, -1 - 0.2] = [0.6, -1.2]; first step ≈ lr · sign(d)
    expectClose(run(adam({ lr: 0.1, weightDecay: 0.1 }), [1, -2], grads.slice(0, 1)).params[0]!, [1 - (0.1 * 0.6) / (0.6 + 1e-8), -2 + (0.1 * 1.2) / (1.2 + 1e-8)], 'p');
  });

  it('uses PyTorch defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weightDecay 0', () => {
    expect(adam()).toEqual({ kind: 'adam', lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, schedule: { kind: 'constant' } });
  });

  it('rejects betas outside [0, 1) and negative eps (RangeError)', () => {
    expect(() => adam({ beta1: 1 })).toThrow(new RangeError('Expected beta1 to be a finite number in [0, 1), got 1'));
    expect(() => adam({ beta2: -0.1 })).toThrow(new RangeError('Expected beta2 to be a finite number in [0, 1), got -0.1'));
    expect(() => adam({ eps: -1 })).toThrow(/^Expected eps to be a finite number ≥ 0, got -1$/);
    expect(() => adam({ lr: NaN })).toThrow(RangeError);
  });
});

describe('adamw', () => {
  it('decays p ← p · (1 - lr·wd) before the Adam step, keeping the decay out of m and v', () => {
    // wd 0.1, lr 0.1: p ← 0.99 p, then the same Adam steps as above (m, v see the raw gradients).
    const grads = [[0.5, -1], [0.25, 0.5], [1, -0.5]] as const;
    const { params, state } = run(adamw({ lr: 0.1, weightDecay: 0.1 }), [1, -2], grads);
    const step1 = [(0.1 * 0.5) / (0.5 + 1e-8), (0.1 * -1) / (1 + 1e-8)];
    const step2 = [(0.1 * (0.07 / 0.19)) / (Math.sqrt(0.00031225 / 0.001999) + 1e-8), (0.1 * (-0.04 / 0.19)) / (Math.sqrt(0.001249 / 0.001999) + 1e-8)];
    const step3 = [(0.1 * (0.163 / 0.271)) / (Math.sqrt(0.00131193775 / 0.002997001) + 1e-8), (0.1 * (-0.086 / 0.271)) / (Math.sqrt(0.001497751 / 0.002997001) + 1e-8)];
    const p1 = [0.99 * 1 - step1[0]!, 0.99 * -2 - step1[1]!];
    const p2 = [0.99 * p1[0]! - step2[0]!, 0.99 * p1[1]! - step2[1]!];
    const p3 = [0.99 * p2[0]! - step3[0]!, 0.99 * p2[1]! - step3[1]!];
    expectClose(params[0]!, p1, 'p after 1');
    expectClose(params[1]!, p2, 'p after 2');
    expectClose(params[2]!, p3, 'p after 3');
    expectClose(Array.from(state.buffers[0]![0]!), [0.163, -0.086], 'm');
  });

  it('defaults to weightDecay 0.01 (PyTorch)', () => {
    expect(adamw().weightDecay).toBe(0.01);
    expect(adamw().kind).toBe('adamw');
  });
});

describe('applyOptimizer', () => {
  it('uses the schedule at the state\'s step count, then counts the step', () => {
    const opt = sgd({ lr: 1, schedule: exponentialLR({ gamma: 0.5 }) });
    const state = freshState(opt, 1);
    const p = new Float64Array([0]);
    const used = [0, 1, 2].map(() => applyOptimizer(opt, state, [p], [new Float64Array([1])]));
    expect(used).toEqual([1, 0.5, 0.25]);
    expect(p[0]).toBe(-1.75);
    expect(currentLR(opt, state)).toBe(0.125);
  });

  it('rejects state of another optimizer kind (TypeError)', () => {
    expect(() => applyOptimizer(adam(), freshState(sgd({ lr: 1 }), 1), [new Float64Array(1)], [new Float64Array(1)])).toThrow(
      new TypeError('Expected optimizer state for adam, got state for sgd'),
    );
  });
});

describe('checkOptimizer', () => {
  it('fills in defaults for each kind', () => {
    expect(checkOptimizer({ kind: 'sgd', lr: 0.5 })).toEqual(sgd({ lr: 0.5 }));
    expect(checkOptimizer({ kind: 'adam' })).toEqual(adam());
    expect(checkOptimizer({ kind: 'adamw', lr: 0.01 })).toEqual(adamw({ lr: 0.01 }));
  });

  it('rejects an unknown kind (TypeError) and bad values (RangeError)', () => {
    expect(() => checkOptimizer({ kind: 'rmsprop' })).toThrow(new TypeError('Expected optimizer kind "sgd", "adam" or "adamw", got "rmsprop"'));
    expect(() => checkOptimizer(null)).toThrow(TypeError);
    expect(() => checkOptimizer({ kind: 'sgd' })).toThrow(/^Expected lr to be a finite number ≥ 0, got undefined$/);
    expect(() => checkOptimizer({ kind: 'adam', schedule: { kind: 'linear' } })).toThrow(TypeError);
  });
});
