/**
 * Server messages in: a frame to a message (MessagePack in binary frames, JSON in text frames),
 * and the parts that carry tensors to the library's own types — a training event to its
 * `TrainEvent`, a snapshot's model to an `Mlp` that `predict()` runs offline, its optimizer
 * state to an `OptimizerState`.
 *
 * NOTE: JSON has no NaN: a non-finite number arrives as `null` (docs/protocol.md, "Frames and
 * encoding"); it is read back as NaN where the event type says "number".
 */
import { LivegradError } from '../errors.js';
import type { Activation } from '../nn/activations.js';
import { mlpFromWeights, type Mlp } from '../nn/mlp.js';
import type { OptimizerState } from '../nn/optimizers.js';
import type { DType, FloatArray, Tensor } from '../nn/tensor.js';
import type { LayerTensors, TrainEvent, TrainEventType } from '../pipeline/events.js';
import { decodeFrame } from '../protocol/codec.js';
import type { ServerMessage, SnapshotReplyMessage } from '../protocol/messages.js';
import { readTensor, toTensor } from '../protocol/tensors.js';

type Obj = Readonly<Record<string, unknown>>;

const EVENT_TYPES: ReadonlySet<string> = new Set<TrainEventType>(['step', 'metrics', 'weights', 'gradients', 'eval', 'lifecycle', 'control', 'error']);

/** One frame's message: a map with a string `type`, else E_BAD_FRAME / E_BAD_MESSAGE (the server broke the protocol). */
export function decodeMessage(data: unknown): ServerMessage {
  let value: unknown;
  if (typeof data === 'string') {
    try {
      value = JSON.parse(data);
    } catch (e) {
      throw new LivegradError('E_BAD_FRAME', `Expected a JSON message from the server, got unparsable text: ${(e as Error).message.slice(0, 120)}`, { cause: e });
    }
  } else if (data instanceof ArrayBuffer) {
    value = decodeFrame(new Uint8Array(data), true);
  } else if (ArrayBuffer.isView(data)) {
    value = decodeFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), true);
  } else {
    throw new LivegradError('E_BAD_FRAME', `Expected a text or binary frame from the server, got ${typeof data}`);
  }
  if (typeof value !== 'object' || value === null || typeof (value as Obj)['type'] !== 'string') {
    throw new LivegradError('E_BAD_MESSAGE', `Expected a message with a string type from the server, got ${JSON.stringify(value)?.slice(0, 120)}`);
  }
  return value as ServerMessage;
}

/** True for a training event (an `error` event has a `step` and a `time`; an `error` reply has neither). */
export function isEvent(m: ServerMessage): boolean {
  const o = m as Obj;
  return EVENT_TYPES.has(m.type) && typeof o['time'] === 'number' && typeof o['session'] === 'string';
}

/** A wire tensor (bytes, or numbers in JSON) as a Tensor of its own dtype. */
export function decodeTensor(value: unknown, path: string): Tensor {
  const input = readTensor(value, path);
  return toTensor(input, input.dtype ?? 'float32', path);
}

function layers(value: unknown): LayerTensors[] {
  return (value as readonly Obj[]).map((l, i) => ({ w: decodeTensor(l['w'], `layers[${i}].w`), b: decodeTensor(l['b'], `layers[${i}].b`) }));
}

/** A number the JSON encoding may have written as null (NaN, ±Infinity). */
function num(v: unknown): number {
  return typeof v === 'number' ? v : NaN;
}

/** A training event as the library's `TrainEvent`: tensors decoded, non-finite numbers restored. */
export function decodeEvent(m: ServerMessage): TrainEvent {
  const e = m as Obj & TrainEvent;
  switch (e.type) {
    case 'step':
      return { ...e, loss: num(e['loss']), gradNorms: (e['gradNorms'] as readonly unknown[]).map(num) };
    case 'metrics':
      return { ...e, runningLoss: num(e['runningLoss']) };
    case 'eval':
      return { ...e, loss: num(e['loss']) };
    case 'weights':
      return { ...e, layers: layers(e['layers']) };
    case 'gradients':
      return { ...e, norms: (e['norms'] as readonly unknown[]).map(num), layers: e['layers'] === undefined || e['layers'] === null ? undefined : layers(e['layers']) };
    case 'lifecycle':
    case 'control':
    case 'error':
      return e;
    default: {
      const never: never = e;
      throw new LivegradError('E_UNKNOWN_TYPE', `Expected a training event, got ${JSON.stringify((never as Obj)['type'])}`);
    }
  }
}

/** A snapshot's model as an `Mlp`: what the library's `predict()` runs offline. */
export function decodeModel(model: SnapshotReplyMessage['model']): Mlp {
  return mlpFromWeights(
    model.layers.map((l: { readonly activation: Activation; readonly w: unknown; readonly b: unknown }, i) => ({
      activation: l.activation,
      weights: decodeTensor(l.w, `model.layers[${i}].w`),
      bias: decodeTensor(l.b, `model.layers[${i}].b`),
    })),
    model.dtype,
  );
}

/** A snapshot's optimizer state with its buffers as typed arrays (what `create`'s `optimizerState` takes back). */
export function decodeOptimizerState(state: SnapshotReplyMessage['optimizerState'], dtype: DType): OptimizerState {
  return {
    kind: state.kind as OptimizerState['kind'],
    t: state.t,
    hasMomentum: state.hasMomentum,
    buffers: state.buffers.map((bs, i) => bs.map((b: unknown, j): FloatArray => {
      const t = decodeTensor(b, `optimizerState.buffers[${i}][${j}]`);
      if (t.dtype !== dtype) throw new LivegradError('E_DTYPE', `Expected optimizerState.buffers[${i}][${j}] of the model's dtype ${dtype}, got ${t.dtype}`);
      return t.data;
    })),
  };
}
