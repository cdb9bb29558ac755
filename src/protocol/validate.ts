/**
 * Runtime validation of client messages: a decoded frame in, a typed `ClientMessage` out, or a
 * LivegradError whose message reads "Expected X, got Y" and names the field.
 *
 *   E_BAD_MESSAGE    not a map, or no string `type`
 *   E_UNKNOWN_TYPE   a `type` this protocol version does not have
 *   E_BAD_FIELD      a field missing or of the wrong type or range
 *   E_BAD_TENSOR     a tensor whose data does not match its shape, or nested arrays that are not numbers
 *   E_DTYPE          a tensor dtype that is not float32 / float64
 *   E_BAD_CONTROL    a control that `checkControl` refuses
 *
 * Only structure is checked here; what depends on a session (shapes, dtype, label range, finite
 * values, the model and optimizer) is checked by the session with the library's own checks.
 * Unknown top-level fields are ignored (a newer client may send more); an optional field may be
 * absent or nil / null.
 */
import { LivegradError, describe } from '../errors.js';
import { checkControl, type Control } from '../pipeline/controls.js';
import { EVENT_TYPES, type TrainEventType } from '../pipeline/events.js';
import { MAX_BATCH_SIZE, MAX_START_COUNT } from '../pipeline/limits.js';
import { CLIENT_MESSAGE_TYPES, type ClientMessage, type EventRatesWire, type MessageId, type ModelSpecWire, type ModelWeightsWire, type OptimizerStateWire, type OptimizerWire, type TensorInput } from './messages.js';
import { readTensor } from './tensors.js';
import type { Activation } from '../nn/activations.js';
import { LOSSES } from '../nn/losses.js';
import type { DType } from '../nn/tensor.js';

type Obj = Readonly<Record<string, unknown>>;

/** Session names: 1 to 64 of A–Z a–z 0–9 _ . : - (they appear in metrics labels and logs). */
export const SESSION_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

const MAX_LAYERS = 64;

function isMap(v: unknown): v is Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || ArrayBuffer.isView(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function got(v: unknown): string {
  return v === undefined ? 'nothing' : describe(v);
}

function fieldError(path: string, expected: string, value: unknown): LivegradError {
  return new LivegradError('E_BAD_FIELD', `Expected ${path} to be ${expected}, got ${got(value)}`);
}

function absent(v: unknown): v is undefined | null {
  return v === undefined || v === null;
}

function str(o: Obj, key: string, path: string, max = 256): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length === 0 || v.length > max) throw fieldError(path, `a string of 1 to ${max} characters`, v);
  return v;
}

const REPLAY_ACTIONS = ['play', 'pause', 'seek', 'speed', 'fork'] as const;

/** A finite number > 0 (a speed). */
function positiveNumber(o: Obj, key: string, path: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw fieldError(path, 'a number > 0 (steps per second) or "max"', v);
  return v;
}

/** A fork's learning rate: a finite number ≥ 0, as a `set` control takes it. */
function learningRate(o: Obj): number {
  const v = o['lr'];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw fieldError('lr', 'a learning rate: a finite number ≥ 0', v);
  return v;
}

/** A fork's session name. */
function forkName(o: Obj): string {
  const v = o['as'];
  if (typeof v !== 'string' || !SESSION_NAME.test(v)) throw fieldError('as', 'a session name (1 to 64 of A-Z a-z 0-9 _ . : -)', v);
  return v;
}

/** A producer's name: what its seq is counted by across connections (and a restart). */
function producerName(o: Obj, key: string): string {
  const v = o[key];
  if (typeof v !== 'string' || !SESSION_NAME.test(v)) throw fieldError('producer', 'a producer name (1 to 64 of A-Z a-z 0-9 _ . : -)', v);
  return v;
}

function sessionName(o: Obj): string {
  const v = o['session'];
  if (typeof v !== 'string' || !SESSION_NAME.test(v)) throw fieldError('session', 'a session name (1 to 64 of A-Z a-z 0-9 _ . : -)', v);
  return v;
}

function int(o: Obj, key: string, path: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw fieldError(path, `an integer in [${min}, ${max}]`, v);
  return v;
}

function num(o: Obj, key: string, path: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw fieldError(path, 'a finite number', v);
  return v;
}

function bool(o: Obj, key: string, path: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') throw fieldError(path, 'a boolean', v);
  return v;
}

function map(o: Obj, key: string, path: string): Obj {
  const v = o[key];
  if (!isMap(v)) throw fieldError(path, 'a map', v);
  return v;
}

