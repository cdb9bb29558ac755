/**
 * Training events on the wire: a `TrainEvent` with its tensors as `WireTensor` (little-endian
 * bytes) and its undefined fields left out, so that MessagePack and JSON carry the same keys.
 */
import type { LayerTensors, TrainEvent } from '../pipeline/events.js';
import type { EventMessage, WireTensor } from './messages.js';
import { wireTensor } from './tensors.js';

function layers(ls: readonly LayerTensors[]): { w: WireTensor; b: WireTensor }[] {
  return ls.map((l) => ({ w: wireTensor(l.w), b: wireTensor(l.b) }));
}

function defined(o: Record<string, unknown>): Record<string, unknown> {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

/** The wire form of an event (a new object; the event is not modified). */
export function wireEvent(e: TrainEvent): EventMessage {
  switch (e.type) {
    case 'weights':
      return { ...e, layers: layers(e.layers) };
    case 'gradients':
      return defined({ ...e, layers: e.layers === undefined ? undefined : layers(e.layers) }) as EventMessage;
    case 'step':
    case 'control':
      return e as EventMessage;
    case 'metrics':
    case 'eval':
    case 'lifecycle':
    case 'error':
      return defined({ ...e }) as EventMessage;
    default: {
      const never: never = e;
      throw new TypeError(`Expected a training event, got ${JSON.stringify(never)}`);
    }
  }
}
