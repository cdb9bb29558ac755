/**
 * `openRecording(path)`: a session log opened for replay — its header and config, and what one
 * streaming pass over its records found: checkpoints, steps, inputs, producers' last sequence
 * numbers, bytes and integrity. Nothing of the records is kept but their positions.
 */
import { Observable } from 'rxjs';
import { LivegradError } from '../errors.js';
import { checkInputShape, type Batch } from '../nn/batch.js';
import { mlpShape, type MlpShape } from '../nn/mlp.js';
import type { KernelChoice } from '../nn/step.js';
import { checkTrainConfig, isSpec, type TrainConfig } from '../pipeline/trainer/config.js';
import type { LogHeader } from './format.js';
import { openLog, type LogEntry, type LogReader, type LogReport, type LogSegment, type OpenLogOptions } from './reader.js';
import { corrupt, readCheckpoint, readConfigRecord, readInput, RecordReadError, type Bins, type CheckpointRecord, type InputRecord } from './session-records.js';

/** Where a checkpoint is, and the state it holds (read again when a replay starts there). */
export interface CheckpointInfo {
  readonly step: number;
  readonly at: 'step' | 'record' | 'end';
  readonly file: string;
  readonly offset: number;
  /** The first record of its segment (every segment starts with one). */
  readonly segmentStart: boolean;
}

/** One record of a recording, read and checked. */
export type RecordingEntry =
  | { readonly kind: 'input'; readonly record: InputRecord; readonly file: string; readonly offset: number }
  | { readonly kind: 'checkpoint'; readonly record: CheckpointRecord; readonly segmentStart: boolean; readonly file: string; readonly offset: number }
  | { readonly kind: 'event'; readonly event: Readonly<Record<string, unknown>>; readonly file: string; readonly offset: number };

export interface Recording {
  readonly path: string;
  /** The first segment's header. */
  readonly header: LogHeader;
  readonly session: string;
  /** The session's config, as it was created (the initial weights or the seed, the optimizer, …; `kernels` the recorded choice). */
  readonly config: TrainConfig;
  /** The kernels the session trained with, as the header states them (`"js"` for a log written before livegrad had a choice): a replay uses them. */
  readonly kernels: KernelChoice;
  /** The threads its stepper used, as the first segment's header states them (1 for an older log). Informational: threads never change a result. */
  readonly threads: number;
  /** With the `wasm` kernels, the SHA-256 of the module that trained the session (null with `js`, or in a log from before it was recorded). */
  readonly kernelsBuild: string | null;
  /** The trainer's queue capacity (it decides when a waiting chunk was admitted). */
  readonly queueCapacity: number;
  readonly shape: MlpShape;
  readonly segments: readonly LogSegment[];
  readonly checkpoints: readonly CheckpointInfo[];
  /** The first step the log holds (its first checkpoint's), and the last step any record names. */
  readonly firstStep: number;
  readonly lastStep: number;
  /** Records by type. */
  readonly counts: Readonly<Record<'samples' | 'control' | 'end' | 'close' | 'checkpoint' | 'event', number>>;
  /** Rows in the samples records. */
  readonly rows: number;
  /** Per producer (a server's producer name or connection number), the last seq the log holds. */
  readonly producers: ReadonlyMap<number | string, number>;
  /** How it ended: `end` (closed with drain) or `close` records, or neither (a live or crashed session). */
  readonly ended: 'end' | 'close' | null;
  /** The session is over (completed, closed or failed): its last checkpoint is the one written at its end. A log that is not finished belongs to a session a server stopped or lost: a restart continues it. */
  readonly finished: boolean;
  /** Segments, records, bytes, and the bytes of a cut tail. */
  readonly report: LogReport;
  /** The records, read afresh and checked, as an Observable (cold; unsubscribe closes the file). */
  readonly entries$: Observable<RecordingEntry>;
  /** The same, as an async generator. */
  entries(): AsyncGenerator<RecordingEntry, LogReport, undefined>;
}