function array(o: Obj, key: string, path: string, max: number): readonly unknown[] {
  const v = o[key];
  if (!Array.isArray(v) || v.length === 0 || v.length > max) throw fieldError(path, `an array of 1 to ${max} items`, v);
  return v;
}

/** `read(o, key)` when the field is present (and not nil), else nothing: for `...optional(…)` spreads. */
function optional<K extends string, T>(o: Obj, key: K, read: (o: Obj, key: K) => T): { [P in K]?: T } {
  return absent(o[key]) ? {} : ({ [key]: read(o, key) } as { [P in K]?: T });
}

/** Longest `id` string, in Unicode code points (what "characters" means here: Python's len, not UTF-16 units). */
const MAX_ID_LENGTH = 128;

/** Code points in `s` (a lone surrogate counts as one); counting stops once past `max`. */
function codePoints(s: string, max = Infinity): number {
  let n = 0;
  for (const _ of s) if (++n > max) break;
  return n;
}

function isMessageId(v: unknown): v is MessageId {
  if (typeof v === 'number') return Number.isFinite(v);
  // at most 128 UTF-16 units are at most 128 code points; more than 256 units are more than 128 code points
  return typeof v === 'string' && (v.length <= MAX_ID_LENGTH || (v.length <= 2 * MAX_ID_LENGTH && codePoints(v, MAX_ID_LENGTH) <= MAX_ID_LENGTH));
}

/** The message's `id` when it has one; a present `id` that is not a valid one is refused on every message type. */
function id(o: Obj): { id?: MessageId } {
  const v = o['id'];
  if (absent(v)) return {};
  if (isMessageId(v)) return { id: v };
  const shown = typeof v === 'string' ? `a string of ${codePoints(v)} code points` : got(v);
  throw new LivegradError('E_BAD_FIELD', `Expected id to be a string of at most ${MAX_ID_LENGTH} characters (Unicode code points) or a finite number, got ${shown}`);
}

function tensorField(o: Obj, key: string, path: string): TensorInput {
  if (absent(o[key])) throw fieldError(path, 'a tensor {dtype, shape, data} or nested arrays of numbers', o[key]);
  return readTensor(o[key], path);
}

function dtypeField(o: Obj, key: string, path: string): DType {
  const v = o[key];
  if (v !== 'float32' && v !== 'float64') throw new LivegradError('E_DTYPE', `Expected ${path} "float32" or "float64", got ${got(v)}`);
  return v;
}

function model(o: Obj): ModelSpecWire | ModelWeightsWire {
  const m = map(o, 'model', 'model');
  const layers = array(m, 'layers', 'model.layers', MAX_LAYERS);
  const dtype = optional(m, 'dtype', (x, k) => dtypeField(x, k, 'model.dtype'));
  const first = layers[0];
  if (isMap(first) && !absent(first['w'])) {
    return {
      ...dtype,
      layers: layers.map((l, i) => {
        const p = `model.layers[${i}]`;
        if (!isMap(l)) throw fieldError(p, 'a map {activation, w, b}', l);
        return { activation: str(l, 'activation', `${p}.activation`, 32) as Activation, w: tensorField(l, 'w', `${p}.w`), b: tensorField(l, 'b', `${p}.b`) };
      }),
    };
  }
  return {
    inputSize: int(m, 'inputSize', 'model.inputSize', 1, 1_000_000),
    layers: layers.map((l, i) => {
      const p = `model.layers[${i}]`;
      if (!isMap(l)) throw fieldError(p, 'a map {units, activation}', l);
      return { units: int(l, 'units', `${p}.units`, 1, 1_000_000), activation: str(l, 'activation', `${p}.activation`, 32) as Activation };
    }),
    ...dtype,
    ...optional(m, 'seed', (x, k) => int(x, k, 'model.seed', 0, 2 ** 32 - 1)),
    ...optional(m, 'init', (x, k) => str(x, k, 'model.init', 32)),
    ...optional(m, 'biasInit', (x, k) => str(x, k, 'model.biasInit', 32)),
  };
}

function optimizer(o: Obj): OptimizerWire {
  const m = map(o, 'optimizer', 'optimizer');
  const kind = str(m, 'kind', 'optimizer.kind', 16);
  for (const [k, v] of Object.entries(m)) {
    if (k === 'kind' || k === 'schedule') continue;
    if (typeof v !== 'number' && typeof v !== 'boolean') throw fieldError(`optimizer.${k}`, 'a number or a boolean', v);
  }
  if (!absent(m['schedule'])) map(m, 'schedule', 'optimizer.schedule');
  return { ...m, kind };
}

