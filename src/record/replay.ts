/**
 * Replay: a recorded session trained again, through the same trainer, to the same bits.
 *
 * The rule it rests on: a trainer given the same inputs at the same step counts does the same
 * things. A log holds every input with the step count at which it entered the order, so a replay
 * builds a `manual` trainer (one that trains only when told) and, for each input record,
 * trains up to its step (`runTo`) and gives it; at the end it trains what is left.
 *
 *   records: ─ckpt─samples(s=0)─samples(s=0)─control(s=3)─ckpt(s=1000)─ … ─end(s=n)─|
 *   trainer:   restore │ offer │ offer │ runTo(3), control │ (verify) │ … │ runTo(n), end, runTo(∞)
 *   events$:  ─started──────────────step1─step2─step3─control─ … ─lifecycle completed─|
 *
 * With `verify`, the replay trainer's own journal is held against the log: every input it
 * admits must be the recorded one at the recorded step, and every recorded checkpoint must equal
 * the replay's state at the same point, bit for bit (weights, optimizer state, counters, queue,
 * window); the first difference is an E_REPLAY_DIVERGED naming the step and the array.
 *
 * A fork (`at`, `change`) replays to step `at`, applies a `set` of `change` there, and goes on
 * with the rest of the recorded inputs: the same data, another learning rate.
 *
 * A replay computes with the kernels the log states (`recording.kernels`): the `js` and `wasm`
 * kernels agree within float32 tolerance, not bit for bit, so only the recorded ones reproduce
 * the log. Another choice (`kernels`) replays within that tolerance, and never with `verify`.
 */
import { KERNELS_WASM_SHA256 } from '../nn/wasm/kernels-wasm.js';
import { Observable } from 'rxjs';
import { describe, LivegradError } from '../errors.js';
import type { Batch } from '../nn/batch.js';
import type { Mlp } from '../nn/mlp.js';
import { checkThreads, KERNEL_CHOICES, resolveKernels, stepperThreads, type KernelChoice } from '../nn/step.js';
import type { OptimizerState } from '../nn/optimizers.js';
import type { FloatArray } from '../nn/tensor.js';
import type { Control, HyperParams } from '../pipeline/controls.js';
import type { TrainEvent } from '../pipeline/events.js';
import type { TrainerCheckpoint } from '../pipeline/trainer/checkpoint.js';
import type { Journal } from '../pipeline/trainer/journal.js';
import { createTrainer, type Trainer } from '../pipeline/trainer/trainer.js';
import { createRecorder, type RecordOptions, type SessionRecorder } from './recorder.js';
import type { CheckpointInfo, Recording, RecordingEntry } from './recording.js';
import type { CheckpointRecord, InputRecord } from './session-records.js';

export interface ReplayOptions {
  /** Start from the last checkpoint at or before this step (default: the log's beginning). */
  readonly from?: number;
  /** Stop once this many steps are taken. */
  readonly until?: number;
  /** Hold every input and checkpoint against the replay, bit for bit (E_REPLAY_DIVERGED at the first difference). */
  readonly verify?: boolean;
  /** Fork: at this step, apply `change` (a `set`), then go on with the recorded inputs. */
  readonly at?: number;
  readonly change?: Omit<HyperParams, 'batchSize'>;
  /**
   * The kernels to compute with. Default: the recorded ones (`recording.kernels`), the only ones
   * that reproduce the log bit for bit; another choice replays within float32 tolerance of it,
   * and is refused with `verify`.
   */
  readonly kernels?: KernelChoice;
  /** Threads for the `wasm` kernels: 1 or 2. Default 1 (never changes a result). */
  readonly threads?: number;
  /** Record the replay (a fork, typically) into a new log at `dir`. */
  readonly record?: RecordOptions & { readonly dir: string };
  /** Clock for event times; default the wall clock (a replay's events are stamped when replayed). */
  readonly now?: () => number;
  /** Events of steps before this one are not emitted (a seek: the replay catches up quietly, then plays). */
  readonly emitFrom?: number;
  /**
   * Called before each step from `emitFrom` on, with the step about to be taken; a promise holds
   * the replay until it settles (a player's speed and pause). Steps are then taken one at a time.
   */
  readonly pace?: (step: number) => Promise<void> | undefined;
}

