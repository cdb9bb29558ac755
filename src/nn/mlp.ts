/**
 * The multi-layer perceptron: a stack of dense layers, z = x·W + b, a = f(z).
 * A model is plain data (sizes, activations, typed arrays), so it can be copied,
 * compared and serialised without ceremony.
 */
import { describe } from '../errors.js';
import { activate, isActivation, ACTIVATIONS, type Activation } from './activations.js';
import { initWeights, isInitName, INITS, type BiasInit, type InitName } from './init.js';
import { matmul } from './kernels.js';
import { rng } from './rng.js';
import { allocate, assertDType, sizeOf, tensor, type DType, type FloatArray, type Tensor } from './tensor.js';

export interface LayerSpec {
  readonly units: number;
  readonly activation: Activation;
}

export interface MlpSpec {
  /** Number of input features. */
  readonly inputSize: number;
  /** Hidden and output layers, in order. `softmax` only on the last. */
  readonly layers: readonly LayerSpec[];
  /** Default `float32`. */
  readonly dtype?: DType;
  /** Seed of the initialiser's generator. Default 0. */
  readonly seed?: number;
  /** Weight initialiser. Default `glorotUniform`. */
  readonly init?: InitName;
  /** Bias initialiser. Default `zeros`. */
  readonly biasInit?: BiasInit;
}

/** A dense layer's sizes and activation, without its weights. */
export interface DenseShape {
  readonly nin: number;
  readonly nout: number;
  readonly activation: Activation;
}

/** One dense layer. `w` is [nin, nout] row-major, `b` is [nout]. */
export interface Dense extends DenseShape {
  readonly w: FloatArray;
  readonly b: FloatArray;
}

/** An MLP's dtype, sizes and activations, without its weights: what checking a batch, a loss or a state needs. Every `Mlp` is one. */
export interface MlpShape {
  readonly dtype: DType;
  readonly inputSize: number;
  readonly layers: readonly DenseShape[];
}

export interface Mlp extends MlpShape {
  readonly layers: readonly Dense[];
}

/** Explicit weights for `mlpFromWeights`: `weights` is [nin, nout] (nested rows or a tensor), `bias` is [nout]. */
export interface LayerWeights {
  readonly activation: Activation;
  readonly weights: readonly (readonly number[])[] | Tensor;
  readonly bias: readonly number[] | Tensor;
}

function assertPositiveInt(value: unknown, what: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new RangeError(`Expected ${what} to be a positive integer, got ${describe(value)}`);
  }
}

function assertActivations(activations: readonly unknown[]): void {
  activations.forEach((act, i) => {
    if (!isActivation(act)) {
      throw new TypeError(`Expected layers[${i}].activation to be one of ${ACTIVATIONS.join(', ')}, got ${describe(act)}`);
    }
    if (act === 'softmax' && i !== activations.length - 1) {
      throw new TypeError(`Expected softmax only on the output layer, got it on layers[${i}] of ${activations.length}`);
    }
  });
}

/** Checks a spec as `mlp()` does (the same errors) and gives the shape it describes, without allocating or initialising a weight. */
export function mlpShape(spec: MlpSpec): MlpShape {
  if (typeof spec !== 'object' || spec === null) throw new TypeError(`Expected an MLP spec object, got ${describe(spec)}`);
  const dtype = spec.dtype ?? 'float32';
  assertDType(dtype);
  assertPositiveInt(spec.inputSize, 'inputSize');
  if (!Array.isArray(spec.layers) || spec.layers.length === 0) {
    throw new TypeError(`Expected layers to be a non-empty array, got ${describe(spec.layers)}`);
  }
  spec.layers.forEach((l, i) => assertPositiveInt(l?.units, `layers[${i}].units`));
  assertActivations(spec.layers.map((l) => l.activation));
  if (!isInitName(spec.init ?? 'glorotUniform')) throw new TypeError(`Expected init to be one of ${INITS.join(', ')}, got ${describe(spec.init)}`);
  const biasInit = spec.biasInit ?? 'zeros';
  if (biasInit !== 'zeros' && biasInit !== 'normal') throw new TypeError(`Expected biasInit "zeros" or "normal", got ${describe(biasInit)}`);
  let nin = spec.inputSize;
  const layers = spec.layers.map((l) => {
    const layer: DenseShape = { nin, nout: l.units, activation: l.activation };
    nin = l.units;
    return layer;
  });
  return { dtype, inputSize: spec.inputSize, layers };
}

/** A model's shape: its dtype, sizes and activations, no weights. */
export function shapeOf(model: MlpShape): MlpShape {
  return { dtype: model.dtype, inputSize: model.inputSize, layers: model.layers.map((l) => ({ nin: l.nin, nout: l.nout, activation: l.activation })) };
}