const RATE_KEYS = ['metricsEvery', 'metricsWindow', 'weightsEvery', 'gradientsEvery', 'evalEvery'] as const;

function events(o: Obj): EventRatesWire {
  const m = map(o, 'events', 'events');
  const out: Record<string, number | boolean> = {};
  for (const key of Object.keys(m)) {
    if (absent(m[key])) continue;
    if (key === 'gradientTensors') out[key] = bool(m, key, 'events.gradientTensors');
    else if ((RATE_KEYS as readonly string[]).includes(key)) out[key] = int(m, key, `events.${key}`, 0, 1_000_000_000);
    else throw new LivegradError('E_BAD_FIELD', `Expected events fields among ${RATE_KEYS.join(', ')}, gradientTensors, got ${describe(key)}`);
  }
  return out as EventRatesWire;
}

function optimizerState(o: Obj): OptimizerStateWire {
  const m = map(o, 'optimizerState', 'optimizerState');
  const buffers = m['buffers'];
  if (!Array.isArray(buffers) || buffers.length > 2 * MAX_LAYERS) throw fieldError('optimizerState.buffers', `an array of at most ${2 * MAX_LAYERS} arrays of tensors`, buffers);
  return {
    kind: str(m, 'kind', 'optimizerState.kind', 16),
    t: int(m, 't', 'optimizerState.t', 0),
    hasMomentum: bool(m, 'hasMomentum', 'optimizerState.hasMomentum'),
    buffers: buffers.map((bs: unknown, i) => {
      if (!Array.isArray(bs) || bs.length > 2) throw fieldError(`optimizerState.buffers[${i}]`, 'an array of 1 or 2 tensors', bs);
      return bs.map((b: unknown, j) => readTensor(b, `optimizerState.buffers[${i}][${j}]`));
    }),
  };
}

function topics(o: Obj): readonly TrainEventType[] {
  const list = array(o, 'topics', 'topics', EVENT_TYPES.length * 2);
  const out = new Set<TrainEventType>();
  list.forEach((t, i) => {
    if (!(EVENT_TYPES as readonly unknown[]).includes(t)) throw fieldError(`topics[${i}]`, `one of ${EVENT_TYPES.join(', ')}`, t);
    out.add(t as TrainEventType);
  });
  return [...out];
}

function rates(o: Obj): Partial<Record<TrainEventType, number>> {
  const m = map(o, 'rates', 'rates');
  const out: Partial<Record<TrainEventType, number>> = {};
  for (const key of Object.keys(m)) {
    if (!(EVENT_TYPES as readonly string[]).includes(key)) throw new LivegradError('E_BAD_FIELD', `Expected rates keys among ${EVENT_TYPES.join(', ')}, got ${describe(key)}`);
    const v = m[key];
    if (typeof v !== 'number' || !(v > 0) || v > 10_000) throw fieldError(`rates.${key}`, 'events per second, a number in (0, 10000]', v);
    out[key as TrainEventType] = v;
  }
  return out;
}

function control(o: Obj): Control {
  if (absent(o['control'])) throw fieldError('control', 'a control map {action, …}', o['control']);
  try {
    return checkControl(o['control']);
  } catch (e) {
    throw new LivegradError('E_BAD_CONTROL', (e as Error).message, { cause: e });
  }
}

const NON_FINITE = ['skip', 'pause', 'fail'] as const;
const KERNELS = ['auto', 'wasm', 'js'] as const;

function oneOf<T extends string>(o: Obj, key: string, path: string, values: readonly T[]): T {
  const v = o[key];
  if (!(values as readonly unknown[]).includes(v)) throw fieldError(path, `one of ${values.join(', ')}`, v);
  return v as T;
}

/**
 * Validates a decoded frame as a client message. Throws LivegradError (codes above) naming the
 * first problem found.
 */