const HEADER_KEYS = ['session', 'config', 'checkpointEvery', 'events'] as const;

/**
 * `config` to check a record against. NOTE: with the `js` kernels, which run everywhere: whether
 * the recorded kernels run here is a replay's question, not the log's (a log of the `wasm`
 * kernels reads, and is inspected, on a runtime without them); the header's `kernels` field is
 * checked where it is read.
 */
function checkable(config: TrainConfig): TrainConfig {
  return { ...config, kernels: 'js' };
}

function metricsWindowOf(config: TrainConfig): number {
  return config.events?.metricsWindow ?? 100;
}

/** Throws unless a chunk's x and y fit the model (their values are checked when the replay admits it). */
function checkShapes(shape: MlpShape, b: Batch): void {
  const m = checkInputShape(shape, b.x);
  const nout = shape.layers[shape.layers.length - 1]!.nout;
  const y = b.y.shape;
  if (y.length === 1 ? y[0] !== m : y.length !== 2 || y[0] !== m || y[1] !== nout) {
    throw new RecordReadError(`Expected y of shape [${m}, ${nout}] or class indices [${m}], got [${y.join(', ')}]`);
  }
}

/**
 * Reads one log entry as a recording entry; throws E_RECORD_CORRUPT naming the file, offset and
 * field. With bins `own` (the entry is the caller's alone, read for it and kept by no one else),
 * its float arrays are views of the bytes it was read in (session-records.ts, `Bins`).
 */
export function readEntry(e: LogEntry, config: TrainConfig, shape: MlpShape, bins: Bins = 'copy'): RecordingEntry {
  const r = e.record as Record<string, unknown>;
  const where = `${r['type']} record`;
  try {
    if (r['type'] === 'checkpoint') {
      const record = readCheckpoint(r, where, shape, metricsWindowOf(config), bins);
      // every field against the session's model and config, as a trainer restoring it would check it
      try {
        checkTrainConfig({ ...checkable(config), restore: { ...record.state, stepConfig: { ...record.state.stepConfig, loss: config.loss } } });
      } catch (err) {
        throw new RecordReadError(`${where}: ${(err as Error).message}`);
      }
      return { kind: 'checkpoint', record, segmentStart: e.checkpoint, file: e.file, offset: e.offset };
    }
    if (e.checkpoint) throw new RecordReadError(`expected a checkpoint as the first record of a segment, got a ${JSON.stringify(r['type'])} record`);
    if (r['type'] === 'event') {
      const ev = r['event'];
      if (ev === null || typeof ev !== 'object' || Array.isArray(ev)) throw new RecordReadError('event record: expected a map in "event"');
      return { kind: 'event', event: ev as Record<string, unknown>, file: e.file, offset: e.offset };
    }
    const input = readInput(r, where, shape.dtype, bins);
    if (input.type === 'samples') {
      // a chunk is recorded once the trainer has admitted it: one that the model could not take is damage
      try {
        checkShapes(shape, input.batch);
      } catch (err) {
        throw new RecordReadError(`${where}: ${(err as Error).message}`);
      }
    }
    return { kind: 'input', record: input, file: e.file, offset: e.offset };
  } catch (err) {
    if (err instanceof RecordReadError) throw corrupt(e.file, e.offset, err);
    throw err;
  }
}

async function* entriesOf(log: LogReader, config: TrainConfig, shape: MlpShape): AsyncGenerator<RecordingEntry, LogReport, undefined> {
  const it = log.batches();
  try {
    for (;;) {
      const n = await it.next();
      if (n.done === true) return n.value;
      // NOTE: the batch's raw records are this reader's alone (read for it, never yielded): their bins may become the entries' arrays
      for (const e of n.value) yield readEntry(e, config, shape, 'own');
    }
  } finally {
    // a reader stopped early (an error, `until`, unsubscribe) closes its file now, not at garbage collection
    await it.return(undefined as never);
  }
}

