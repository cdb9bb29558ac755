/**
 * The MLP: seeded construction, explicit weights, inference, copies, and argument checks.
 */
import { describe, expect, it } from 'vitest';
import {
  cloneModel,
  mlp,
  mlpFromWeights,
  mlpShape,
  outputSize,
  parameterCount,
  predict,
  rng,
  shapeOf,
  tensor,
  type Activation,
  type MlpSpec,
} from '../../src/index.js';
import { expectSameModel, modelsDiffer } from '../helpers/bits.js';

const spec: MlpSpec = {
  inputSize: 5,
  layers: [
    { units: 7, activation: 'relu' },
    { units: 3, activation: 'softmax' },
  ],
  seed: 17,
};

describe('mlp', () => {
  it('builds dense layers [nin, nout] with zero biases, float32 by default', () => {
    const model = mlp(spec);
    expect(model.dtype).toBe('float32');
    expect(model.inputSize).toBe(5);
    expect(model.layers.map((l) => [l.nin, l.nout, l.activation, l.w.length, l.b.length])).toEqual([
      [5, 7, 'relu', 35, 7],
      [7, 3, 'softmax', 21, 3],
    ]);
    expect(model.layers[0]!.w).toBeInstanceOf(Float32Array);
    expect(model.layers.every((l) => l.b.every((v) => v === 0))).toBe(true);
    expect(outputSize(model)).toBe(3);
    expect(parameterCount(model)).toBe(35 + 7 + 21 + 3);
  });

  it('gives the same weights bit for bit for the same seed, in both dtypes', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      expectSameModel(mlp({ ...spec, dtype }), mlp({ ...spec, dtype }));
      expect(modelsDiffer(mlp({ ...spec, dtype }), mlp({ ...spec, dtype, seed: 18 }))).toBe(true);
    }
  });

  it('defaults to seed 0', () => {
    const { seed: _seed, ...noSeed } = spec;
    expectSameModel(mlp(noSeed), mlp({ ...spec, seed: 0 }));
  });

  it('draws glorotUniform weights as (2u - 1)·√(6 / (nin + nout)) from the seeded generator, layer by layer', () => {
    const model = mlp({ ...spec, dtype: 'float64' });
    const r = rng(17);
    for (const l of model.layers) {
      const limit = Math.sqrt(6 / (l.nin + l.nout));
      const expected = Float64Array.from({ length: l.w.length }, () => (2 * r.uniform() - 1) * limit);
      expect(Array.from(l.w)).toEqual(Array.from(expected));
    }
  });

  it('draws normal and heNormal weights with the right spread, and normal biases on request', () => {
    const big = (init: 'normal' | 'heNormal'): Float32Array | Float64Array =>
      mlp({ inputSize: 200, layers: [{ units: 200, activation: 'relu' }], init, seed: 1, biasInit: 'normal' }).layers[0]!.w;
    const sd = (w: ArrayLike<number>): number => {
      let s = 0;
      for (let i = 0; i < w.length; i++) s += w[i]! * w[i]!;
      return Math.sqrt(s / w.length);
    };
    // 40000 draws put the sample sd within ~1% of the true one; toBeCloseTo(1, 1) allows 5%,
    // and a wrong scale (√(1/nin) instead of √(2/nin)) is off by 29%.
    expect(sd(big('normal'))).toBeCloseTo(1, 1);
    expect(sd(big('heNormal')) / Math.sqrt(2 / 200)).toBeCloseTo(1, 1);
    const withBias = mlp({ inputSize: 2, layers: [{ units: 4, activation: 'tanh' }], biasInit: 'normal' });
    expect(withBias.layers[0]!.b.every((v) => v !== 0)).toBe(true);
  });

  it('rejects bad specs with "Expected X, got Y"', () => {
    const cases: [MlpSpec, ErrorConstructor, string][] = [
      [{ ...spec, inputSize: 0 }, RangeError, 'Expected inputSize to be a positive integer, got 0'],
      [{ ...spec, layers: [] }, TypeError, 'Expected layers to be a non-empty array, got an array of length 0'],
      [{ ...spec, layers: [{ units: 2.5, activation: 'relu' }] }, RangeError, 'Expected layers[0].units to be a positive integer, got 2.5'],
      [{ ...spec, layers: [{ units: 2, activation: 'swish' as Activation }] }, TypeError, 'Expected layers[0].activation to be one of sigmoid, tanh, relu, leakyRelu, linear, softmax, got "swish"'],
      [
        { ...spec, layers: [{ units: 2, activation: 'softmax' }, { units: 2, activation: 'linear' }] },
        TypeError,
        'Expected softmax only on the output layer, got it on layers[0] of 2',
      ],
      [{ ...spec, init: 'xavier' as 'normal' }, TypeError, 'Expected init to be one of normal, glorotUniform, heNormal, got "xavier"'],
      [{ ...spec, dtype: 'float16' as 'float32' }, TypeError, 'Expected dtype "float32" or "float64", got "float16"'],
    ];
    for (const [s, type, message] of cases) {
      expect(() => mlp(s)).toThrow(type);
      expect(() => mlp(s)).toThrow(message);
      // mlpShape checks exactly as mlp does
      expect(() => mlpShape(s)).toThrow(type);
      expect(() => mlpShape(s)).toThrow(message);
    }
  });

  it('describes a spec without building it: mlpShape gives the sizes mlp builds, and no weights', () => {
    const wide: MlpSpec = { inputSize: 5, layers: [{ units: 7, activation: 'relu' }, { units: 3, activation: 'softmax' }], dtype: 'float64', seed: 3 };
    const shape = mlpShape(wide);
    const built = mlp(wide);
    expect(shape).toEqual({
      dtype: 'float64',
      inputSize: 5,
      layers: [
        { nin: 5, nout: 7, activation: 'relu' },
        { nin: 7, nout: 3, activation: 'softmax' },
      ],
    });
    expect(shapeOf(built)).toEqual(shape);
    expect(parameterCount(shape)).toBe(parameterCount(built));
    expect(parameterCount(shape)).toBe(5 * 7 + 7 + 7 * 3 + 3);
    expect(shape.layers.some((l) => 'w' in l || 'b' in l)).toBe(false);
  });
});

