/**
 * The training step: the tutorial network against its numpy reference (test/fixtures/tutorial.py),
 * the pure `step()` against `createStepper`, gradient clipping, the non-finite guard, and the
 * validation of configs and batches.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import {
  LivegradError,
  adam,
  checkBatch,
  cloneModel,
  cloneOptimizerState,
  createStepper,
  mlp,
  mlpFromWeights,
  newOptimizerState,
  predict,
  sgd,
  step,
  stepLR,
  tensor,
  type Batch,
  type FloatArray,
  type Mlp,
  type StepConfig,
} from '../../src/index.js';
import { SIMD } from '../../src/nn/simd.js';
import { allFinite } from '../../src/nn/batch.js';
import { expectSameBits, expectSameModel, expectSameState } from '../helpers/bits.js';

interface TutorialWeights {
  readonly W1: number[][];
  readonly b1: number[];
  readonly W2: number[][];
  readonly b2: number[];
}

interface TutorialFixture {
  readonly X: number[][];
  readonly y: number[][];
  readonly initial: TutorialWeights;
  readonly steps: readonly (TutorialWeights & { readonly loss: number })[];
}

const tutorial = JSON.parse(readFileSync(new URL('../fixtures/tutorial.json', import.meta.url), 'utf8')) as TutorialFixture;

function tutorialModel(w: TutorialWeights): Mlp {
  return mlpFromWeights(
    [
      { activation: 'sigmoid', weights: w.W1, bias: w.b1 },
      { activation: 'sigmoid', weights: w.W2, bias: w.b2 },
    ],
    'float64',
  );
}

function expectWithin(actual: FloatArray, expected: readonly number[], tol: number, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  actual.forEach((v, i) => expect(Math.abs(v - expected[i]!), `${what}[${i}]: ${v} vs ${expected[i]}`).toBeLessThanOrEqual(tol));
}

function expectTutorialWeights(model: Mlp, w: TutorialWeights): void {
  const [l1, l2] = model.layers;
  expectWithin(l1!.w, w.W1.flat(), 1e-12, 'W1');
  expectWithin(l1!.b, w.b1, 1e-12, 'b1');
  expectWithin(l2!.w, w.W2.flat(), 1e-12, 'W2');
  expectWithin(l2!.b, w.b2, 1e-12, 'b2');
}

describe('step (tutorial network, against test/fixtures/tutorial.py)', () => {
  const config: StepConfig = { loss: 'sse', optimizer: sgd({ lr: 1 }) };
  const batch: Batch = { x: tensor(tutorial.X, undefined, 'float64'), y: tensor(tutorial.y, undefined, 'float64') };

  it('starts from the fixture weights, with non-zero biases', () => {
    const model = tutorialModel(tutorial.initial);
    expect(model.layers.map((l) => [l.nin, l.nout])).toEqual([[3, 4], [4, 1]]);
    expect(tutorial.initial.b1.every((b) => b !== 0) && tutorial.initial.b2[0] !== 0).toBe(true);
    expect(tutorial.steps).toHaveLength(3);
  });

  it('gives the numpy weights and biases after each of three steps (pure step)', () => {
    let model = tutorialModel(tutorial.initial);
    let state = newOptimizerState(model, config.optimizer);
    for (const expected of tutorial.steps) {
      const r = step(model, state, batch, config);
      expect(r.info.applied).toBe(true);
      expect(Math.abs(r.info.loss - expected.loss)).toBeLessThanOrEqual(1e-12);
      expectTutorialWeights(r.model, expected);
      ({ model, state } = r);
    }
  });

  it('gives the numpy weights and biases after each of three steps (createStepper, in place)', () => {
    const model = tutorialModel(tutorial.initial);
    const stepper = createStepper(model, config);
    const { targets } = checkBatch(model, batch);
    for (const expected of tutorial.steps) {
      const info = stepper.step(batch.x.data, targets, 2);
      expect(Math.abs(info.loss - expected.loss)).toBeLessThanOrEqual(1e-12);
      expectTutorialWeights(model, expected);
    }
  });

  it('gives the same bits through step() and createStepper()', () => {
    let model = tutorialModel(tutorial.initial);
    let state = newOptimizerState(model, config.optimizer);
    const inPlace = tutorialModel(tutorial.initial);
    const stepper = createStepper(inPlace, config);
    const { targets } = checkBatch(inPlace, batch);
    for (let i = 0; i < 3; i++) {
      ({ model, state } = step(model, state, batch, config));
      stepper.step(batch.x.data, targets, 2);
    }
    expectSameModel(inPlace, model);
    expectSameState(stepper.state, state);
  });
});

describe('step (pure transition)', () => {
  const model = mlp({ inputSize: 3, layers: [{ units: 5, activation: 'tanh' }, { units: 2, activation: 'softmax' }], dtype: 'float64', seed: 4 });
  const batch: Batch = { x: tensor([[0.1, -0.2, 0.3], [1, 0, -1], [0.5, 0.5, 0.5]], undefined, 'float64'), y: tensor([1, 0, 1], [3], 'float64') };
  const config: StepConfig = { loss: 'crossEntropy', optimizer: adam({ lr: 0.01 }) };

  it('leaves its model and optimizer state untouched', () => {
    const before = cloneModel(model);
    const state = newOptimizerState(model, config.optimizer);
    const stateBefore = cloneOptimizerState(state);
    const r = step(model, state, batch, config);
    expectSameModel(model, before);
    expectSameState(state, stateBefore);
    expect(r.model).not.toBe(model);
    expect(r.state.t).toBe(1);
  });

  it('reports batch size, per-layer gradient norms and their global norm, and the lr used', () => {
    const { info } = step(model, newOptimizerState(model, config.optimizer), batch, config);
    expect(info.batchSize).toBe(3);
    expect(info.gradNorms).toHaveLength(2);
    expect(info.gradNorm).toBeCloseTo(Math.hypot(...info.gradNorms), 14);
    expect(info.lr).toBe(0.01);
    expect(info.skipReason).toBeUndefined();
  });

  it('returns a StepInfo that later steps do not overwrite', () => {
    const a = step(model, newOptimizerState(model, config.optimizer), batch, config);
    const norms = a.info.gradNorms.slice();
    step(a.model, a.state, batch, config);
    expect(Array.from(a.info.gradNorms)).toEqual(Array.from(norms));
  });

  it('lowers the loss of a fixed batch over repeated steps', () => {
    let m = model;
    let state = newOptimizerState(model, config.optimizer);
    let first = NaN, last = NaN;
    for (let i = 0; i < 50; i++) {
      const r = step(m, state, batch, config);
      if (i === 0) first = r.info.loss;
      last = r.info.loss;
      ({ model: m, state } = r);
    }
    expect(last).toBeLessThan(first / 2);
  });
});

describe('createStepper', () => {
  it('forward() gives the same outputs as predict() (both on the TypeScript kernels)', () => {
    const model = mlp({ inputSize: 4, layers: [{ units: 6, activation: 'relu' }, { units: 3, activation: 'sigmoid' }], seed: 9 });
    const x = tensor([[1, 2, 3, 4], [-1, 0.5, 0, 2]]);
    const out = createStepper(model, { loss: 'mse', optimizer: sgd({ lr: 0.1 }) }, undefined, 1, { kernels: 'js' }).forward(x.data, 2);
    expectSameBits(out.subarray(0, 6), predict(model, x).data);
  });

  it('uses only the first m rows of a larger buffer', () => {
    const make = (): Mlp => mlp({ inputSize: 2, layers: [{ units: 3, activation: 'tanh' }, { units: 1, activation: 'linear' }], dtype: 'float64', seed: 2 });
    const config: StepConfig = { loss: 'mse', optimizer: sgd({ lr: 0.1, momentum: 0.9 }) };
    const a = make(), b = make();
    const sa = createStepper(a, config, undefined, 4), sb = createStepper(b, config);
    const big = new Float64Array([1, 2, 3, 4, 1e300, NaN]);
    sa.step(big, { labels: false, data: new Float64Array([0.5, -0.5, NaN]) }, 2);
    sb.step(big.slice(0, 4), { labels: false, data: new Float64Array([0.5, -0.5]) }, 2);
    expectSameModel(a, b);
  });

  it('uses only the first m rows of larger float32 buffers on either kernels, rows and targets of more than a few values', () => {
    // 3 rows of 40 inputs and of 30 target values in buffers of 5 rows: copied by a `set` of their first rows, not a loop
    const make = (): Mlp => mlp({ inputSize: 40, layers: [{ units: 7, activation: 'sigmoid' }, { units: 30, activation: 'softmax' }], seed: 5 });
    const config: StepConfig = { loss: 'crossEntropy', optimizer: sgd({ lr: 0.5 }) };
    const x = Float32Array.from({ length: 5 * 40 }, (_, i) => Math.sin(i));
    const y = Float32Array.from({ length: 5 * 30 }, (_, i) => (i % 30 === (7 * Math.floor(i / 30)) % 30 ? 1 : 0)); // one-hot rows
    for (const kernels of ['js', 'wasm'] as const) {
      const a = make(), b = make();
      const sa = createStepper(a, config, undefined, 5, { kernels }), sb = createStepper(b, config, undefined, 3, { kernels });
      for (let s = 0; s < 3; s++) {
        sa.step(x, { labels: false, data: y }, 3);
        sb.step(x.slice(0, 3 * 40), { labels: false, data: y.slice(0, 3 * 30) }, 3);
      }
      expectSameModel(a, b);
      sa.close();
      sb.close();
    }
  });

  it('input(m): rows written there train as the same rows passed as x, on either kernels (also after growing to a larger batch)', () => {
    const make = (): Mlp => mlp({ inputSize: 3, layers: [{ units: 5, activation: 'sigmoid' }, { units: 2, activation: 'softmax' }], seed: 4 });
    const config: StepConfig = { loss: 'crossEntropy', optimizer: sgd({ lr: 0.5 }) };
    const rows = [
      [0.1, 0.2, 0.3, 1, 0, -1, 0.5, 0.5, 0.5, -2, 3, 0.25],
      [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3],
      [-1, 2, -3, 0.5, 0, 1], // fewer rows than it has room for
    ].map((r) => Float32Array.from(r));
    const labels = [Float32Array.of(0, 1, 1, 0), Float32Array.of(1, 0, 0, 1, 1, 0), Float32Array.of(1, 1)];
    for (const kernels of ['js', 'wasm'] as const) {
      const a = make(), b = make();
      const sa = createStepper(a, config, undefined, 2, { kernels, threads: 1 }), sb = createStepper(b, config, undefined, 2, { kernels, threads: 1 });
      rows.forEach((x, k) => {
        const m = x.length / 3;
        const room = sa.input(m);
        expect(room.length, kernels).toBe(m * 3);
        room.set(x);
        const la = sa.step(room, { labels: true, data: labels[k]! }, m).loss;
        const lb = sb.step(x, { labels: true, data: labels[k]! }, m).loss;
        expect(la, kernels).toBe(lb);
      });
      expectSameModel(a, b);
      sa.close();
      sb.close();
    }
  });

  it('follows a config replaced between steps (e.g. a new learning rate)', () => {
    const model = mlpFromWeights([{ activation: 'linear', weights: [[0]], bias: [0] }], 'float64');
    const stepper = createStepper(model, { loss: 'sse', optimizer: sgd({ lr: 1 }) });
    const targets = { labels: false, data: new Float64Array([1]) };
    stepper.step(new Float64Array([1]), targets, 1); // z = 0, error -1: w = 1, b = 1
    stepper.config = { loss: 'sse', optimizer: sgd({ lr: 0.5 }) };
    const info = stepper.step(new Float64Array([1]), targets, 1); // z = 2, error 1: w = 1 - 0.5 = 0.5
    expect(info.lr).toBe(0.5);
    expect([model.layers[0]!.w[0], model.layers[0]!.b[0]]).toEqual([0.5, 0.5]);
  });

  it('rejects a loss that needs another output activation (TypeError)', () => {
    const linear = mlp({ inputSize: 2, layers: [{ units: 2, activation: 'linear' }] });
    const sigmoid = mlp({ inputSize: 2, layers: [{ units: 2, activation: 'sigmoid' }] });
    expect(() => createStepper(linear, { loss: 'bce', optimizer: sgd({ lr: 1 }) })).toThrow(
      new TypeError('Expected output activation sigmoid for loss bce, got linear'),
    );
    expect(() => createStepper(sigmoid, { loss: 'crossEntropy', optimizer: sgd({ lr: 1 }) })).toThrow(
      new TypeError('Expected output activation softmax for loss crossEntropy, got sigmoid'),
    );
    const batch: Batch = { x: tensor([[1, 2]]), y: tensor([[0, 1]]) };
    expect(() => step(linear, newOptimizerState(linear, sgd({ lr: 1 })), batch, { loss: 'bce', optimizer: sgd({ lr: 1 }) })).toThrow(TypeError);
  });

  it('rejects a clipNorm that is not a finite number > 0 (RangeError)', () => {
    const model = mlp({ inputSize: 2, layers: [{ units: 1, activation: 'linear' }] });
    for (const clipNorm of [0, -1, NaN, Infinity]) {
      expect(() => createStepper(model, { loss: 'sse', optimizer: sgd({ lr: 1 }), clipNorm })).toThrow(RangeError);
    }
    expect(() => createStepper(model, { loss: 'sse', optimizer: sgd({ lr: 1 }), clipNorm: 0 })).toThrow(/^Expected clipNorm to be a finite number > 0, got 0$/);
  });

  it('rejects optimizer state of another kind or size (LivegradError E_BAD_STATE)', () => {
    const model = mlp({ inputSize: 2, layers: [{ units: 3, activation: 'linear' }] });
    const other = mlp({ inputSize: 3, layers: [{ units: 3, activation: 'linear' }] });
    const config: StepConfig = { loss: 'sse', optimizer: adam() };
    const cases = [
      newOptimizerState(model, sgd({ lr: 1 })),
      newOptimizerState(other, adam()),
      newOptimizerState(mlp({ inputSize: 2, layers: [{ units: 3, activation: 'linear' }], dtype: 'float64' }), adam()),
    ];
    // adam needs two buffers (m, v) per parameter
    const short = newOptimizerState(model, adam());
    short.buffers.forEach((bs) => bs.pop());
    cases.push(short);
    for (const state of cases) {
      expect(() => createStepper(model, config, state)).toThrow(expect.objectContaining({ name: 'LivegradError', code: 'E_BAD_STATE', message: expect.stringMatching(/^Expected /) }));
    }
  });
});

describe('step (gradient clipping, PyTorch clip_grad_norm_)', () => {
  // One linear unit, w = [0, 0], b = 0, x = [2, 2], target 1, sse:
  // z = 0, error -1, so dW = [-2, -2] and db = -1, global norm √(4 + 4 + 1) = 3.
  // With sgd lr 1 the step adds -g·coef: w = [2 coef, 2 coef], b = coef.
  const model = mlpFromWeights([{ activation: 'linear', weights: [[0], [0]], bias: [0] }], 'float64');
  const batch: Batch = { x: tensor([[2, 2]], undefined, 'float64'), y: tensor([[1]], undefined, 'float64') };
  const run = (clipNorm?: number): { w: number[]; b: number; gradNorm: number } => {
    const config: StepConfig = clipNorm === undefined ? { loss: 'sse', optimizer: sgd({ lr: 1 }) } : { loss: 'sse', optimizer: sgd({ lr: 1 }), clipNorm };
    const r = step(model, newOptimizerState(model, config.optimizer), batch, config);
    return { w: Array.from(r.model.layers[0]!.w), b: r.model.layers[0]!.b[0]!, gradNorm: r.info.gradNorm };
  };

  it('does not clip without clipNorm', () => {
    expect(run()).toEqual({ w: [2, 2], b: 1, gradNorm: 3 });
  });

  it('scales gradients by clipNorm / (norm + 1e-6) when that is below 1, and reports the norm before clipping', () => {
    const coef = 1 / (3 + 1e-6);
    const r = run(1);
    expect(r.gradNorm).toBe(3);
    expect(r.w[0]).toBeCloseTo(2 * coef, 15);
    expect(r.w[1]).toBeCloseTo(2 * coef, 15);
    expect(r.b).toBeCloseTo(coef, 15);
  });

  it('still scales when the norm equals clipNorm (coef = 3 / 3.000001 < 1)', () => {
    const coef = 3 / (3 + 1e-6);
    const r = run(3);
    expect(r.b).toBe(coef);
    expect(r.w).toEqual([2 * coef, 2 * coef]);
  });

  it('leaves gradients alone when clipNorm / (norm + 1e-6) ≥ 1', () => {
    expect(run(3.000001)).toEqual({ w: [2, 2], b: 1, gradNorm: 3 });
    expect(run(10)).toEqual({ w: [2, 2], b: 1, gradNorm: 3 });
  });

  it('clips by the global norm over all layers, not per layer', () => {
    const two = mlpFromWeights(
      [
        { activation: 'linear', weights: [[0.5]], bias: [0] },
        { activation: 'linear', weights: [[2]], bias: [0] },
      ],
      'float64',
    );
    // x = 1, target 0: a1 = 0.5, out = 1, error 1.
    // layer 2: dW = a1 · 1 = 0.5, db = 1;  layer 1: delta = 1 · 2 = 2, dW = 2, db = 2.
    // norms √1.25 and √8; global √9.25.
    const b: Batch = { x: tensor([[1]], undefined, 'float64'), y: tensor([[0]], undefined, 'float64') };
    const config: StepConfig = { loss: 'sse', optimizer: sgd({ lr: 1 }), clipNorm: 1 };
    const r = step(two, newOptimizerState(two, config.optimizer), b, config);
    expect(r.info.gradNorms[0]).toBeCloseTo(Math.sqrt(8), 15);
    expect(r.info.gradNorms[1]).toBeCloseTo(Math.sqrt(1.25), 15);
    expect(r.info.gradNorm).toBeCloseTo(Math.sqrt(9.25), 15);
    const coef = 1 / (Math.sqrt(9.25) + 1e-6);
    expect(r.model.layers[0]!.w[0]).toBeCloseTo(0.5 - 2 * coef, 15);
    expect(r.model.layers[0]!.b[0]).toBeCloseTo(-2 * coef, 15);
    expect(r.model.layers[1]!.w[0]).toBeCloseTo(2 - 0.5 * coef, 15);
    expect(r.model.layers[1]!.b[0]).toBeCloseTo(-coef, 15);
  });
});

describe('step (non-finite guard)', () => {
  const config: StepConfig = { loss: 'sse', optimizer: adam({ lr: 0.1, schedule: stepLR({ stepSize: 1, gamma: 0.5 }) }) };
  const one = (w: number): Mlp => mlpFromWeights([{ activation: 'linear', weights: [[w]], bias: [0.25] }], 'float64');
  const batch1 = (x: number, y: number): Batch => ({ x: tensor([[x]], undefined, 'float64'), y: tensor([[y]], undefined, 'float64') });
  const good = batch1(0.5, 1);

  it('skips a batch whose loss is not finite: model and state unchanged bit for bit', () => {
    // z = 1e300 · 1e300 = Inf, so the loss is Inf
    const model = one(1e300);
    const state = newOptimizerState(model, config.optimizer);
    const r = step(model, state, batch1(1e300, 0), config);
    expect(r.info.applied).toBe(false);
    expect(r.info.skipReason).toBe('non-finite loss');
    expect(r.info.loss).toBe(Infinity);
    expectSameModel(r.model, model);
    expectSameState(r.state, state);
  });

  it('skips a batch whose loss is NaN (Inf - Inf in the forward pass)', () => {
    const model = mlpFromWeights([{ activation: 'linear', weights: [[1e308], [1e308]], bias: [0] }], 'float64');
    const state = newOptimizerState(model, config.optimizer);
    const r = step(model, state, { x: tensor([[10, -10]], undefined, 'float64'), y: tensor([[0]], undefined, 'float64') }, config);
    expect(Number.isNaN(r.info.loss)).toBe(true);
    expect([r.info.applied, r.info.skipReason]).toEqual([false, 'non-finite loss']);
    expectSameModel(r.model, model);
  });

  it('skips a batch whose loss is finite but whose gradient is not', () => {
    // z = 1e300 · 1e-290 = 1e10: loss ½ 1e20 is finite, dW = x · error = 1e310 = Inf
    const model = one(1e-290);
    const state = newOptimizerState(model, config.optimizer);
    const r = step(model, state, batch1(1e300, 0), config);
    expect(Number.isFinite(r.info.loss)).toBe(true);
    expect([r.info.applied, r.info.skipReason]).toEqual([false, 'non-finite gradients']);
    expectSameModel(r.model, model);
    expectSameState(r.state, state);
  });

  it('trains normally on the next good batch, as if the bad one never came', () => {
    const model = one(1e-290);
    const state = newOptimizerState(model, config.optimizer);
    const skipped = step(model, state, batch1(1e300, 0), config);
    expect(skipped.info.applied).toBe(false);
    const after = step(skipped.model, skipped.state, good, config);
    const direct = step(model, state, good, config);
    expect(after.info.applied).toBe(true);
    expect(after.info.lr).toBe(0.1); // the schedule did not advance on the skipped batch
    expectSameModel(after.model, direct.model);
    expectSameState(after.state, direct.state);
  });

  it('does the same in place (createStepper)', () => {
    const model = one(1e-290);
    const before = cloneModel(model);
    const stepper = createStepper(model, config);
    const bad = stepper.step(new Float64Array([1e300]), { labels: false, data: new Float64Array([0]) }, 1);
    expect([bad.applied, bad.skipReason, stepper.state.t]).toEqual([false, 'non-finite gradients', 0]);
    expectSameModel(model, before);
    const ok = stepper.step(new Float64Array([0.5]), { labels: false, data: new Float64Array([1]) }, 1);
    expect([ok.applied, ok.skipReason, stepper.state.t]).toEqual([true, undefined, 1]);
    const reference = step(before, newOptimizerState(before, config.optimizer), good, config);
    expectSameModel(model, reference.model);
  });
});

describe('allFinite', () => {
  it.skipIf(SIMD === undefined)('never grows (so never detaches) the WebAssembly memory it checks in: a detach anywhere slows every typed array', async () => {
    // a fresh instance of the module, as a process that has not run a product on it yet
    vi.resetModules();
    const fresh = await import('../../src/nn/simd.js');
    const check = (await import('../../src/nn/batch.js')).allFinite;
    const buffer = fresh.SIMD!.memory.buffer;
    expect(check(new Float32Array(300_000).fill(1))).toBe(true);
    expect(check(new Float32Array(65_536).fill(2))).toBe(true);
    expect(fresh.SIMD!.memory.buffer).toBe(buffer);
  });

  // The JS loop sums in four interleaved chains; float32 arrays of ≥ 64 values go to WebAssembly
  // in blocks of 65,536 values, sixteen values a step with the last n mod 16 in JS. So: lengths
  // around each of these widths, and a bad value at every position of the first 160, of the last
  // 40 and around the block boundary (every position modulo 4 and 16, in the unrolled part and in
  // the tail), and at every 97th in between.
  const BLOCK = 65_536;
  const lengths = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 63, 64, 65, 79, 80, 81, 127, 128, 2048, 2051, BLOCK, BLOCK + 1, BLOCK + 17, 2 * BLOCK + 40];
  const positions = (n: number): number[] =>
    Array.from({ length: n }, (_, i) => i).filter((i) => i < 160 || i >= n - 40 || Math.abs(i - BLOCK) < 40 || i % (n > BLOCK ? 4099 : 97) === 0);
  const arrays = (n: number, fill: number): FloatArray[] => [new Float32Array(n).fill(fill), new Float64Array(n).fill(fill)];

  it('runs the WebAssembly path in this runtime', () => {
    expect(SIMD).toBeDefined();
  });

  it('is true for arrays of finite values of any length, float32 and float64', () => {
    for (const n of lengths) {
      const values = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? -1 : 1) * (i + 0.5) * 1e30);
      expect(allFinite(Float64Array.from(values))).toBe(true);
      expect(allFinite(Float32Array.from(values, (v) => v / 1e30))).toBe(true);
    }
    expect(allFinite(Float64Array.of(-0, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE))).toBe(true);
    const extremes = Float32Array.from({ length: 100 }, (_, i) => [3.4028234663852886e38, -3.4028234663852886e38, 1.401298464324817e-45, -0][i % 4]!);
    expect(allFinite(extremes)).toBe(true);
  });

  it('is false when NaN, Infinity or -Infinity sits at any position', () => {
    for (const n of lengths.filter((n) => n > 0)) {
      for (const a of arrays(n, 0.25)) {
        for (const at of positions(n)) {
          for (const bad of [NaN, Infinity, -Infinity]) {
            a[at] = bad;
            expect(allFinite(a), `${bad} at ${at} of ${n} (${a.constructor.name})`).toBe(false);
          }
          a[at] = 0.25;
        }
        expect(allFinite(a)).toBe(true);
      }
    }
  });

  it('is false for +Infinity and -Infinity together (they do not cancel)', () => {
    expect(allFinite(Float64Array.of(Infinity, -Infinity, 1, 2))).toBe(false);
    expect(allFinite(Float64Array.of(Infinity, 1, 2, 3, -Infinity))).toBe(false);
    const lanes = new Float32Array(64);
    lanes[0] = Infinity;
    lanes[16] = -Infinity; // the same lane of the next accumulator
    expect(allFinite(lanes)).toBe(false);
  });

  it('checks a view at an offset into a larger buffer, and nothing outside it', () => {
    const buffer = new Float32Array(300).fill(NaN);
    buffer.fill(1, 50, 250);
    expect(allFinite(buffer.subarray(50, 250))).toBe(true);
    expect(allFinite(buffer.subarray(49, 250))).toBe(false);
    expect(allFinite(buffer.subarray(50, 251))).toBe(false);
  });

  it('does not grow the WebAssembly memory to the size of a large array', () => {
    const before = SIMD!.memory.buffer.byteLength;
    expect(allFinite(new Float32Array(4 * BLOCK))).toBe(true);
    expect(SIMD!.memory.buffer.byteLength).toBeLessThanOrEqual(Math.max(before, 4 * BLOCK));
  });
});

describe('checkBatch', () => {
  const model = mlp({ inputSize: 2, layers: [{ units: 3, activation: 'softmax' }] });
  const expectCode = (batch: Batch, code: string, message: RegExp): void => {
    let caught: unknown;
    try {
      checkBatch(model, batch);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(LivegradError);
    expect((caught as LivegradError).code).toBe(code);
    expect((caught as LivegradError).message).toMatch(message);
  };

  it('accepts values [m, nout] and class indices [m]', () => {
    expect(checkBatch(model, { x: tensor([[1, 2]]), y: tensor([[0, 0, 1]]) }).targets.labels).toBe(false);
    const r = checkBatch(model, { x: tensor([[1, 2], [3, 4]]), y: tensor([2, 0], [2]) });
    expect(r.m).toBe(2);
    expect(r.targets.labels).toBe(true);
  });

  it('rejects x and y of the wrong shape (E_SHAPE)', () => {
    expectCode({ x: tensor([[1, 2, 3]]), y: tensor([0], [1]) }, 'E_SHAPE', /^Expected x of shape \[m ≥ 1, 2\], got \[1, 3\]$/);
    expectCode({ x: tensor([1, 2], [2]), y: tensor([0], [1]) }, 'E_SHAPE', /^Expected x of shape .*, got \[2\]$/);
    expectCode({ x: tensor([], [0, 2]), y: tensor([], [0]) }, 'E_SHAPE', /^Expected x of shape .*, got \[0, 2\]$/);
    expectCode({ x: tensor([[1, 2]]), y: tensor([[0, 1]]) }, 'E_SHAPE', /^Expected y of shape \[1, 3\] or class indices \[1\], got \[1, 2\]$/);
    expectCode({ x: tensor([[1, 2]]), y: tensor([0, 1], [2]) }, 'E_SHAPE', /^Expected y .*, got \[2\]$/);
    expectCode({ x: { dtype: 'float32', shape: [2, 2], data: new Float32Array(2) }, y: tensor([0, 1], [2]) }, 'E_SHAPE', /^Expected x of shape/);
  });

  it('rejects non-finite x or y (E_NON_FINITE)', () => {
    expectCode({ x: tensor([[1, NaN]]), y: tensor([0], [1]) }, 'E_NON_FINITE', /^Expected finite x, got NaN at row 0, column 1$/);
    expectCode({ x: tensor([[1, 2], [Infinity, 0]]), y: tensor([0, 0], [2]) }, 'E_NON_FINITE', /^Expected finite x, got Infinity at row 1, column 0$/);
    expectCode({ x: tensor([[1, 2]]), y: tensor([[0, -Infinity, 1]]) }, 'E_NON_FINITE', /^Expected finite y, got -Infinity at index 1$/);
  });

  it('rejects class indices outside [0, nout) or not integers (E_LABEL_RANGE)', () => {
    for (const label of [3, -1, 1.5]) {
      expectCode({ x: tensor([[1, 2]]), y: tensor([label], [1]) }, 'E_LABEL_RANGE', new RegExp(`^Expected class index in \\[0, 2\\], got ${label} at row 0 \\(y of shape \\[m\\] holds class indices; give regression targets as \\[m, 3\\]\\)$`));
    }
  });

  it('is applied by step() before anything is computed', () => {
    const state = newOptimizerState(model, sgd({ lr: 1 }));
    expect(() => step(model, state, { x: tensor([[1, NaN]]), y: tensor([0], [1]) }, { loss: 'crossEntropy', optimizer: sgd({ lr: 1 }) })).toThrow(
      expect.objectContaining({ code: 'E_NON_FINITE' }),
    );
  });
});
