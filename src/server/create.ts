/**
 * A `create` message → the session's TrainConfig, with the library's own checks and the server's
 * size limits (a client must not make the server allocate gigabytes).
 *
 *   model (spec or weights)                 E_BAD_MODEL, E_DTYPE, E_BAD_TENSOR
 *   loss, optimizer, batch size, events     E_BAD_CONFIG
 *   evalSet                                 E_SHAPE, E_NON_FINITE, E_LABEL_RANGE, E_DTYPE
 *   optimizerState                          E_BAD_STATE
 *   kernels: wasm where they cannot run      E_KERNELS (when the session is built)
 */
import { LivegradError, type ErrorCode } from '../errors.js';
import { mlpFromWeights, mlpShape, type LayerWeights, type Mlp, type MlpShape, type MlpSpec } from '../nn/mlp.js';
import { checkOptimizer, type Optimizer, type OptimizerState } from '../nn/optimizers.js';
import { checkBatch, type Batch } from '../nn/batch.js';
import type { DType } from '../nn/tensor.js';
import type { InitName, BiasInit } from '../nn/init.js';
import type { TrainConfig } from '../pipeline/trainer/config.js';
import type { CreateMessage, ModelSpecWire, ModelWeightsWire, OptimizerStateWire } from '../protocol/messages.js';
import { toTensor } from '../protocol/tensors.js';

export interface CreateLimits {
  /** Most trainable parameters a session's model may have. */
  readonly maxParameters: number;
  /** Most elements of one batch's activations (batch rows × units summed over layers). */
  readonly maxActivations: number;
}

function isWeights(m: ModelSpecWire | ModelWeightsWire): m is ModelWeightsWire {
  return !('inputSize' in m);
}

/** Runs a library check, turning its TypeError / RangeError (whose message names the field) into `code`. */
function wrap<T>(code: 'E_BAD_MODEL' | 'E_BAD_CONFIG', f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof LivegradError) throw e;
    throw new LivegradError(code, (e as Error).message, { cause: e });
  }
}

/**
 * The model of a `create`: explicit weights are built (they are here already), a spec is only
 * checked: its weights are initialised where the session trains (on its thread, if it has one),
 * so a large model never holds up the main thread.
 */
function buildModel(m: ModelSpecWire | ModelWeightsWire, limits: CreateLimits): { model: Mlp | MlpSpec; shape: MlpShape } {
  if (isWeights(m)) {
    const dtype: DType = m.dtype ?? m.layers[0]!.w.dtype ?? 'float32';
    let parameters = 0;
    for (const l of m.layers) parameters += l.w.shape.reduce((a, d) => a * d, 1) + l.b.shape.reduce((a, d) => a * d, 1);
    if (parameters > limits.maxParameters) throw new LivegradError('E_BAD_MODEL', `Expected at most ${limits.maxParameters} parameters, got ${parameters}`);
    const layers: LayerWeights[] = m.layers.map((l, i) => ({
      activation: l.activation,
      weights: toTensor(l.w, dtype, `model.layers[${i}].w`),
      bias: toTensor(l.b, dtype, `model.layers[${i}].b`),
    }));
    const model = wrap('E_BAD_MODEL', () => mlpFromWeights(layers, dtype));
    return { model, shape: model };
  }
  let parameters = 0;
  let nin = m.inputSize;
  for (const l of m.layers) {
    parameters += nin * l.units + l.units;
    nin = l.units;
  }
  if (parameters > limits.maxParameters) throw new LivegradError('E_BAD_MODEL', `Expected at most ${limits.maxParameters} parameters, got ${parameters}`);
  const spec: MlpSpec = {
    inputSize: m.inputSize,
    layers: m.layers,
    ...(m.dtype === undefined ? {} : { dtype: m.dtype }),
    ...(m.seed === undefined ? {} : { seed: m.seed }),
    ...(m.init === undefined ? {} : { init: m.init as InitName }),
    ...(m.biasInit === undefined ? {} : { biasInit: m.biasInit as BiasInit }),
  };
  return { model: spec, shape: wrap('E_BAD_MODEL', () => mlpShape(spec)) };
}

function optimizerState(s: OptimizerStateWire, dtype: DType): OptimizerState {
  if (s.kind !== 'sgd' && s.kind !== 'adam' && s.kind !== 'adamw') throw new LivegradError('E_BAD_STATE', `Expected optimizerState.kind "sgd", "adam" or "adamw", got ${JSON.stringify(s.kind)}`);
  return {
    kind: s.kind,
    t: s.t,
    hasMomentum: s.hasMomentum,
    buffers: s.buffers.map((bs, i) => bs.map((b, j) => toTensor(b, dtype, `optimizerState.buffers[${i}][${j}]`).data)),
  };
}

/** Units summed over layers: a batch of m rows keeps about 3·m times this many activations. */
export function unitsOf(model: MlpShape): number {
  return model.layers.reduce((n, l) => n + l.nout, 0);
}

/** Throws `code` (default E_BAD_CONFIG) unless a batch of `rows` fits the activation budget. */
export function checkBatchRows(model: MlpShape, rows: number, limits: CreateLimits, code: ErrorCode = 'E_BAD_CONFIG'): void {
  const n = rows * unitsOf(model);
  if (n > limits.maxActivations) {
    throw new LivegradError(code, `Expected batchSize × units (${rows} × ${unitsOf(model)}) at most ${limits.maxActivations}, got ${n}`);
  }
}

/** The TrainConfig of a new session (its queue capacity is the session's, set where the trainer is built). */
export function trainConfig(msg: CreateMessage, limits: CreateLimits): TrainConfig {
  const { model, shape } = buildModel(msg.model, limits);
  const batchSize = msg.batchSize ?? 32;
  checkBatchRows(shape, batchSize, limits);
  const optimizer: Optimizer = wrap('E_BAD_CONFIG', () => checkOptimizer(msg.optimizer));
  let evalSet: Batch | undefined;
  if (msg.evalSet) {
    evalSet = { x: toTensor(msg.evalSet.x, shape.dtype, 'evalSet.x'), y: toTensor(msg.evalSet.y, shape.dtype, 'evalSet.y') };
    try {
      checkBatch(shape, evalSet);
    } catch (e) {
      if (e instanceof LivegradError) throw new LivegradError(e.code, `evalSet: ${e.message}`, { cause: e });
      throw e;
    }
  }
  return {
    session: msg.session,
    model,
    loss: msg.loss,
    optimizer,
    batchSize,
    ...(msg.clipNorm === undefined ? {} : { clipNorm: msg.clipNorm }),
    ...(msg.events === undefined ? {} : { events: msg.events }),
    ...(evalSet === undefined ? {} : { evalSet }),
    ...(msg.onNonFinite === undefined ? {} : { onNonFinite: msg.onNonFinite }),
    ...(msg.optimizerState === undefined ? {} : { optimizerState: optimizerState(msg.optimizerState, shape.dtype) }),
    ...(msg.startStep === undefined ? {} : { startStep: msg.startStep }),
    ...(msg.startSamples === undefined ? {} : { startSamples: msg.startSamples }),
    ...(msg.kernels === undefined ? {} : { kernels: msg.kernels }),
  };
}
