/**
 * What a session log's records hold (docs/recording.md, "Session records"): the session's config
 * in every header, then its inputs in the order they entered the trainer, checkpoints of its whole
 * state, and the events it emitted. This file turns the trainer's objects into plain MessagePack
 * maps and back; reading checks every field, so a damaged or hostile log is an error naming the
 * field, never a crash or an allocation of a claimed size.
 *
 *   samples     a chunk as admitted: step (steps taken then), first (the step its first row
 *               trains in), rows, oneStep, producer, seq, x, y
 *   control     a control as it entered the order (step), set aside for `atStep`, or a
 *               resume/step that reached a paused trainer past the rows before it (`flow`)
 *   end         no more input (close with drain); `resume`
 *   close       stopped at once; `reason`
 *   checkpoint  the trainer's whole state (`at`: "step", right after step `step`; "record", right
 *               before the next record)
 *   event       an event the session emitted (lifecycle, control and error always; all with `events: true`)
 */
import { describe, LivegradError } from '../errors.js';
import type { Batch } from '../nn/batch.js';
import { isLossName } from '../nn/losses.js';
import { mlpFromWeights, type LayerWeights, type Mlp, type MlpSpec } from '../nn/mlp.js';
import type { Optimizer, OptimizerState } from '../nn/optimizers.js';
import { floatsAsBytes, floatsFromBytes } from '../nn/serialize.js';
import type { KernelChoice } from '../nn/step.js';
import type { DType, FloatArray, Tensor } from '../nn/tensor.js';
import { checkControl, type Control } from '../pipeline/controls.js';
import type { TrainEvent } from '../pipeline/events.js';
import type { WindowState } from '../pipeline/metrics.js';
import type { CheckpointEntry, TrainerCheckpoint } from '../pipeline/trainer/checkpoint.js';
import type { EventRates, NonFinitePolicy, TrainConfig } from '../pipeline/trainer/config.js';
import { isSpec } from '../pipeline/trainer/config.js';

