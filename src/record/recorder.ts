/**
 * Records a trainer into a session log (docs/recording.md): the journal the trainer is built
 * with, and the log writer behind it.
 *
 *   createTrainer({ ...config, journal: recorder.journal }) ─▶ journal: samples │ control │ end │ close │ stepped
 *                                                                │                                   │
 *   events$ ─▶ lifecycle, control, error (all with events: true) ┤                     every N steps: checkpoint
 *                                                                ▼
 *                                                    writer.append (writer.ts): frames, fsync, segments
 *
 * Events are held and appended at the next journal call, never in the middle of a step. Segments
 * end only at a step's end (the writer's `rollover: 'manual'`, `rollIfFull()` in `stepped`), so
 * every checkpoint is the state after a whole step (`at: "step"`), but the first (`"record"`: the
 * state the trainer starts from, or a server's shutdown) and the last (`"end"`).
 */
import { LivegradError } from '../errors.js';
import type { Batch } from '../nn/batch.js';
import { stepperThreads } from '../nn/step.js';
import type { Control } from '../pipeline/controls.js';
import type { TrainEvent } from '../pipeline/events.js';
import { checkTrainConfig, type CheckedTrainConfig, type TrainConfig } from '../pipeline/trainer/config.js';
import type { Journal } from '../pipeline/trainer/journal.js';
import { createTrainer, type Trainer } from '../pipeline/trainer/trainer.js';
import type { LogFs } from './log-fs.js';
import { KERNELS_WASM_SHA256 } from '../nn/wasm/kernels-wasm.js';
import { checkpointPayload, configRecord, eventPayload, samplesPayload, type KernelRun } from './session-records.js';
import { createLogWriter, type FsyncPolicy, type LogWriter } from './writer.js';
import type { LogRecord } from './format.js';

export interface RecordOptions {
  /** Default `batch`: see the writer. */
  readonly fsync?: FsyncPolicy;
  readonly batchMs?: number;
  /** A segment ends at the next append once it holds this many bytes. Default 64 MiB. */
  readonly segmentBytes?: number;
  readonly retainSegments?: number;
  readonly retainBytes?: number;
  /** A checkpoint every this many steps (0: only where a segment starts and at the end). Default 1000. */
  readonly checkpointEvery?: number;
  /** Record every event the session emits; default only lifecycle, control and error events. */
  readonly events?: boolean;
  /** More fields for every header (plain values): who recorded it, … */
  readonly header?: Readonly<Record<string, unknown>>;
  readonly fs?: LogFs;
  /** Continue the log in `dir` with a new segment of this number (see the writer's `firstSegment`): a recovered session. */
  readonly firstSegment?: number;
}

export interface SessionRecorder {
  /** Give it to the trainer: `createTrainer({ ...config, journal: recorder.journal })`. */
  readonly journal: Journal;
  /** The log's directory. */
  readonly dir: string;
  /**
   * Starts the log of `trainer` (built with this journal, not yet started): segment 1's header
   * and the checkpoint it starts from. Throws E_RECORD_WRITE for a directory that already holds a log.
   */
  attach(trainer: Trainer): void;
  /** Resolves once every record appended so far is durable by the fsync policy; rejects with the log's E_RECORD_WRITE. */
  durable(): Promise<void>;
  /** Bytes appended and not yet written. */
  readonly pendingBytes: number;
  /** The log's failure (E_RECORD_WRITE), once it failed; `onFailure` is told once. */
  readonly failure: LivegradError | undefined;
  onFailure(listener: (error: LivegradError) => void): void;
  /** Appends what is held and a last checkpoint (`at: "end"`), and closes the log; rejects with its failure. */
  close(): Promise<void>;
  /**
   * Stops recording without ending the session's log: a checkpoint of the state now (`at:
   * "record"`), then the log is closed, and what the trainer does after is not recorded. What a
   * server does at shutdown, so that a restart continues the session where it was.
   */
  suspend(): Promise<void>;
}

/** Producer and seq, when the giver of a chunk tagged it so. */
function origin(tag: unknown): { producer: number | string | null; seq: number | null } {
  if (tag !== null && typeof tag === 'object') {
    const t = tag as { producer?: unknown; seq?: unknown };
    const producer = typeof t.producer === 'number' || typeof t.producer === 'string' ? t.producer : null;
    return { producer, seq: typeof t.seq === 'number' ? t.seq : null };
  }
  return { producer: null, seq: null };
}

/** The kernels a trainer of `checked` computes with, and its stepper's threads (what `createStepper` makes of them: 1 with the `js` kernels). */
export function kernelRun(checked: Pick<CheckedTrainConfig, 'kernels' | 'threads'>): KernelRun {
  return { kernels: checked.kernels, threads: stepperThreads(checked.kernels, checked.threads), build: checked.kernels === 'wasm' ? KERNELS_WASM_SHA256 : null };
}

const ALWAYS: ReadonlySet<TrainEvent['type']> = new Set(['lifecycle', 'control', 'error']);

/**
 * A recorder for the session of `config` into `dir` (created if needed; it must hold no log).
 * Nothing is written until `attach`.
 */