describe('mlpFromWeights', () => {
  const weights = [
    { activation: 'tanh' as const, weights: [[1, 2], [3, 4], [5, 6]], bias: [0.5, -0.5] },
    { activation: 'linear' as const, weights: [[1], [-1]], bias: [2] },
  ];

  it('builds the model from [nin, nout] weights, and takes inputSize from the first layer', () => {
    const model = mlpFromWeights(weights, 'float64');
    expect(model.inputSize).toBe(3);
    expect(model.layers.map((l) => [l.nin, l.nout])).toEqual([[3, 2], [2, 1]]);
    expect(Array.from(model.layers[0]!.w)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(model.layers[1]!.b)).toEqual([2]);
  });

  it('accepts tensors and copies them', () => {
    const w = tensor([1, 2], [2, 1], 'float64');
    const model = mlpFromWeights([{ activation: 'linear', weights: w, bias: tensor([0], [1], 'float64') }], 'float64');
    w.data[0] = 9;
    expect(model.layers[0]!.w[0]).toBe(1);
  });

  it('rejects layers whose sizes do not chain (RangeError)', () => {
    expect(() => mlpFromWeights([weights[0]!, { activation: 'linear', weights: [[1], [2], [3]], bias: [0] }])).toThrow(
      new RangeError("Expected layers[1].weights to have 2 rows (the previous layer's units), got 3"),
    );
    expect(() => mlpFromWeights([{ ...weights[0]!, bias: [1, 2, 3] }])).toThrow(new RangeError('Expected layers[0].bias to have 2 values, got 3'));
    expect(() => mlpFromWeights([{ activation: 'linear', weights: tensor([1, 2], [2]), bias: [0] }])).toThrow(
      new RangeError('Expected layers[0].weights to be 2-D [nin, nout], got shape [2]'),
    );
    expect(() => mlpFromWeights([{ activation: 'linear', weights: [[1, 2], [3]], bias: [0, 0] }])).toThrow(RangeError);
  });

  it('rejects a layer with no units (RangeError)', () => {
    expect(() => mlpFromWeights([{ activation: 'linear', weights: [[]], bias: [] }])).toThrow(
      new RangeError('Expected layers[0].weights to be at least 1 × 1, got shape [1, 0]'),
    );
  });

  it('rejects unknown activations, softmax on a hidden layer (TypeError) and non-finite weights (RangeError)', () => {
    expect(() => mlpFromWeights([{ ...weights[0]!, activation: 'gelu' as Activation }])).toThrow(
      new TypeError('Expected layers[0].activation to be one of sigmoid, tanh, relu, leakyRelu, linear, softmax, got "gelu"'),
    );
    expect(() => mlpFromWeights([{ ...weights[0]!, activation: 'softmax' }, weights[1]!])).toThrow(
      new TypeError('Expected softmax only on the output layer, got it on layers[0] of 2'),
    );
    expect(() => mlpFromWeights([{ ...weights[0]!, bias: [NaN, 0] }])).toThrow(new RangeError('Expected finite weights in layers[0], got NaN'));
    expect(() => mlpFromWeights([])).toThrow(new TypeError('Expected a non-empty array of layers, got an array of length 0'));
  });
});

describe('predict', () => {
  it('computes f(x·W + b) layer by layer', () => {
    const model = mlpFromWeights(
      [
        { activation: 'relu', weights: [[1, -1], [2, 0.5]], bias: [0, 1] },
        { activation: 'sigmoid', weights: [[1], [-2]], bias: [0.5] },
      ],
      'float64',
    );
    // x = [1, 1]: z1 = [1 + 2, -1 + 0.5 + 1] = [3, 0.5]; a1 = [3, 0.5]; z2 = 3 - 1 + 0.5 = 2.5
    // x = [-1, 0]: z1 = [-1, 1 + 1] = [-1, 2];  a1 = [0, 2];  z2 = -4 + 0.5 = -3.5
    const out = predict(model, [[1, 1], [-1, 0]]);
    expect(out.shape).toEqual([2, 1]);
    expect(Array.from(out.data)).toEqual([1 / (1 + Math.exp(-2.5)), 1 / (1 + Math.exp(3.5))]);
  });

  it('gives softmax rows that sum to 1', () => {
    const model = mlp(spec);
    const out = predict(model, tensor([[1, 2, 3, 4, 5], [0, 0, 0, 0, 0]]));
    for (let i = 0; i < 2; i++) expect(out.data[3 * i]! + out.data[3 * i + 1]! + out.data[3 * i + 2]!).toBeCloseTo(1, 6);
  });

  it('rejects input of the wrong width (RangeError)', () => {
    expect(() => predict(mlp(spec), [[1, 2]])).toThrow(new RangeError('Expected input of shape [m, 5], got [1, 2]'));
  });
});

describe('cloneModel', () => {
  it('copies the weights into new arrays, bit for bit', () => {
    const model = mlp(spec);
    const copy = cloneModel(model);
    expectSameModel(copy, model);
    copy.layers[0]!.w[0] = 42;
    expect(model.layers[0]!.w[0]).not.toBe(42);
  });
});