export function parseClientMessage(value: unknown): ClientMessage {
  if (!isMap(value)) throw new LivegradError('E_BAD_MESSAGE', `Expected a message map with a string type, got ${describe(value)}`);
  const type = value['type'];
  if (typeof type !== 'string') throw new LivegradError('E_BAD_MESSAGE', `Expected a message map with a string type, got type ${got(type)}`);
  const o = value;
  switch (type) {
    case 'create':
      return {
        type,
        ...id(o),
        session: sessionName(o),
        model: model(o),
        loss: oneOf(o, 'loss', 'loss', LOSSES),
        optimizer: optimizer(o),
        ...optional(o, 'clipNorm', (x, k) => num(x, k, 'clipNorm')),
        ...optional(o, 'batchSize', (x, k) => int(x, k, 'batchSize', 1, MAX_BATCH_SIZE)),
        ...optional(o, 'events', events),
        ...optional(o, 'evalSet', (x, k) => {
          const e = map(x, k, 'evalSet');
          return { x: tensorField(e, 'x', 'evalSet.x'), y: tensorField(e, 'y', 'evalSet.y') };
        }),
        ...optional(o, 'onNonFinite', (x, k) => oneOf(x, k, 'onNonFinite', NON_FINITE)),
        ...optional(o, 'credits', (x, k) => int(x, k, 'credits', 1, 1024)),
        ...optional(o, 'queueCapacity', (x, k) => int(x, k, 'queueCapacity', 1, 4096)),
        ...optional(o, 'optimizerState', optimizerState),
        ...optional(o, 'startStep', (x, k) => int(x, k, 'startStep', 0, MAX_START_COUNT)),
        ...optional(o, 'startSamples', (x, k) => int(x, k, 'startSamples', 0, MAX_START_COUNT)),
        ...optional(o, 'record', (x, k) => bool(x, k, 'record')),
        ...optional(o, 'kernels', (x, k) => oneOf(x, k, 'kernels', KERNELS)),
      };
    case 'list':
    case 'ping':
      return { type, ...id(o) };
    case 'samples':
      // replies to samples echo its seq, never an id; an id sent anyway is checked like any other, then dropped
      id(o);
      return {
        type,
        session: sessionName(o),
        seq: int(o, 'seq', 'seq', 0),
        x: tensorField(o, 'x', 'x'),
        y: tensorField(o, 'y', 'y'),
        ...optional(o, 'step', (x, k) => bool(x, k, 'step')),
        ...optional(o, 'producer', producerName),
      };
    case 'subscribe':
      return {
        type,
        ...id(o),
        session: sessionName(o),
        ...optional(o, 'topics', topics),
        ...optional(o, 'rates', rates),
        ...optional(o, 'fromStep', (x, k) => int(x, k, 'fromStep', 0)),
      };
    case 'unsubscribe':
      return { type, ...id(o), session: sessionName(o) };
    case 'snapshot':
      return { type, ...id(o), session: sessionName(o), ...optional(o, 'now', (x, k) => bool(x, k, 'now')) };
    case 'control':
      return { type, ...id(o), session: sessionName(o), control: control(o), ...optional(o, 'atStep', (x, k) => int(x, k, 'atStep', 0)) };
    case 'predict':
      return { type, ...id(o), session: sessionName(o), x: tensorField(o, 'x', 'x'), ...optional(o, 'now', (x, k) => bool(x, k, 'now')) };
    case 'close':
      return { type, ...id(o), session: sessionName(o), ...optional(o, 'drain', (x, k) => bool(x, k, 'drain')) };
    case 'replay': {
      const action = oneOf(o, 'action', 'action', REPLAY_ACTIONS);
      return {
        type,
        ...id(o),
        session: sessionName(o),
        action,
        ...(action === 'seek' ? { step: int(o, 'step', 'step', 0) } : {}),
        ...(action === 'speed' ? { speed: o['speed'] === 'max' ? 'max' : positiveNumber(o, 'speed', 'speed') } : {}),
        ...(action === 'fork' ? { step: int(o, 'step', 'step', 0), lr: learningRate(o), as: forkName(o) } : {}),
      };
    }
    default:
      throw new LivegradError('E_UNKNOWN_TYPE', `Expected type one of ${CLIENT_MESSAGE_TYPES.join(', ')}, got ${describe(type)}`);
  }
}

/**
 * What a reply to this (possibly invalid) message echoes as `ref`: the `seq` of a `samples`, the
 * `id` of anything else, or null when there is no usable one.
 */
export function refOf(value: unknown): MessageId | null {
  if (!isMap(value)) return null;
  if (value['type'] === 'samples') {
    const seq = value['seq'];
    return typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0 ? seq : null;
  }
  const v = value['id'];
  return isMessageId(v) ? v : null;
}

/** The `session` a (possibly invalid) message names, when it is a valid name. */
export function sessionOf(value: unknown): string | undefined {
  if (!isMap(value)) return undefined;
  const s = value['session'];
  return typeof s === 'string' && SESSION_NAME.test(s) ? s : undefined;
}