export interface ReplayResult {
  readonly session: string;
  readonly steps: number;
  readonly samples: number;
  /** The weights and optimizer state at the end. */
  readonly model: Mlp;
  readonly optimizerState: OptimizerState;
  /** Checkpoints held against the replay and found equal (with `verify`). */
  readonly verified: number;
  /** How the recorded session ended (`end`, `close`), when the replay reached that end; null otherwise (a log that does not end there, or a replay stopped by `until`). */
  readonly ended: 'end' | 'close' | null;
  /** The step the replay started from (a checkpoint's). */
  readonly startStep: number;
  /** The replay trainer's whole state at the end: what a recovered session continues from. */
  readonly state: TrainerCheckpoint;
  /** The kernels it computed with (the recorded ones unless `kernels` said otherwise). */
  readonly kernels: KernelChoice;
  /** The threads its stepper computed with (`threads`, or 1; always 1 with the `js` kernels). */
  readonly threads: number;
}

/** `@param recording`: from openRecording. Returns the events the session emitted, replayed (cold: one replay per subscription). */
export function replay(recording: Recording, options: ReplayOptions = {}): Observable<TrainEvent> {
  return new Observable<TrainEvent>((subscriber) => {
    const run = runReplay(recording, options, (e) => subscriber.next(e));
    run.result.then(
      () => subscriber.complete(),
      (e: unknown) => subscriber.error(e),
    );
    return () => run.cancel();
  });
}

/** Replays and resolves with the end state (the events go to `onEvent`, if given). */
export function replayToEnd(recording: Recording, options: ReplayOptions = {}, onEvent?: (e: TrainEvent) => void): Promise<ReplayResult> {
  return runReplay(recording, options, onEvent ?? (() => undefined)).result;
}

function diverged(message: string): LivegradError {
  return new LivegradError('E_REPLAY_DIVERGED', message);
}

/**
 * What to add to a difference found replaying `r` with `kernels`: when the log was trained by
 * another build of the wasm kernels than this livegrad's, that build is the likely cause (a kernel
 * change can move the last bits of a result). Empty otherwise.
 */
export function buildNote(r: Pick<Recording, 'kernels' | 'kernelsBuild'>, kernels: KernelChoice): string {
  if (kernels !== 'wasm' || r.kernels !== 'wasm' || r.kernelsBuild === null || r.kernelsBuild === KERNELS_WASM_SHA256) return '';
  return ` (the log was trained by the wasm kernels of build ${r.kernelsBuild.slice(0, 12)}…, this livegrad's are build ${KERNELS_WASM_SHA256.slice(0, 12)}…: another build can differ in the last bits; replay with the livegrad that recorded it to reproduce it)`;
}

function checkOptions(r: Recording, o: ReplayOptions): void {
  const step = (v: number | undefined, what: string): void => {
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) throw new RangeError(`Expected ${what} to be an integer ≥ 0, got ${v}`);
  };
  step(o.from, 'from');
  step(o.until, 'until');
  step(o.at, 'at');
  if ((o.at === undefined) !== (o.change === undefined)) throw new TypeError('Expected a fork to name both at and change, got one of them');
  if (o.at !== undefined && o.at < r.firstStep) throw new RangeError(`Expected at ≥ ${r.firstStep} (the first step the log holds), got ${o.at}`);
  if (o.change !== undefined && 'batchSize' in o.change) throw new TypeError('Expected a fork to change lr, momentum, weightDecay or clipNorm, got batchSize (rows are cut into batches as they arrive)');
  if (o.kernels !== undefined && !KERNEL_CHOICES.includes(o.kernels)) throw new TypeError(`Expected kernels "js" or "wasm", got ${describe(o.kernels)}`);
  if (o.verify === true && o.at === undefined && o.kernels !== undefined && o.kernels !== r.kernels) {
    throw new TypeError(`Expected verify with the recorded kernels ("${r.kernels}"), got kernels "${o.kernels}": the two kernels agree within float32 tolerance, not bit for bit, so only the recorded ones can reproduce ${r.path}`);
  }
  checkThreads(o.threads);
}

/**
 * The kernels a replay of `r` computes with: `kernels` (default: the recorded ones). Throws
 * E_KERNELS naming the log where they cannot run here, TypeError for `wasm` and a float64 model.
 */