/**
 * Opens a recorded session (a log directory, or one segment file) and reads it through once.
 * Throws LivegradError E_RECORD_CORRUPT (a damaged log, or a header that is not a session's:
 * naming the file, the byte offset and the field), E_RECORD_VERSION, E_RECORD_READ.
 *
 * @example
 * const rec = await openRecording('runs/digits');
 * console.log(rec.session, rec.firstStep, rec.lastStep, rec.checkpoints.length, rec.report.truncated);
 */
export async function openRecording(path: string, options: OpenLogOptions = {}): Promise<Recording> {
  const log = await openLog(path, options);
  const first = log.segments.find((s) => s.header !== null);
  if (!first?.header) throw new LivegradError('E_RECORD_CORRUPT', `${path}: expected a log with a whole header, got none`);
  const header = first.header;
  const hfile = first.file;
  for (const k of HEADER_KEYS) if (!Object.hasOwn(header, k)) throw new LivegradError('E_RECORD_CORRUPT', `${hfile} at byte 10: expected a session log's header with "${k}", got none (a log of something else?)`);
  let config: TrainConfig;
  let queueCapacity: number;
  let kernels: KernelChoice;
  let threads: number;
  let kernelsBuild: string | null;
  let shape: MlpShape;
  try {
    ({ config, queueCapacity, kernels, threads, build: kernelsBuild } = readConfigRecord(header['config']));
    shape = isSpec(config.model) ? mlpShape(config.model) : config.model;
    checkTrainConfig(checkable(config));
  } catch (e) {
    throw new LivegradError('E_RECORD_CORRUPT', `${hfile} at byte 10: the header's config is not a session config: ${(e as Error).message}`, { cause: e });
  }
  const checkpoints: CheckpointInfo[] = [];
  const counts = { samples: 0, control: 0, end: 0, close: 0, checkpoint: 0, event: 0 };
  const producers = new Map<number | string, number>();
  let rows = 0;
  let firstStep: number | undefined;
  let lastStep = 0;
  let ended: 'end' | 'close' | null = null;
  const it = entriesOf(log, config, shape);
  let report: LogReport;
  for (;;) {
    const n = await it.next();
    if (n.done === true) {
      report = n.value;
      break;
    }
    const e = n.value;
    if (e.kind === 'checkpoint') {
      counts.checkpoint++;
      firstStep ??= e.record.step;
      lastStep = Math.max(lastStep, e.record.step);
      checkpoints.push({ step: e.record.step, at: e.record.at, file: e.file, offset: e.offset, segmentStart: e.segmentStart });
    } else if (e.kind === 'event') {
      counts.event++;
    } else {
      const r = e.record;
      counts[r.type]++;
      lastStep = Math.max(lastStep, r.step);
      if (r.type === 'samples') {
        rows += r.rows;
        if (r.producer !== null && r.seq !== null) producers.set(r.producer, r.seq);
      }
      if (r.type === 'end' || r.type === 'close') ended = r.type;
    }
  }
  return {
    path: log.path,
    header,
    session: String(header['session']),
    config,
    kernels,
    threads,
    kernelsBuild,
    queueCapacity,
    shape,
    segments: log.segments,
    checkpoints,
    firstStep: firstStep ?? config.startStep ?? 0,
    lastStep,
    counts,
    rows,
    producers,
    ended,
    finished: checkpoints.at(-1)?.at === 'end',
    report,
    entries: () => entriesOf(log, config, shape),
    entries$: new Observable<RecordingEntry>((subscriber) => {
      const gen = entriesOf(log, config, shape);
      let stopped = false;
      void (async () => {
        try {
          for (;;) {
            const n = await gen.next();
            if (stopped) return;
            if (n.done === true) break;
            subscriber.next(n.value);
          }
          subscriber.complete();
        } catch (e) {
          if (!stopped) subscriber.error(e);
        }
      })();
      return () => {
        stopped = true;
        void gen.return(undefined as never);
      };
    }),
  };
}