export function createRecorder(dir: string, config: TrainConfig, options: RecordOptions = {}): SessionRecorder {
  const checked = checkTrainConfig(config);
  const every = options.checkpointEvery ?? 1000;
  if (!Number.isInteger(every) || every < 0) throw new RangeError(`Expected checkpointEvery to be an integer ≥ 0, got ${every}`);
  const allEvents = options.events === true;
  const header = { ...options.header, session: checked.session, config: configRecord(config, checked.queue.capacity, checked.rates, kernelRun(checked)), checkpointEvery: every, events: allEvents };
  let writer: LogWriter<LogRecord> | undefined;
  let trainer: Trainer | undefined;
  let last: Promise<unknown> = Promise.resolve();
  let failure: LivegradError | undefined;
  const listeners: ((e: LivegradError) => void)[] = [];
  let held: TrainEvent[] = [];
  /** Where a checkpoint taken now stands: right after a step, or right before the next record. */
  let at: 'step' | 'record' | 'end' = 'record';
  let closing: Promise<void> | undefined;
  /** Suspended or closed: journal calls are no longer recorded. */
  let stopped = false;

  const failed = (e: unknown): void => {
    if (failure) return;
    failure = e instanceof LivegradError ? e : new LivegradError('E_RECORD_WRITE', `Expected to record session "${checked.session}", got ${(e as Error).message}`, { cause: e });
    for (const l of listeners.splice(0)) l(failure);
  };

  function append(record: LogRecord): void {
    if (!writer || failure || stopped) return;
    const p = writer.append(record);
    p.catch(failed);
    last = p;
  }

  function checkpoint(): LogRecord {
    const t = trainer!;
    return checkpointPayload(t.steps, at, t.checkpoint()) as LogRecord;
  }

  /** Appends the events held since the last journal call (between steps: a segment may start here). */
  function flush(): void {
    if (held.length === 0) return;
    const events = held;
    held = [];
    for (const e of events) append(eventPayload(e) as LogRecord);
  }

  const input = (record: Record<string, unknown>): void => {
    at = 'record';
    flush();
    append(record as LogRecord);
  };

  /** The last checkpoint (at `kind`), then the writer closes; once, whichever of close / suspend comes first. */
  function finish(kind: 'end' | 'record'): Promise<void> {
    closing ??= (async () => {
      if (writer && !failure) {
        at = kind;
        flush();
        append(checkpoint());
      }
      stopped = true;
      await writer?.close().catch(failed);
      if (failure) throw failure;
    })();
    return closing;
  }

  const journal: Journal = {
    samples(chunk: Batch, a) {
      const { producer, seq } = origin(a.tag);
      input(samplesPayload(chunk, a, producer, seq));
    },
    control(control: Control, a) {
      input({ type: 'control', step: a.steps, control, atStep: a.atStep ?? null, flow: a.flow });
    },
    end(a) {
      input({ type: 'end', step: a.steps, resume: a.resume });
    },
    close(a) {
      input({ type: 'close', step: a.steps, reason: a.reason });
    },
    stepped(steps) {
      at = 'step';
      flush();
      const rolled = writer !== undefined && !failure && !stopped && writer.rollIfFull();
      if (!rolled && every > 0 && steps % every === 0) append(checkpoint());
    },
  };

  return {
    journal,
    get dir() {
      return writer?.dir ?? dir;
    },
    attach(t) {
      if (trainer) throw new TypeError('Expected a recorder attached once, got a second trainer');
      trainer = t;
      at = 'record';
      writer = createLogWriter<LogRecord>(dir, {
        checkpoint,
        header,
        ...(options.fsync === undefined ? {} : { fsync: options.fsync }),
        ...(options.batchMs === undefined ? {} : { batchMs: options.batchMs }),
        ...(options.segmentBytes === undefined ? {} : { segmentBytes: options.segmentBytes }),
        ...(options.retainSegments === undefined ? {} : { retainSegments: options.retainSegments }),
        ...(options.retainBytes === undefined ? {} : { retainBytes: options.retainBytes }),
        ...(options.fs === undefined ? {} : { fs: options.fs }),
        ...(options.firstSegment === undefined ? {} : { firstSegment: options.firstSegment }),
        // segments end between steps (stepped), so that every checkpoint but the first and the last is a step's end
        rollover: 'manual',
      });
      t.events$.subscribe({
        next: (e) => {
          if (allEvents || ALWAYS.has(e.type)) held.push(e);
        },
        error: () => undefined, // the trainer's failure is its owner's to report; its last events are held
      });
    },
    durable() {
      return failure ? Promise.reject(failure) : last.then(() => undefined);
    },
    get pendingBytes() {
      return writer?.pendingBytes ?? 0;
    },
    get failure() {
      return failure;
    },
    onFailure(listener) {
      if (failure) listener(failure);
      else listeners.push(listener);
    },
    close() {
      return finish('end');
    },
    suspend() {
      return finish('record');
    },
  };
}

/**
 * A trainer whose every input, checkpoint and (lifecycle, control, error, or with `events` all)
 * event goes into the log at `dir`. Close the recorder once the trainer is done (its events$
 * completed) to write the last checkpoint and close the log.
 *
 * @example
 * const { trainer, recorder } = createRecordedTrainer(config, 'runs/s1', { fsync: 'never' });
 * trainer.events$.subscribe({ complete: () => void recorder.close() });
 */
export function createRecordedTrainer(config: TrainConfig, dir: string, options: RecordOptions = {}): { trainer: Trainer; recorder: SessionRecorder } {
  const recorder = createRecorder(dir, config, options);
  const trainer = createTrainer({ ...config, journal: recorder.journal });
  recorder.attach(trainer);
  return { trainer, recorder };
}