export function replayKernels(r: Recording, kernels: KernelChoice = r.kernels): KernelChoice {
  try {
    return resolveKernels(r.shape, kernels);
  } catch (e) {
    if (!(e instanceof LivegradError && e.code === 'E_KERNELS')) throw e;
    const lacks = 'which need WebAssembly SIMD128 and shared memory, and this runtime lacks one of them';
    const message =
      kernels === r.kernels
        ? `${r.path}: recorded with the wasm kernels, ${lacks}: replay it on a runtime that has them (Node 20 does) to reproduce it bit for bit, or with kernels "js" (livegrad replay --kernels js) to replay it within float32 tolerance (not with verify)`
        : `${r.path}: asked to replay with the wasm kernels, ${lacks}: replay it with its recorded kernels ("js")`;
    throw new LivegradError('E_KERNELS', message, { cause: e });
  }
}

/**
 * The checkpoint a replay starts from: the last one at or before `from` (default: the log's
 * first). A fork starts strictly before its step, so that its change applies at that step and
 * not after the rows already queued there (unless the log starts at that very step).
 */
function startOf(r: Recording, o: ReplayOptions): CheckpointInfo | undefined {
  const usable = r.checkpoints.filter((c) => c.at !== 'end');
  const first = usable[0];
  if (first === undefined) return undefined;
  if (o.from === undefined) return first;
  const limit = Math.min(o.from, o.at ?? Infinity);
  let best = first;
  for (const c of usable) {
    if (c.step > limit) break;
    if (o.at !== undefined && c.step === o.at && c !== first) continue;
    best = c;
  }
  return best;
}