/** Builds a freshly initialised MLP; the same spec (seed included) gives the same weights bit for bit. */
export function mlp(spec: MlpSpec): Mlp {
  const shape = mlpShape(spec);
  const init = spec.init ?? 'glorotUniform';
  const biasInit = spec.biasInit ?? 'zeros';
  const random = rng(spec.seed ?? 0);
  const layers = shape.layers.map((l) => {
    const w = allocate(shape.dtype, l.nin * l.nout);
    const b = allocate(shape.dtype, l.nout);
    initWeights(init, w, l.nin, l.nout, random);
    if (biasInit === 'normal') for (let j = 0; j < b.length; j++) b[j] = random.normal();
    const layer: Dense = { ...l, w, b };
    return layer;
  });
  return { dtype: shape.dtype, inputSize: shape.inputSize, layers };
}

/** Builds an MLP from explicit weights (e.g. the tutorial's, or PyTorch's transposed). Values are copied. */
export function mlpFromWeights(layers: readonly LayerWeights[], dtype: DType = 'float32'): Mlp {
  assertDType(dtype);
  if (!Array.isArray(layers) || layers.length === 0) throw new TypeError(`Expected a non-empty array of layers, got ${describe(layers)}`);
  assertActivations(layers.map((l) => l.activation));
  const out: Dense[] = [];
  layers.forEach((l, i) => {
    const w = isTensor(l.weights) ? l.weights : tensor(l.weights as readonly (readonly number[])[], undefined, dtype);
    if (w.shape.length !== 2) throw new RangeError(`Expected layers[${i}].weights to be 2-D [nin, nout], got shape [${w.shape.join(', ')}]`);
    const [nin, nout] = [w.shape[0]!, w.shape[1]!];
    if (nin < 1 || nout < 1) throw new RangeError(`Expected layers[${i}].weights to be at least 1 × 1, got shape [${nin}, ${nout}]`);
    const prev = out[i - 1];
    if (prev && prev.nout !== nin) {
      throw new RangeError(`Expected layers[${i}].weights to have ${prev.nout} rows (the previous layer's units), got ${nin}`);
    }
    const b = isTensor(l.bias) ? l.bias : tensor(l.bias as readonly number[], undefined, dtype);
    if (sizeOf(b.shape) !== nout) throw new RangeError(`Expected layers[${i}].bias to have ${nout} values, got ${sizeOf(b.shape)}`);
    const wd = allocate(dtype, nin * nout);
    wd.set(w.data);
    const bd = allocate(dtype, nout);
    bd.set(b.data);
    for (const v of [...wd, ...bd]) {
      if (!Number.isFinite(v)) throw new RangeError(`Expected finite weights in layers[${i}], got ${v}`);
    }
    out.push({ nin, nout, activation: l.activation, w: wd, b: bd });
  });
  return { dtype, inputSize: out[0]!.nin, layers: out };
}

function isTensor(x: unknown): x is Tensor {
  return typeof x === 'object' && x !== null && 'data' in x && 'shape' in x && ArrayBuffer.isView((x as Tensor).data);
}

/** A deep copy: new typed arrays, same values bit for bit. */
export function cloneModel(model: Mlp): Mlp {
  return {
    dtype: model.dtype,
    inputSize: model.inputSize,
    layers: model.layers.map((l) => ({ ...l, w: l.w.slice(), b: l.b.slice() })),
  };
}

/** Output size of the model (units of the last layer). */
export function outputSize(model: MlpShape): number {
  return model.layers[model.layers.length - 1]!.nout;
}

/** Number of trainable parameters. */
export function parameterCount(model: MlpShape): number {
  return model.layers.reduce((n, l) => n + l.nin * l.nout + l.nout, 0);
}

/**
 * Runs the model on x ([m, inputSize], nested rows or a tensor) and returns the output [m, nout].
 * Allocates its buffers; for repeated inference on a hot path use `createStepper`'s forward.
 */
export function predict(model: Mlp, x: Tensor | readonly (readonly number[])[]): Tensor {
  const xt = isTensor(x) ? x : tensor(x, undefined, model.dtype);
  if (xt.shape.length !== 2 || xt.shape[1] !== model.inputSize) {
    throw new RangeError(`Expected input of shape [m, ${model.inputSize}], got [${xt.shape.join(', ')}]`);
  }
  const m = xt.shape[0]!;
  let input: FloatArray = xt.data;
  for (const l of model.layers) {
    const z = allocate(model.dtype, m * l.nout);
    matmul(input, l.w, z, m, l.nin, l.nout, l.b);
    activate(l.activation, z, z, m, l.nout);
    input = z;
  }
  return { dtype: model.dtype, shape: [m, outputSize(model)], data: input };
}
