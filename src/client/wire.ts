/**
 * The library's types out to the wire: tensors as little-endian bytes, a model (`Mlp`) as the
 * weights form of `create`, an optimizer state as a snapshot carries it; and every request checked
 * by the protocol's own validation before it is sent, so a bad argument fails at once with the
 * error the server would have answered (E_BAD_FIELD, E_BAD_TENSOR, E_BAD_CONTROL, …).
 */
import { LivegradError } from '../errors.js';
import type { Mlp, MlpSpec } from '../nn/mlp.js';
import type { OptimizerState } from '../nn/optimizers.js';
import type { FloatArray, Tensor } from '../nn/tensor.js';
import type { ClientMessage, CreateMessage, ModelSpecWire, ModelWeightsWire, OptimizerStateWire, TensorInput, WireTensor } from '../protocol/messages.js';
import { wireTensor } from '../protocol/tensors.js';
import { parseClientMessage } from '../protocol/validate.js';
import type { CreateConfig, Matrix, ModelWeights, Targets } from './types.js';

type Nested = readonly number[] | readonly (readonly number[])[];

function isTensor(v: unknown): v is Tensor {
  return typeof v === 'object' && v !== null && 'shape' in v && 'data' in v && ArrayBuffer.isView((v as Tensor).data);
}

/** A tensor as bytes, or nested arrays as they are (the server reads both). */
export function wireValue(t: Matrix | Targets): WireTensor | Nested {
  return isTensor(t) ? wireTensor(t) : (t as Nested);
}

function flat(a: FloatArray): WireTensor {
  return wireTensor({ dtype: a instanceof Float64Array ? 'float64' : 'float32', shape: [a.length], data: a });
}

function isMlp(m: CreateConfig['model']): m is Mlp {
  const first = (m as { layers?: readonly unknown[] }).layers?.[0] as { nin?: unknown; w?: unknown } | undefined;
  return first !== undefined && typeof first.nin === 'number' && ArrayBuffer.isView(first.w);
}

function isSpec(m: CreateConfig['model']): m is MlpSpec {
  const first = (m as { layers?: readonly unknown[] }).layers?.[0] as { units?: unknown } | undefined;
  return first !== undefined && 'units' in first;
}

function model(m: CreateConfig['model']): ModelSpecWire | ModelWeightsWire {
  if (isSpec(m)) return m;
  if (isMlp(m)) {
    const dtype = m.dtype;
    return {
      dtype,
      layers: m.layers.map((l) => ({
        activation: l.activation,
        w: wireTensor({ dtype, shape: [l.nin, l.nout], data: l.w }),
        b: wireTensor({ dtype, shape: [l.nout], data: l.b }),
      })),
    };
  }
  const weights = m as ModelWeights;
  return { ...weights, layers: weights.layers.map((l) => ({ activation: l.activation, w: wireValue(l.w) as TensorInput, b: wireValue(l.b) as TensorInput })) };
}

function optimizerState(s: OptimizerState): OptimizerStateWire {
  return { kind: s.kind, t: s.t, hasMomentum: s.hasMomentum, buffers: s.buffers.map((bs) => bs.map(flat)) };
}

/** The `create` message of `config`, checked as the server checks its structure. */
export function createMessage(config: CreateConfig): CreateMessage {
  if (typeof config !== 'object' || config === null) throw new TypeError(`Expected a create config object, got ${config === null ? 'null' : typeof config}`);
  const { model: m, evalSet, optimizerState: state, ...rest } = config;
  const message = {
    type: 'create',
    ...rest,
    model: model(m),
    ...(evalSet === undefined ? {} : { evalSet: { x: wireValue(evalSet.x), y: wireValue(evalSet.y) } }),
    ...(state === undefined ? {} : { optimizerState: optimizerState(state) }),
  };
  checked(message);
  return message as unknown as CreateMessage;
}

/**
 * Throws the LivegradError the server would answer for a message of the wrong structure. The
 * message is not changed (the server reads it again).
 */
export function checked(message: object): void {
  try {
    parseClientMessage(message);
  } catch (e) {
    if (e instanceof LivegradError) throw e;
    throw new LivegradError('E_BAD_FIELD', (e as Error).message, { cause: e });
  }
}

/** A request as sent: checked first. */
export function request<M extends Exclude<ClientMessage, { type: 'samples' }>>(message: M): M {
  checked(message);
  return message;
}