/** The first difference between two arrays, as "name[i]: recorded x, replayed y", or undefined. */
function firstDifference(name: string, a: FloatArray | Float64Array, b: FloatArray | Float64Array): string | undefined {
  if (a.length !== b.length) return `${name}: recorded ${a.length} values, replayed ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) return `${name}[${i}]: recorded ${a[i]}, replayed ${b[i]}`;
  }
  return undefined;
}

function sameControl(a: Control, b: Control): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function batchDifference(name: string, a: Batch, b: Batch): string | undefined {
  if (a.x.data === b.x.data && a.y.data === b.y.data) return undefined; // the very arrays the replay was given
  if (a.x.shape.join() !== b.x.shape.join() || a.y.shape.join() !== b.y.shape.join()) return `${name}: recorded shape x [${a.x.shape}] y [${a.y.shape}], replayed x [${b.x.shape}] y [${b.y.shape}]`;
  return firstDifference(`${name}.x`, a.x.data, b.x.data) ?? firstDifference(`${name}.y`, a.y.data, b.y.data);
}

/** The first difference between a recorded checkpoint and the replay's state, or undefined. */
export function checkpointDifference(rec: TrainerCheckpoint, got: TrainerCheckpoint): string | undefined {
  const scalars = ['steps', 'samples', 'dropped', 'batchSize', 'labels', 'paused', 'singleSteps', 'ending', 'resumeOnEnd'] as const;
  for (const k of scalars) if (rec[k] !== got[k]) return `${k}: recorded ${String(rec[k])}, replayed ${String(got[k])}`;
  for (let i = 0; i < rec.layers.length; i++) {
    const d = firstDifference(`layers[${i}].w`, rec.layers[i]!.w, got.layers[i]!.w) ?? firstDifference(`layers[${i}].b`, rec.layers[i]!.b, got.layers[i]!.b);
    if (d) return d;
  }
  const rs = rec.optimizerState, gs = got.optimizerState;
  if (rs.t !== gs.t || rs.hasMomentum !== gs.hasMomentum) return `optimizer state t/hasMomentum: recorded ${rs.t}/${rs.hasMomentum}, replayed ${gs.t}/${gs.hasMomentum}`;
  for (let i = 0; i < rs.buffers.length; i++) {
    for (let j = 0; j < rs.buffers[i]!.length; j++) {
      const d = firstDifference(`optimizer buffers[${i}][${j}]`, rs.buffers[i]![j]!, gs.buffers[i]![j]!);
      if (d) return d;
    }
  }
  const ro = JSON.stringify({ ...rec.stepConfig.optimizer, clipNorm: rec.stepConfig.clipNorm }), go = JSON.stringify({ ...got.stepConfig.optimizer, clipNorm: got.stepConfig.clipNorm });
  if (ro !== go) return `optimizer: recorded ${ro}, replayed ${go}`;
  const kinds = (q: TrainerCheckpoint['queue']): string => q.map((e) => (e.kind === 'batch' ? `${e.batch.x.shape[0]} rows` : e.control.action)).join(', ');
  if (rec.queue.length !== got.queue.length) return `queue: recorded ${rec.queue.length} entries (${kinds(rec.queue)}), replayed ${got.queue.length} (${kinds(got.queue)})`;
  for (let i = 0; i < rec.queue.length; i++) {
    const a = rec.queue[i]!, b = got.queue[i]!;
    if (a.kind !== b.kind) return `queue[${i}]: recorded a ${a.kind}, replayed a ${b.kind}`;
    const d = a.kind === 'batch' && b.kind === 'batch' ? batchDifference(`queue[${i}]`, a.batch, b.batch) : a.kind === 'control' && b.kind === 'control' && !sameControl(a.control, b.control) ? `queue[${i}]: another control` : undefined;
    if (d) return d;
  }
  if ((rec.held === undefined) !== (got.held === undefined)) return `held rows: recorded ${rec.held?.x.shape[0] ?? 0}, replayed ${got.held?.x.shape[0] ?? 0}`;
  if (rec.held && got.held) {
    const d = batchDifference('held', rec.held, got.held);
    if (d) return d;
  }
  if (JSON.stringify(rec.scheduled) !== JSON.stringify(got.scheduled)) return 'scheduled controls differ';
  const w = rec.window, v = got.window;
  if (w.next !== v.next || w.filled !== v.filled || !Object.is(w.sumLoss, v.sumLoss) || !Object.is(w.sumCorrect, v.sumCorrect) || !Object.is(w.sumRows, v.sumRows)) return 'metrics window sums differ';
  return firstDifference('window.loss', w.loss, v.loss) ?? firstDifference('window.correct', w.correct, v.correct) ?? firstDifference('window.rows', w.rows, v.rows);
}

/**
 * The replay's journal, with `verify`: each input the replay trainer admits is held against the
 * recorded one, and a recorded checkpoint against the replay's state where the live one was taken.
 */
class Verifier implements Journal {
  private readonly expected: InputRecord[] = [];
  /** Recorded checkpoints not yet compared, each with the number of inputs recorded before it. */
  private readonly checkpoints: { readonly c: CheckpointRecord; readonly before: number }[] = [];
  /** Inputs recorded (given to the replay) and inputs the replay has taken. */
  private given = 0;
  private taken = 0;
  verified = 0;
  trainer: Trainer | undefined;
  /** The first difference found (thrown inside the trainer, which fails with it; the replay rethrows it). */
  failure: LivegradError | undefined;

  private fail(message: string): LivegradError {
    this.failure ??= diverged(message + this.buildNote);
    return this.failure;
  }

  constructor(
    /** Appended to a difference's message: what differs in the kernels' build, if anything (`buildNote`). */
    private readonly buildNote: string,
    private readonly where: () => string,
    private readonly next: Journal | undefined,
  ) {}

  expect(r: InputRecord): void {
    this.expected.push(r);
    this.given++;
  }

  /** A recorded checkpoint, compared where it was taken: at the end of its step, before the next input, or at the end. */
  expectCheckpoint(c: CheckpointRecord): void {
    this.checkpoints.push({ c, before: this.given });
  }

  /** Compares the recorded checkpoints pending that `match` picks (in order) with the replay's state now. */
  compare(match: (c: CheckpointRecord, before: number) => boolean): void {
    while (this.checkpoints.length > 0 && match(this.checkpoints[0]!.c, this.checkpoints[0]!.before)) {
      const { c } = this.checkpoints.shift()!;
      const d = checkpointDifference(c.state, this.trainer!.checkpoint());
      if (d) throw this.fail(`Expected the replay to equal the checkpoint at step ${c.step} (${this.where()}), got ${d}`);
      this.verified++;
    }
  }

  private input(type: InputRecord['type'], steps: number, detail: (r: InputRecord) => string | undefined): void {
    // a checkpoint taken right before this input (the `before`-th) is compared now
    this.compare((c, before) => c.at === 'record' && before === this.taken);
    this.taken++;
    const r = this.expected.shift();
    if (!r) throw this.fail(`Expected no ${type} from the replay at step ${steps}, got one the log does not hold (${this.where()})`);
    if (r.type !== type || r.step !== steps) throw this.fail(`Expected the replay to take the recorded ${r.type} at step ${r.step} (${this.where()}), got a ${type} at step ${steps}`);
    const d = detail(r);
    if (d) throw this.fail(`Expected the replay to take the recorded ${r.type} at step ${r.step} (${this.where()}), got ${d}`);
  }

  samples(chunk: Batch, at: Parameters<Journal['samples']>[1]): void {
    this.input('samples', at.steps, (r) => (r.type === 'samples' ? (r.first !== at.firstStep ? `its first row in step ${at.firstStep}, not ${r.first}` : batchDifference('samples', r.batch, chunk)) : undefined));
    this.next?.samples(chunk, at);
  }

  control(control: Control, at: Parameters<Journal['control']>[1]): void {
    // (a resume / step recorded as taken from the waiting offers reaches the replay through its queue: the same effect)
    this.input('control', at.steps, (r) => (r.type === 'control' && (!sameControl(r.control, control) || (r.atStep ?? undefined) !== at.atStep || (r.flow && !at.flow ? false : r.flow !== at.flow)) ? 'another control' : undefined));
    this.next?.control(control, at);
  }

  end(at: Parameters<Journal['end']>[0]): void {
    this.input('end', at.steps, () => undefined);
    this.next?.end(at);
  }

  close(at: Parameters<Journal['close']>[0]): void {
    this.input('close', at.steps, () => undefined);
    this.next?.close(at);
  }

  stepped(steps: number): void {
    this.compare((c) => c.at === 'step' && c.step === steps);
    this.next?.stepped(steps);
  }
}

/** A replay under way: its result, and a way to stop it. */
function runReplay(recording: Recording, options: ReplayOptions, onEvent: (e: TrainEvent) => void): { result: Promise<ReplayResult>; cancel(): void } {
  let cancelled = false;
  const result = (async (): Promise<ReplayResult> => {
    checkOptions(recording, options);
    const start = startOf(recording, options);
    const initial = start === undefined || (start === recording.checkpoints[0] && start.segmentStart && recording.segments[0]?.number === 1 && recording.header['fork'] === undefined);
    const until = options.until ?? Infinity;
    const verify = options.verify === true && options.at === undefined;
    /** The entry being replayed: where a difference is, in messages (made into text only for one). */
    let at: { readonly file: string; readonly offset: number } = { file: recording.path, offset: 0 };
    const where = (): string => `${at.file} at byte ${at.offset}`;
    let recorder: SessionRecorder | undefined;
    // the recorded kernels (or those asked for); threads never change a result, so 1 unless asked
    const config = { ...recording.config, kernels: replayKernels(recording, options.kernels), threads: options.threads ?? 1 };
    if (options.record) recorder = createRecorder(options.record.dir, config, { ...options.record, header: { ...options.record.header, fork: { from: recording.path, at: options.at ?? null } } });
    const verifier = verify ? new Verifier(buildNote(recording, config.kernels), where, recorder?.journal) : undefined;
    const journal = verifier ?? recorder?.journal;
    const gen = recording.entries();
    let trainer: Trainer | undefined;
    let started = false;
    let verified = 0;
    const emitFrom = options.emitFrom ?? 0;
    const pace = options.pace;
    /** A throw from `onEvent`: it stops the replay and rejects it. */
    let eventError: unknown;
    try {
      const build = (restore: TrainerCheckpoint | undefined): Trainer => {
        const t = createTrainer({
          ...config,
          queue: { capacity: recording.queueCapacity },
          manual: true,
          ...(journal === undefined ? {} : { journal }),
          ...(options.now === undefined ? {} : { now: options.now }),
          ...(restore === undefined ? {} : { restore: { ...restore, stepConfig: { ...restore.stepConfig, loss: config.loss } } }),
        });
        if (verifier) verifier.trainer = t;
        t.events$.subscribe({
          next: (ev) => {
            if (ev.step < emitFrom) return;
            try {
              onEvent(ev);
            } catch (err) {
              eventError ??= err;
              cancelled = true;
            }
          },
          error: () => undefined,
        });
        recorder?.attach(t);
        return t;
      };
      /** Trains up to `step` (never past `until`); true when it got there. Paced: one step at a time, each once `pace` lets it. */
      const reach = async (t: Trainer, step: number): Promise<boolean> => {
        const target = Math.min(step, until);
        if (pace === undefined) return t.runTo(target) === step;
        if (t.steps < emitFrom) t.runTo(Math.min(target, emitFrom));
        while (t.steps < target && !t.done && !cancelled) {
          const before = t.steps;
          const wait = pace(before + 1);
          if (wait) await wait;
          if (cancelled || t.runTo(before + 1) === before) break;
        }
        return t.steps === step;
      };
      for (;;) {
        if (cancelled) break;
        const n = await gen.next();
        if (n.done === true) break;
        const e: RecordingEntry = n.value;
        at = e;
        if (!started) {
          // skip to the start checkpoint
          if (start !== undefined && !(e.kind === 'checkpoint' && e.file === start.file && e.offset === start.offset)) continue;
          started = true;
          if (initial) {
            trainer = build(undefined);
            trainer.start();
          } else {
            trainer = build((e as RecordingEntry & { kind: 'checkpoint' }).record.state);
          }
          if (options.at !== undefined) {
            if (trainer.done || (e.kind === 'checkpoint' && e.record.state.ending)) {
              throw new RangeError(`Expected a fork at a step the session could still take inputs at, got at ${options.at}: the checkpoint it starts from (step ${trainer.steps}) is after the session was told to end; fork from an earlier step (--from)`);
            }
            if (trainer.steps === options.at) trainer.control({ action: 'set', ...options.change });
            else trainer.control({ action: 'set', ...options.change }, options.at);
          }
          continue;
        }
        const t = trainer!;
        if (e.kind === 'event') continue;
        if (e.kind === 'checkpoint') {
          if (verifier && e.record.step <= until) verifier.expectCheckpoint(e.record);
          continue;
        }
        const r = e.record;
        if (r.step > until || t.done) break;
        const reached = await reach(t, r.step);
        if (cancelled) break;
        if (verifier?.failure) throw verifier.failure;
        if (!reached) throw diverged(`Expected the replay to reach step ${r.step} for the ${r.type} record at ${where()}, got stuck at step ${t.steps}`);
        verifier?.expect(r);
        give(t, r, where);
        if (verifier?.failure) throw verifier.failure;
      }
      // what is left trains now (after an `end`: everything), and the last checkpoint is held against the end
      if (eventError !== undefined) throw eventError;
      if (trainer && !trainer.done && !cancelled) await reach(trainer, until === Infinity ? Number.MAX_SAFE_INTEGER : until);
      if (eventError !== undefined) throw eventError;
      if (verifier && trainer && (trainer.done || until !== Infinity)) verifier.compare((c) => c.at === 'end' || c.step === trainer!.steps);
      if (verifier?.failure) throw verifier.failure;
      verified = verifier?.verified ?? 0;
      const t = trainer;
      if (!t) throw new LivegradError('E_RECORD_CORRUPT', `${recording.path}: expected a checkpoint to start from, got none`);
      const snap = t.snapshot();
      return { session: recording.session, steps: t.steps, samples: t.samples, model: snap.model, optimizerState: snap.state, verified, ended: t.done ? recording.ended : null, startStep: start?.step ?? recording.firstStep, state: t.checkpoint(), kernels: config.kernels, threads: stepperThreads(config.kernels, config.threads) };
    } finally {
      await gen.return(undefined as never);
      if (recorder) await recorder.close();
    }
  })();
  return {
    result,
    cancel: () => {
      cancelled = true;
    },
  };
}

const nothing = (): void => undefined;

/** Gives one recorded input to the replay trainer. */
function give(t: Trainer, r: InputRecord, where: () => string): void {
  switch (r.type) {
    case 'samples': {
      // recorded once admitted: the replay must admit it too (the same checks, the same session)
      let refused: Error | undefined;
      t.offer(r.batch, { accepted: nothing, rejected: (e) => (refused = e), consumed: nothing }, { step: r.oneStep, tag: { producer: r.producer, seq: r.seq } });
      if (refused) throw diverged(`Expected the replay to admit the samples recorded at ${where()} (step ${r.step}), got ${refused.message}`);
      return;
    }
    case 'control':
      t.control(r.control, r.atStep ?? undefined);
      return;
    case 'end':
      t.end({ resume: r.resume });
      return;
    case 'close':
      t.close(r.reason);
      return;
  }
}