/** A tensor in a record: little-endian bytes. */
export interface TensorRecord {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

/** What a session's log says of its config, in every header (`config`). */
export interface ConfigRecord {
  readonly session: string;
  /** A spec (weights from its seed), or explicit initial weights. */
  readonly model: MlpSpec | { readonly dtype: DType; readonly layers: readonly { readonly activation: string; readonly w: TensorRecord; readonly b: TensorRecord }[] };
  readonly loss: string;
  readonly optimizer: Optimizer;
  readonly clipNorm: number | null;
  readonly batchSize: number;
  readonly events: EventRates;
  readonly evalSet: { readonly x: TensorRecord; readonly y: TensorRecord } | null;
  readonly onNonFinite: NonFinitePolicy;
  /** Room for rows admitted and not yet trained, in batches: it decides when a waiting chunk is admitted. */
  readonly queueCapacity: number;
  readonly optimizerState: StateRecord | null;
  readonly startStep: number;
  readonly startSamples: number;
  /** The kernels the session trained with (`TrainConfig.kernels` resolved). Absent in a log written before livegrad had a choice: `"js"`. */
  readonly kernels: KernelChoice;
  /** The threads its stepper used (1 with the `js` kernels). Informational: the thread count never changes a result. Absent in an older log: 1. */
  readonly threads: number;
  /** With the `wasm` kernels, the SHA-256 of their module (`KERNELS_WASM_SHA256`): another build may differ in the last bits. Null with `js`, absent in an older log. */
  readonly kernelsBuild: string | null;
}

/** How a session's steps are computed: the kernels, and the threads the stepper uses. */
export interface KernelRun {
  readonly kernels: KernelChoice;
  readonly threads: number;
  /** With the `wasm` kernels, the SHA-256 of their module; null with `js` (and in a log from before it was recorded). */
  readonly build: string | null;
}

interface StateRecord {
  readonly kind: string;
  readonly t: number;
  readonly hasMomentum: boolean;
  readonly buffers: readonly (readonly Uint8Array[])[];
}

export interface SamplesRecord {
  readonly type: 'samples';
  readonly step: number;
  readonly first: number;
  readonly rows: number;
  readonly oneStep: boolean;
  /** Who sent it and its number, when it came from a producer (a server session); null otherwise. */
  readonly producer: number | string | null;
  readonly seq: number | null;
  readonly batch: Batch;
}

export interface ControlRecord {
  readonly type: 'control';
  readonly step: number;
  readonly control: Control;
  readonly atStep: number | null;
  readonly flow: boolean;
}

export interface EndRecord {
  readonly type: 'end';
  readonly step: number;
  readonly resume: boolean;
}

export interface CloseRecord {
  readonly type: 'close';
  readonly step: number;
  readonly reason: string;
}

export interface CheckpointRecord {
  readonly type: 'checkpoint';
  readonly step: number;
  /** "step": taken right after step `step`; "record": right before the record after it; "end": the last, once the session ended. */
  readonly at: 'step' | 'record' | 'end';
  readonly state: TrainerCheckpoint;
}

export interface EventRecord {
  readonly type: 'event';
  readonly event: TrainEvent;
}

/** An input: what a replay gives its trainer. */
export type InputRecord = SamplesRecord | ControlRecord | EndRecord | CloseRecord;
export type SessionRecord = InputRecord | CheckpointRecord | EventRecord;

// ---------------------------------------------------------------------------------------------
// writing

/** A view of the bytes (the log writer encodes, so copies, every record as it is appended). */
function bytes(a: FloatArray): Uint8Array {
  return floatsAsBytes(a);
}

export function tensorRecord(t: Tensor): TensorRecord {
  return { dtype: t.dtype, shape: t.shape, data: bytes(t.data) };
}

/** A record of a copy of `t`: what the caller does with its arrays later does not change it. */
function ownTensorRecord(t: Tensor): TensorRecord {
  return tensorRecord({ ...t, data: t.data.slice() });
}

/**
 * The header's `config` of a trainer config (`queueCapacity`: the trainer's queue capacity; `run`:
 * the kernels it resolved to and its stepper's threads). Its arrays are copies: every segment's
 * header is written from it, and the caller's model or eval set may change meanwhile (a model
 * trained in place elsewhere).
 */
export function configRecord(config: TrainConfig, queueCapacity: number, rates: EventRates, run: KernelRun): ConfigRecord {
  const m = config.model;
  const model: ConfigRecord['model'] = isSpec(m)
    ? (plain(m) as MlpSpec)
    : { dtype: (m as Mlp).dtype, layers: (m as Mlp).layers.map((l) => ({ activation: l.activation, w: ownTensorRecord({ dtype: (m as Mlp).dtype, shape: [l.nin, l.nout], data: l.w }), b: ownTensorRecord({ dtype: (m as Mlp).dtype, shape: [l.nout], data: l.b }) })) };
  const s = config.optimizerState;
  return {
    session: config.session ?? 'default',
    model,
    loss: config.loss,
    optimizer: plain(config.optimizer) as Optimizer,
    clipNorm: config.clipNorm ?? null,
    batchSize: config.batchSize ?? 32,
    events: rates,
    evalSet: config.evalSet ? { x: ownTensorRecord(config.evalSet.x), y: ownTensorRecord(config.evalSet.y) } : null,
    onNonFinite: config.onNonFinite ?? 'skip',
    queueCapacity,
    optimizerState: s ? { kind: s.kind, t: s.t, hasMomentum: s.hasMomentum, buffers: s.buffers.map((bs) => bs.map((b) => bytes(b.slice()))) } : null,
    startStep: config.startStep ?? 0,
    startSamples: config.startSamples ?? 0,
    kernels: run.kernels,
    threads: run.threads,
    kernelsBuild: run.build,
  };
}

function batchRecord(b: Batch): { x: TensorRecord; y: TensorRecord } {
  return { x: tensorRecord(b.x), y: tensorRecord(b.y) };
}

/** A checkpoint as a plain map (bins for every array). */
export function checkpointPayload(step: number, at: 'step' | 'record' | 'end', cp: TrainerCheckpoint): Record<string, unknown> {
  const w = cp.window;
  return {
    type: 'checkpoint',
    step,
    at,
    samples: cp.samples,
    dropped: cp.dropped,
    layers: cp.layers.map((l) => ({ w: bytes(l.w), b: bytes(l.b) })),
    optimizer: cp.stepConfig.optimizer,
    clipNorm: cp.stepConfig.clipNorm ?? null,
    state: { kind: cp.optimizerState.kind, t: cp.optimizerState.t, hasMomentum: cp.optimizerState.hasMomentum, buffers: cp.optimizerState.buffers.map((bs) => bs.map(bytes)) },
    batchSize: cp.batchSize,
    labels: cp.labels ?? null,
    paused: cp.paused,
    singleSteps: cp.singleSteps,
    ending: cp.ending,
    resumeOnEnd: cp.resumeOnEnd,
    queue: cp.queue.map((e) => (e.kind === 'batch' ? { kind: 'batch', ...batchRecord(e.batch) } : { kind: 'control', control: e.control })),
    held: cp.held ? batchRecord(cp.held) : null,
    scheduled: cp.scheduled.map((s) => ({ atStep: s.atStep, control: s.control })),
    window: { loss: bytes(w.loss), correct: bytes(w.correct), rows: bytes(w.rows), next: w.next, filled: w.filled, sumLoss: w.sumLoss, sumCorrect: w.sumCorrect, sumRows: w.sumRows },
  };
}

/** A samples record's payload; `chunk`'s arrays are taken as they are (the writer copies them). */
export function samplesPayload(chunk: Batch, at: { steps: number; firstStep: number; rows: number; oneStep: boolean }, producer: number | string | null, seq: number | null): Record<string, unknown> {
  return { type: 'samples', step: at.steps, first: at.firstStep, rows: at.rows, oneStep: at.oneStep, producer, seq, ...batchRecord(chunk) };
}

/** An event as a plain map: its tensors as TensorRecords, `undefined` fields left out. */
export function eventPayload(e: TrainEvent): Record<string, unknown> {
  return { type: 'event', event: plain(e) };
}

/** A copy with typed arrays as their bytes and `undefined` fields left out: what the log's encoder takes. */
export function plain(v: unknown): unknown {
  if (v instanceof Float32Array || v instanceof Float64Array) return bytes(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = plain(x);
    return out;
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// reading: every field checked; `where` names the record in errors

export class RecordReadError extends Error {}

type Map_ = Record<string, unknown>;

function fail(where: string, what: string, got: unknown): never {
  throw new RecordReadError(`${where}: expected ${what}, got ${describe(got)}`);
}

function field(r: Map_, key: string, where: string): unknown {
  return Object.hasOwn(r, key) ? r[key] : fail(where, `a field "${key}"`, undefined);
}

function map(v: unknown, where: string): Map_ {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array) ? (v as Map_) : fail(where, 'a map', v);
}

function int(v: unknown, where: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : fail(where, `an integer in [${min}, ${max}]`, v);
}

/** `int` of field `key` of `r`; its path (`where.key`) is made only for a message. */
function intField(r: Map_, key: string, where: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = field(r, key, where);
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : int(v, `${where}.${key}`, min, max);
}

/** `bool` of field `key` of `r`; its path is made only for a message. */
function boolField(r: Map_, key: string, where: string): boolean {
  const v = field(r, key, where);
  return typeof v === 'boolean' ? v : bool(v, `${where}.${key}`);
}

function num(v: unknown, where: string): number {
  return typeof v === 'number' ? v : fail(where, 'a number', v);
}

function bool(v: unknown, where: string): boolean {
  return typeof v === 'boolean' ? v : fail(where, 'a boolean', v);
}

function str(v: unknown, where: string): string {
  return typeof v === 'string' ? v : fail(where, 'a string', v);
}

function arr(v: unknown, where: string): unknown[] {
  return Array.isArray(v) ? v : fail(where, 'an array', v);
}

function bin(v: unknown, where: string): Uint8Array {
  return v instanceof Uint8Array ? v : fail(where, 'binary data', v);
}

function dtype(v: unknown, where: string): DType {
  return v === 'float32' || v === 'float64' ? v : fail(where, 'dtype "float32" or "float64"', v);
}

/**
 * What a record's float arrays may be made of:
 * - `copy`: copies of its bins (a record others may hold, such as a log's header);
 * - `own`: its bins' own bytes, when the record was decoded from memory that only this reader
 *   holds and nothing writes again (a chunk the log reader read for it, chunk-reader.ts): a float
 *   array is a view of them, after they are moved into alignment (see `adoptFloats`).
 */
export type Bins = 'copy' | 'own';

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/**
 * Bytes right before a bin that nothing decoded refers to: its header (bin 8, 16 or 32: at least
 * 2 bytes) and, for a map's value, its key (UTF-8 bytes, and a str header of at least 1 byte).
 */
function deadBefore(key: string | undefined): number {
  return key === undefined ? 2 : Buffer.byteLength(key) + 3;
}

/**
 * The floats of bin `b`, as a view of its bytes (bins: `own`), else a copy.
 *
 * NOTE: a Float32Array (Float64Array) view needs a byte offset that is a multiple of 4 (8), and
 * where a bin lands depends on everything before it. When it is k bytes past one, its elements
 * are moved k bytes back, in place, over `dead` bytes that nothing decoded refers to (its bin
 * header and its key: the decoder copies strings and numbers out, and each bin's view starts
 * after its header). The chunk changes there, the decoded record does not; a raw bin view of the
 * same bytes would, which is why only a reader that keeps no raw record passes `own`.
 */
function adoptFloats(dt: DType, b: Uint8Array, dead: number, bins: Bins): FloatArray {
  const width = dt === 'float64' ? 8 : 4;
  const k = b.byteOffset % width;
  if (bins === 'copy' || !LITTLE_ENDIAN || k > dead) return floatsFromBytes(dt, b);
  const offset = b.byteOffset - k;
  if (k !== 0) new Uint8Array(b.buffer, offset, b.byteLength + k).copyWithin(0, k);
  const n = b.byteLength / width;
  return dt === 'float64' ? new Float64Array(b.buffer, offset, n) : new Float32Array(b.buffer, offset, n);
}

/**
 * `length` floats of `dt` in bin `v`: the value of `key` in the map `where` names, or (key
 * undefined) the array item `where` names.
 */
function floats(v: unknown, dt: DType, length: number, where: string, key: string | undefined, bins: Bins): FloatArray {
  const b = v instanceof Uint8Array ? v : bin(v, key === undefined ? where : `${where}.${key}`);
  const width = dt === 'float64' ? 8 : 4;
  if (b.length !== length * width) fail(key === undefined ? where : `${where}.${key}`, `${length} ${dt} values (${length * width} bytes)`, `${b.length} bytes`);
  return adoptFloats(dt, b, deadBefore(key), bins);
}

/** `length` float64s in the value of `key` of map `r`. */
function f64s(r: Map_, key: string, length: number, where: string, bins: Bins): Float64Array {
  return floats(field(r, key, where), 'float64', length, where, key, bins) as Float64Array;
}

/** A tensor of `dt` (when given) whose shape is checked against its bytes before anything is allocated. */
export function readTensorRecord(v: unknown, where: string, dt: DType | undefined, bins: Bins): Tensor {
  const r = map(v, where);
  const dv = field(r, 'dtype', where);
  const d = dv === 'float32' || dv === 'float64' ? dv : dtype(dv, `${where}.dtype`);
  if (dt !== undefined && d !== dt) fail(`${where}.dtype`, dt, d);
  const sv = field(r, 'shape', where);
  const dims = Array.isArray(sv) ? (sv as unknown[]) : arr(sv, `${where}.shape`);
  // (a loop, and paths made only for a message: a replay reads two tensors a step)
  const shape: number[] = [];
  let size = 1;
  for (let i = 0; i < dims.length; i++) {
    const n = dims[i];
    shape.push(typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 2 ** 31 ? n : int(n, `${where}.shape[${i}]`, 0, 2 ** 31));
    size *= shape[i]!;
  }
  if (shape.length < 1 || shape.length > 2) fail(`${where}.shape`, '1 or 2 dimensions', shape.length);
  return { dtype: d, shape, data: floats(field(r, 'data', where), d, size, where, 'data', bins) };
}

function readBatch(r: Map_, where: string, dt: DType, bins: Bins): Batch {
  return { x: readTensorRecord(field(r, 'x', where), `${where}.x`, dt, bins), y: readTensorRecord(field(r, 'y', where), `${where}.y`, dt, bins) };
}

function control(v: unknown, where: string): Control {
  try {
    return checkControl(v);
  } catch (e) {
    return fail(where, `a control (${(e as Error).message})`, v);
  }
}

/**
 * The kernels and threads a header's config states. A log written before livegrad had a choice
 * of kernels states neither: it was trained with the TypeScript kernels on one thread.
 */
function readKernelRun(r: Map_, where: string, dt: DType): KernelRun {
  const k = Object.hasOwn(r, 'kernels') ? r['kernels'] : 'js';
  if (k !== 'js' && k !== 'wasm') fail(`${where}.kernels`, '"js" or "wasm"', k);
  if (k === 'wasm' && dt !== 'float32') fail(`${where}.kernels`, `"js" for a ${dt} model (the wasm kernels compute in float32)`, k);
  const threads = Object.hasOwn(r, 'threads') ? int(r['threads'], `${where}.threads`, 1) : 1;
  const build = Object.hasOwn(r, 'kernelsBuild') ? r['kernelsBuild'] : null;
  if (build !== null && !(typeof build === 'string' && /^[0-9a-f]{64}$/.test(build))) fail(`${where}.kernelsBuild`, 'null or a SHA-256 in hex', build);
  return { kernels: k, threads, build: build as string | null };
}

/**
 * The config a header holds, as a TrainConfig with `kernels` the recorded choice (its queue
 * capacity, kernels and threads beside it). Errors name the field; the trainer's own checks come
 * when it is built.
 */
export function readConfigRecord(v: unknown, where = 'header.config'): { config: TrainConfig; queueCapacity: number } & KernelRun {
  const r = map(v, where);
  const mr = map(field(r, 'model', where), `${where}.model`);
  let model: Mlp | MlpSpec;
  if (Object.hasOwn(mr, 'inputSize')) {
    model = mr as unknown as MlpSpec;
  } else {
    const dt = dtype(field(mr, 'dtype', `${where}.model`), `${where}.model.dtype`);
    const layers = arr(field(mr, 'layers', `${where}.model`), `${where}.model.layers`).map((l, i) => {
      const lw = `${where}.model.layers[${i}]`;
      const lr = map(l, lw);
      const w = readTensorRecord(field(lr, 'w', lw), `${lw}.w`, dt, 'copy'), b = readTensorRecord(field(lr, 'b', lw), `${lw}.b`, dt, 'copy');
      if (w.shape.length !== 2 || b.shape.length !== 1 || b.shape[0] !== w.shape[1]) fail(lw, 'w [nin, nout] and b [nout]', `w [${w.shape.join(', ')}], b [${b.shape.join(', ')}]`);
      return { activation: str(field(lr, 'activation', lw), `${lw}.activation`) as LayerWeights['activation'], weights: w, bias: b };
    });
    try {
      model = mlpFromWeights(layers, dt);
    } catch (e) {
      return fail(`${where}.model`, `a model's weights (${(e as Error).message})`, '…');
    }
  }
  const loss = str(field(r, 'loss', where), `${where}.loss`);
  if (!isLossName(loss)) fail(`${where}.loss`, 'a loss livegrad knows', loss);
  const clipNorm = field(r, 'clipNorm', where);
  const evalSet = field(r, 'evalSet', where);
  const dt = (model as { dtype?: DType }).dtype ?? 'float32';
  const state = field(r, 'optimizerState', where);
  const run = readKernelRun(r, where, dt);
  const config: TrainConfig = {
    session: str(field(r, 'session', where), `${where}.session`),
    model,
    loss,
    optimizer: map(field(r, 'optimizer', where), `${where}.optimizer`) as unknown as Optimizer,
    ...(clipNorm === null ? {} : { clipNorm: num(clipNorm, `${where}.clipNorm`) }),
    batchSize: int(field(r, 'batchSize', where), `${where}.batchSize`, 1),
    events: map(field(r, 'events', where), `${where}.events`) as unknown as EventRates,
    ...(evalSet === null ? {} : { evalSet: readBatch(map(evalSet, `${where}.evalSet`), `${where}.evalSet`, dt, 'copy') }),
    onNonFinite: str(field(r, 'onNonFinite', where), `${where}.onNonFinite`) as NonFinitePolicy,
    ...(state === null ? {} : { optimizerState: readState(state, `${where}.optimizerState`, dt, undefined, 'copy') }),
    startStep: int(field(r, 'startStep', where), `${where}.startStep`),
    startSamples: int(field(r, 'startSamples', where), `${where}.startSamples`),
    kernels: run.kernels,
  };
  return { config, queueCapacity: int(field(r, 'queueCapacity', where), `${where}.queueCapacity`, 1), ...run };
}

/** An optimizer state; `sizes` (per parameter tensor) checks each buffer's length when given. */
function readState(v: unknown, where: string, dt: DType, sizes: readonly number[] | undefined, bins: Bins): OptimizerState {
  const r = map(v, where);
  const kind = str(field(r, 'kind', where), `${where}.kind`);
  if (kind !== 'sgd' && kind !== 'adam' && kind !== 'adamw') fail(`${where}.kind`, '"sgd", "adam" or "adamw"', kind);
  const buffers = arr(field(r, 'buffers', where), `${where}.buffers`).map((bs, i) =>
    arr(bs, `${where}.buffers[${i}]`).map((b, j) => {
      const raw = bin(b, `${where}.buffers[${i}][${j}]`);
      const n = sizes?.[i] ?? raw.length / (dt === 'float64' ? 8 : 4);
      return floats(raw, dt, n, `${where}.buffers[${i}][${j}]`, undefined, bins);
    }),
  );
  return { kind, t: int(field(r, 't', where), `${where}.t`), hasMomentum: bool(field(r, 'hasMomentum', where), `${where}.hasMomentum`), buffers };
}

/**
 * A checkpoint record of a model of `shape` (layer sizes and dtype), checked against them: a
 * checkpoint whose arrays do not fit is an error before anything of its claimed size exists.
 */
export function readCheckpoint(r: Map_, where: string, shape: { readonly dtype: DType; readonly layers: readonly { readonly nin: number; readonly nout: number }[] }, metricsWindow: number, bins: Bins = 'copy'): CheckpointRecord {
  const dt = shape.dtype;
  const step = int(field(r, 'step', where), `${where}.step`);
  const at = field(r, 'at', where);
  if (at !== 'step' && at !== 'record' && at !== 'end') fail(`${where}.at`, '"step", "record" or "end"', at);
  const layersIn = arr(field(r, 'layers', where), `${where}.layers`);
  if (layersIn.length !== shape.layers.length) fail(`${where}.layers`, `${shape.layers.length} layers`, layersIn.length);
  const layers = shape.layers.map((l, i) => {
    const lr = map(layersIn[i], `${where}.layers[${i}]`);
    const lw = `${where}.layers[${i}]`;
    return { w: floats(field(lr, 'w', lw), dt, l.nin * l.nout, lw, 'w', bins), b: floats(field(lr, 'b', lw), dt, l.nout, lw, 'b', bins) };
  });
  const sizes = shape.layers.flatMap((l) => [l.nin * l.nout, l.nout]);
  const clipNorm = field(r, 'clipNorm', where);
  const labels = field(r, 'labels', where);
  const held = field(r, 'held', where);
  const wr = map(field(r, 'window', where), `${where}.window`);
  const ww = `${where}.window`;
  const window: WindowState = {
    loss: f64s(wr, 'loss', metricsWindow, ww, bins),
    correct: f64s(wr, 'correct', metricsWindow, ww, bins),
    rows: f64s(wr, 'rows', metricsWindow, ww, bins),
    next: int(field(wr, 'next', ww), `${ww}.next`),
    filled: int(field(wr, 'filled', ww), `${ww}.filled`),
    sumLoss: num(field(wr, 'sumLoss', ww), `${ww}.sumLoss`),
    sumCorrect: num(field(wr, 'sumCorrect', ww), `${ww}.sumCorrect`),
    sumRows: num(field(wr, 'sumRows', ww), `${ww}.sumRows`),
  };
  if (window.next >= metricsWindow) fail(`${ww}.next`, `an integer below the window's ${metricsWindow} steps`, window.next);
  if (window.filled > metricsWindow) fail(`${ww}.filled`, `at most the window's ${metricsWindow} steps`, window.filled);
  const queue: CheckpointEntry[] = arr(field(r, 'queue', where), `${where}.queue`).map((e, i) => {
    const er = map(e, `${where}.queue[${i}]`);
    const kind = field(er, 'kind', `${where}.queue[${i}]`);
    if (kind === 'batch') return { kind, batch: readBatch(er, `${where}.queue[${i}]`, dt, bins) };
    if (kind === 'control') return { kind, control: control(field(er, 'control', `${where}.queue[${i}]`), `${where}.queue[${i}].control`) };
    return fail(`${where}.queue[${i}].kind`, '"batch" or "control"', kind);
  });
  const state: TrainerCheckpoint = {
    steps: step,
    samples: int(field(r, 'samples', where), `${where}.samples`),
    dropped: int(field(r, 'dropped', where), `${where}.dropped`),
    layers,
    optimizerState: readState(field(r, 'state', where), `${where}.state`, dt, sizes, bins),
    stepConfig: {
      loss: 'sse', // replaced by the session's loss where it is restored (a checkpoint does not change the loss)
      optimizer: map(field(r, 'optimizer', where), `${where}.optimizer`) as unknown as Optimizer,
      ...(clipNorm === null ? {} : { clipNorm: num(clipNorm, `${where}.clipNorm`) }),
    },
    batchSize: int(field(r, 'batchSize', where), `${where}.batchSize`, 1),
    labels: labels === null ? undefined : bool(labels, `${where}.labels`),
    paused: bool(field(r, 'paused', where), `${where}.paused`),
    singleSteps: int(field(r, 'singleSteps', where), `${where}.singleSteps`),
    ending: bool(field(r, 'ending', where), `${where}.ending`),
    resumeOnEnd: bool(field(r, 'resumeOnEnd', where), `${where}.resumeOnEnd`),
    queue,
    held: held === null ? undefined : readBatch(map(held, `${where}.held`), `${where}.held`, dt, bins),
    scheduled: arr(field(r, 'scheduled', where), `${where}.scheduled`).map((s, i) => {
      const sr = map(s, `${where}.scheduled[${i}]`);
      return { atStep: int(field(sr, 'atStep', `${where}.scheduled[${i}]`), `${where}.scheduled[${i}].atStep`), control: control(field(sr, 'control', `${where}.scheduled[${i}]`), `${where}.scheduled[${i}].control`) };
    }),
    window,
  };
  return { type: 'checkpoint', step, at, state };
}

/** An input record (samples, control, end, close) of a model of `dt`, checked. */
export function readInput(r: Map_, where: string, dt: DType, bins: Bins = 'copy'): InputRecord {
  const type = r['type'];
  const step = intField(r, 'step', where);
  switch (type) {
    case 'samples': {
      const producer = field(r, 'producer', where);
      const seq = field(r, 'seq', where);
      const batch = readBatch(r, where, dt, bins);
      const rows = intField(r, 'rows', where, 1);
      if (batch.x.shape[0] !== rows) fail(`${where}.x`, `${rows} rows`, batch.x.shape[0]);
      return {
        type,
        step,
        first: intField(r, 'first', where, step + 1),
        rows,
        oneStep: boolField(r, 'oneStep', where),
        producer: producer === null || typeof producer === 'string' ? producer : int(producer, `${where}.producer`),
        seq: seq === null ? null : int(seq, `${where}.seq`),
        batch,
      };
    }
    case 'control': {
      const atStep = field(r, 'atStep', where);
      return { type, step, control: control(field(r, 'control', where), `${where}.control`), atStep: atStep === null ? null : int(atStep, `${where}.atStep`, step + 1), flow: bool(field(r, 'flow', where), `${where}.flow`) };
    }
    case 'end':
      return { type, step, resume: bool(field(r, 'resume', where), `${where}.resume`) };
    case 'close':
      return { type, step, reason: str(field(r, 'reason', where), `${where}.reason`) };
    default:
      return fail(`${where}.type`, 'an input record type (samples, control, end, close)', type);
  }
}

/** A LivegradError E_RECORD_CORRUPT naming the file and offset of a record that did not read. */
export function corrupt(file: string, offset: number, e: unknown): LivegradError {
  return new LivegradError('E_RECORD_CORRUPT', `${file} at byte ${offset}: ${(e as Error).message}`, { cause: e });
}
