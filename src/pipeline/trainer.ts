/**
 * The training engine behind `train()` and behind every server session: a bounded ingest
 * queue, the fused step (the same core functions that forward/loss/delta/update wrap),
 * controls at batch boundaries, the numerical guard, and the event stream.
 *
 *   push(chunk) → validate → re-batch → queue (block | dropOldest | error) → drain → step → events$
 *
 * The drain trains queued batches until `sliceMs` has passed, then yields to the event loop
 * (setImmediate) so sockets stay served: the loop is never blocked for longer than one slice
 * or one batch, whichever is longer.
 */
import { Observable, type Subscriber } from 'rxjs';
import { LivegradError, describe } from '../errors.js';
import { isLossName, LOSSES, type LossName, type Targets } from '../nn/losses.js';
import { cloneModel, mlp, mlpShape, outputSize, predict, type Mlp, type MlpShape, type MlpSpec } from '../nn/mlp.js';
import { checkOptimizer, type Optimizer, type OptimizerState } from '../nn/optimizers.js';
import { checkBatch, checkBatchRows, type Batch } from '../nn/batch.js';
import {
  checkOptimizerState,
  checkStepConfig,
  cloneOptimizerState,
  createStepper,
  createWorkspace,
  forwardInto,
  lossInto,
  type StepConfig,
  type Stepper,
} from '../nn/step.js';
import type { FloatArray, Tensor } from '../nn/tensor.js';
import { checkControl, type Control, type HyperParams } from './controls.js';
import type { LayerTensors, LifecycleState, TrainEvent } from './events.js';
import { actualClass, countCorrect, predictedClass, RunningWindow } from './metrics.js';
import { checkSize, Rebatcher } from './rebatch.js';

export interface EventRates {
  /** A `metrics` event every this many steps (0: never). Default 10. */
  readonly metricsEvery: number;
  /** Steps in the running-loss / accuracy window. Default 100. */
  readonly metricsWindow: number;
  /** A full `weights` snapshot every this many steps (0: only on demand). Default 100. */
  readonly weightsEvery: number;
  /** A `gradients` event (per-layer norms) every this many steps (0: never). Default 10. */
  readonly gradientsEvery: number;
  /** Include full gradient tensors in `gradients` events. Default false. */
  readonly gradientTensors: boolean;
  /** An `eval` event on `evalSet` every this many steps (0: never). Default 100 when an evalSet is given. */
  readonly evalEvery: number;
}

export const DEFAULT_EVENT_RATES: EventRates = {
  metricsEvery: 10,
  metricsWindow: 100,
  weightsEvery: 100,
  gradientsEvery: 10,
  gradientTensors: false,
  evalEvery: 100,
};

export type QueuePolicy = 'block' | 'dropOldest' | 'error';
export type NonFinitePolicy = 'skip' | 'pause' | 'fail';

export interface TrainConfig {
  /** Name stamped on every event. Default "default". */
  readonly session?: string;
  /** A spec (initialised from its seed) or an existing model (copied: the caller's stays untouched). */
  readonly model: Mlp | MlpSpec;
  readonly loss: LossName;
  readonly optimizer: Optimizer;
  /** Clip gradients to this global norm. */
  readonly clipNorm?: number;
  /** Rows per training batch; incoming chunks of any size are re-batched. Default 32. */
  readonly batchSize?: number;
  readonly events?: Partial<EventRates>;
  /** Holdout set for `eval` events. */
  readonly evalSet?: Batch;
  /** What a batch with a non-finite loss or gradient does: skip it (default), pause, or fail the session. */
  readonly onNonFinite?: NonFinitePolicy;
  /** Bounded ingest queue, in batches. Default capacity 8, policy `block`. NOTE: a deep queue costs speed: batches that wait long leave the cache and survive into the old generation (W2 through train() ran ~15 % slower with 64 than with 8). */
  readonly queue?: { readonly capacity?: number; readonly policy?: QueuePolicy };
  /** Longest the drain trains before yielding to the event loop, ms. Default 4. `Infinity`: train synchronously inside push(). */
  readonly sliceMs?: number;
  /** Resume: optimizer state, and the step and sample counters to continue from. */
  readonly optimizerState?: OptimizerState;
  readonly startStep?: number;
  readonly startSamples?: number;
  /** Clock for event times, ms since the epoch. Default performance.timeOrigin + performance.now(). */
  readonly now?: () => number;
}

/** Called once the rows of a pushed chunk have all been trained (`step`), or dropped by the queue (`step` undefined). */
export type ConsumedCallback = (step: number | undefined) => void;

export interface Trainer {
  readonly session: string;
  /** Hot stream of events; completes when the session completes, errors when it fails. */
  readonly events$: Observable<TrainEvent>;
  /** The live model (read only: it changes after every step). */
  readonly model: Mlp;
  readonly optimizerState: OptimizerState;
  readonly config: StepConfig;
  readonly batchSize: number;
  /** Steps taken so far. */
  readonly steps: number;
  readonly samples: number;
  readonly paused: boolean;
  readonly queueDepth: number;
  readonly dropped: number;
  readonly done: boolean;
  /** Emits `lifecycle: started`. Called by push() if not called before. */
  start(): void;
  /** Validates and enqueues a chunk. Throws LivegradError (E_SHAPE, E_NON_FINITE, E_LABEL_RANGE, E_QUEUE_FULL, E_SESSION_CLOSED). */
  push(chunk: Batch, onConsumed?: ConsumedCallback): void;
  /**
   * Validates and applies a control at the next batch boundary (or once `steps` reaches `atStep`).
   * Called from an events$ handler while a step is being reported, it waits for the end of that step.
   * Throws LivegradError E_BAD_CONTROL.
   */
  control(control: Control | unknown, atStep?: number): void;
  /** Inference on the current weights. */
  predict(x: Tensor): { output: Tensor; step: number };
  /** Copies of the current weights and optimizer state. */
  snapshot(): { model: Mlp; state: OptimizerState; step: number; samples: number };
  /** Emits an `error` event that did not stop training. */
  report(code: string, message: string): void;
  /** Fail the session now: `lifecycle: failed`, then events$ errors with `err`. */
  abort(err: unknown): void;
  /** No more input: train what is queued (and the remainder of the re-batcher), then complete. */
  end(): void;
  /** Stop now: drop the queue, emit `completed` (reason "closed") and complete. */
  close(reason?: string): void;
}

function isSpec(m: Mlp | MlpSpec): m is MlpSpec {
  return !('dtype' in m && Array.isArray((m as Mlp).layers) && (m as Mlp).layers.every((l) => l !== null && typeof l === 'object' && 'w' in l));
}

function positiveInt(v: unknown, what: string, allowZero = false): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < (allowZero ? 0 : 1)) {
    throw new RangeError(`Expected ${what} to be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${describe(v)}`);
  }
  return v;
}

interface Queued {
  readonly batch: Batch;
  readonly m: number;
  readonly endRow: number;
}

interface Ticket {
  readonly endRow: number;
  readonly cb: ConsumedCallback;
}

/** Copies of per-layer [nin, nout] and [nout] arrays (weights, or gradients) as tensors. */
function tensorsOf(model: Mlp, w: readonly FloatArray[], b: readonly FloatArray[]): LayerTensors[] {
  return model.layers.map((l, i) => ({
    w: { dtype: model.dtype, shape: [l.nin, l.nout], data: w[i]!.slice() },
    b: { dtype: model.dtype, shape: [l.nout], data: b[i]!.slice() },
  }));
}

/** A TrainConfig as checkTrainConfig found it: its values with their defaults, and the model's shape. */
export interface CheckedTrainConfig {
  readonly session: string;
  /** The model's dtype, sizes and activations (a spec's, before any weight exists). */
  readonly shape: MlpShape;
  readonly loss: LossName;
  readonly stepConfig: StepConfig;
  readonly rates: EventRates;
  readonly queue: { readonly capacity: number; readonly policy: QueuePolicy };
  readonly onNonFinite: NonFinitePolicy;
  readonly sliceMs: number;
  /** The eval set's rows and targets, when there is one. */
  readonly evalSet: { readonly m: number; readonly targets: Targets } | undefined;
  readonly batchSize: number;
  readonly startStep: number;
  readonly startSamples: number;
}

/**
 * Checks a config as createTrainer does, with the same errors, without building anything: a spec
 * is checked and described, not initialised (for a model of millions of parameters that is the
 * difference between microseconds and a fraction of a second). For a caller that builds the
 * trainer elsewhere (the server's training thread) and must refuse a bad config at once.
 */
export function checkTrainConfig(config: TrainConfig): CheckedTrainConfig {
  if (typeof config !== 'object' || config === null) throw new TypeError(`Expected a train config object, got ${describe(config)}`);
  const session = config.session ?? 'default';
  if (typeof session !== 'string' || session.length === 0) throw new TypeError(`Expected session to be a non-empty string, got ${describe(session)}`);
  if (!isLossName(config.loss)) throw new TypeError(`Expected loss one of ${LOSSES.join(', ')}, got ${describe(config.loss)}`);
  if (config.model === null || typeof config.model !== 'object') throw new TypeError(`Expected model to be an MLP or an MLP spec, got ${describe(config.model)}`);
  const shape: MlpShape = isSpec(config.model) ? mlpShape(config.model) : config.model;
  const stepConfig: StepConfig = { loss: config.loss, optimizer: checkOptimizer(config.optimizer), ...(config.clipNorm === undefined ? {} : { clipNorm: config.clipNorm }) };
  checkStepConfig(shape, stepConfig);
  if (config.optimizerState) checkOptimizerState(shape, stepConfig.optimizer, config.optimizerState);
  const rates: EventRates = { ...DEFAULT_EVENT_RATES, ...config.events };
  for (const key of ['metricsEvery', 'weightsEvery', 'gradientsEvery', 'evalEvery'] as const) positiveInt(rates[key], `events.${key}`, true);
  positiveInt(rates.metricsWindow, 'events.metricsWindow');
  const capacity = positiveInt(config.queue?.capacity ?? 8, 'queue.capacity');
  const policy = config.queue?.policy ?? 'block';
  if (policy !== 'block' && policy !== 'dropOldest' && policy !== 'error') throw new TypeError(`Expected queue.policy "block", "dropOldest" or "error", got ${describe(policy)}`);
  const onNonFinite = config.onNonFinite ?? 'skip';
  if (onNonFinite !== 'skip' && onNonFinite !== 'pause' && onNonFinite !== 'fail') throw new TypeError(`Expected onNonFinite "skip", "pause" or "fail", got ${describe(onNonFinite)}`);
  const sliceMs = config.sliceMs ?? 4;
  if (typeof sliceMs !== 'number' || !(sliceMs >= 0)) throw new RangeError(`Expected sliceMs to be a number ≥ 0, got ${describe(sliceMs)}`);
  const evalSet = config.evalSet ? checkBatch(shape, config.evalSet) : undefined;
  const batchSize = checkSize(config.batchSize ?? 32);
  const startStep = positiveInt(config.startStep ?? 0, 'startStep', true);
  const startSamples = positiveInt(config.startSamples ?? 0, 'startSamples', true);
  return { session, shape, loss: config.loss, stepConfig, rates, queue: { capacity, policy }, onNonFinite, sliceMs, evalSet, batchSize, startStep, startSamples };
}

export function createTrainer(config: TrainConfig): Trainer {
  const checked = checkTrainConfig(config);
  const { session, rates, onNonFinite, sliceMs, evalSet } = checked;
  const { capacity, policy } = checked.queue;
  const initial = isSpec(config.model) ? mlp(config.model) : cloneModel(config.model);
  const model = cloneModel(initial);
  let stepConfig: StepConfig = checked.stepConfig;
  // NOTE: the global `performance` is a getter in Node: read once, not on every step
  const clock = performance;
  const origin = clock.timeOrigin;
  const now = config.now ?? (() => origin + clock.now());
  const evalWs = evalSet ? createWorkspace(model, evalSet.m) : undefined;
  const nout = outputSize(model);
  const classification = config.loss === 'crossEntropy' || config.loss === 'bce';

  const stepper: Stepper = createStepper(model, stepConfig, config.optimizerState ? cloneOptimizerState(config.optimizerState) : undefined, checked.batchSize);
  const rebatcher = new Rebatcher(checked.batchSize);
  const window = new RunningWindow(rates.metricsWindow);
  /**
   * Who listens to events$. NOTE: a list rather than a Subject, which costs a closure and an
   * iterator on every event. As with a Subject: the list is replaced, not changed in place, so an
   * event goes to those who were subscribed when its emit began; once done, a subscriber gets the
   * ending (complete, or the error) at once.
   */
  let observers: readonly Subscriber<TrainEvent>[] = [];
  let failure: { readonly err: unknown } | undefined;
  const events$ = new Observable<TrainEvent>(function subscribeToEvents(subscriber) {
    if (done) {
      if (failure) subscriber.error(failure.err);
      else subscriber.complete();
      return undefined;
    }
    observers = [...observers, subscriber];
    return function unsubscribeFromEvents() {
      observers = observers.filter((o) => o !== subscriber);
    };
  });
  const queue: Queued[] = [];
  const tickets: Ticket[] = [];
  const pendingControls: { atStep: number; control: Control }[] = [];
  let steps = checked.startStep;
  let samples = checked.startSamples;
  let rowsIn = 0; // rows accepted by push()
  let batchEnd = 0; // rows handed to the queue (rowsIn minus what the re-batcher holds)
  let dropped = 0;
  let paused = false;
  let singleSteps = 0;
  let started = false;
  let ending = false;
  let done = false;
  let draining = false;
  let inStep = false;
  let scheduled: ReturnType<typeof setImmediate> | undefined;

  /** The targets view of the batch in training, reused from step to step. */
  const targets: { labels: boolean; data: Targets['data'] } = { labels: false, data: new Float32Array(0) };
  const emit = (e: TrainEvent): void => {
    if (done) return;
    const os = observers;
    for (let i = 0; i < os.length; i++) os[i]!.next(e);
  };
  const stamp = () => ({ session, step: steps, time: now() });
  const lifecycle = (state: LifecycleState, reason?: string): void => emit({ type: 'lifecycle', ...stamp(), state, reason });

  function weightsEvent(): void {
    emit({ type: 'weights', ...stamp(), layers: tensorsOf(model, model.layers.map((l) => l.w), model.layers.map((l) => l.b)) });
  }

  function evalEvent(): void {
    if (!evalSet || !evalWs) return;
    const out = forwardInto(model, evalWs, config.evalSet!.x.data, evalSet.m);
    const loss = lossInto(model, evalWs, config.loss, evalSet.targets, evalSet.m);
    let accuracy: number | undefined;
    let confusion: number[][] | undefined;
    if (classification) {
      const k = nout === 1 ? 2 : nout;
      confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
      let correct = 0;
      for (let i = 0; i < evalSet.m; i++) {
        const p = predictedClass(out, i, nout), a = actualClass(evalSet.targets, i, nout);
        confusion[a]![p]!++;
        if (p === a) correct++;
      }
      accuracy = correct / evalSet.m;
    }
    emit({ type: 'eval', ...stamp(), loss, samples: evalSet.m, accuracy, confusion });
  }

  function settleTickets(upToRow: number, step: number | undefined): void {
    while (tickets.length > 0 && tickets[0]!.endRow <= upToRow) tickets.shift()!.cb(step);
  }

  function trainOne(q: Queued): void {
    inStep = true;
    try {
      trainAndReport(q);
    } finally {
      inStep = false;
    }
  }

  /** One step and all of its events; controls that event handlers send meanwhile wait for the boundary after it. */
  function trainAndReport(q: Queued): void {
    const m = q.m;
    targets.labels = q.batch.y.shape.length === 1;
    targets.data = q.batch.y.data;
    const t0 = clock.now();
    const info = stepper.step(q.batch.x.data, targets, m);
    const t1 = clock.now();
    const durationMs = t1 - t0;
    steps++;
    samples += m;
    const gradNorms = new Array<number>(info.gradNorms.length);
    for (let i = 0; i < gradNorms.length; i++) gradNorms[i] = info.gradNorms[i]!;
    // NOTE: the stamp written out, not spread from stamp(): this event is built every step
    emit({
      type: 'step',
      session,
      step: steps,
      time: config.now ? config.now() : origin + t1,
      loss: info.loss,
      batchSize: m,
      samples,
      lr: info.lr,
      gradNorms,
      durationMs,
      applied: info.applied,
      queueDepth: queue.length,
      dropped,
    });
    settleTickets(q.endRow, steps);
    if (!info.applied) {
      const message = `Step ${steps} not applied: ${info.skipReason} (loss ${info.loss}, gradient norm ${info.gradNorm})`;
      emit({ type: 'error', ...stamp(), code: 'E_NON_FINITE', message });
      if (onNonFinite === 'pause') {
        paused = true;
        lifecycle('paused', message);
      } else if (onNonFinite === 'fail') {
        fail(new LivegradError('E_NON_FINITE', message));
      }
      return;
    }
    const correct = classification ? countCorrect(stepper.workspace.a[model.layers.length - 1]!, targets, m, nout) : 0;
    window.add(info.loss, correct, m);
    if (rates.metricsEvery > 0 && steps % rates.metricsEvery === 0) {
      emit({ type: 'metrics', ...stamp(), runningLoss: window.meanLoss, accuracy: classification ? window.accuracy : undefined, window: rates.metricsWindow, samples });
    }
    if (rates.gradientsEvery > 0 && steps % rates.gradientsEvery === 0) {
      const ws = stepper.workspace;
      emit({ type: 'gradients', ...stamp(), norms: gradNorms, layers: rates.gradientTensors ? tensorsOf(model, ws.dW, ws.db) : undefined });
    }
    if (rates.weightsEvery > 0 && steps % rates.weightsEvery === 0) weightsEvent();
    if (evalSet && rates.evalEvery > 0 && steps % rates.evalEvery === 0) evalEvent();
  }

  /** The optimizer a `set` control makes of the current one. Throws LivegradError E_BAD_CONTROL. */
  function nextOptimizer(c: HyperParams): Optimizer {
    const opt = stepConfig.optimizer;
    if (c.momentum !== undefined && opt.kind !== 'sgd') throw new LivegradError('E_BAD_CONTROL', `Expected momentum only for sgd, got it for ${opt.kind}`);
    const next = { ...opt, ...(c.lr === undefined ? {} : { lr: c.lr }), ...(c.momentum === undefined ? {} : { momentum: c.momentum }), ...(c.weightDecay === undefined ? {} : { weightDecay: c.weightDecay }) };
    try {
      return checkOptimizer(next);
    } catch (e) {
      throw new LivegradError('E_BAD_CONTROL', (e as Error).message, { cause: e });
    }
  }

  function applyControl(c: Control): void {
    switch (c.action) {
      case 'pause':
        if (!paused) {
          paused = true;
          lifecycle('paused');
        }
        break;
      case 'resume':
        if (paused) {
          paused = false;
          singleSteps = 0;
          lifecycle('resumed');
        }
        break;
      case 'step':
        if (paused) singleSteps++;
        break;
      case 'reset': {
        model.layers.forEach((l, i) => {
          l.w.set(initial.layers[i]!.w);
          l.b.set(initial.layers[i]!.b);
        });
        const st = stepper.state;
        st.t = 0;
        st.hasMomentum = false;
        for (const bs of st.buffers) for (const b of bs) b.fill(0);
        window.reset();
        lifecycle('reset');
        break;
      }
      case 'set': {
        const optimizer = nextOptimizer(c);
        const { clipNorm: _old, ...rest } = stepConfig;
        const clipNorm = c.clipNorm === undefined ? stepConfig.clipNorm : c.clipNorm ?? undefined;
        stepConfig = { ...rest, optimizer, ...(clipNorm === undefined ? {} : { clipNorm }) };
        stepper.config = stepConfig;
        if (c.batchSize !== undefined) rebatcher.setBatchSize(c.batchSize);
        break;
      }
      case 'snapshot':
        weightsEvent();
        break;
    }
    emit({ type: 'control', ...stamp(), control: c });
  }

  function applyDueControls(): void {
    while (pendingControls.length > 0 && pendingControls[0]!.atStep <= steps) applyControl(pendingControls.shift()!.control);
  }

  function canTrain(): boolean {
    return queue.length > 0 && (!paused || singleSteps > 0);
  }

  function trainNext(): void {
    if (paused) singleSteps--;
    const q = queue.shift()!;
    trainOne(q);
    rebatcher.recycle(q.batch);
    applyDueControls();
  }

  function drain(): void {
    scheduled = undefined;
    if (draining || done) return;
    draining = true;
    try {
      applyDueControls();
      const start = clock.now();
      while (canTrain() && !done) {
        trainNext();
        if (canTrain() && clock.now() - start >= sliceMs) {
          schedule();
          break;
        }
      }
      if (ending && queue.length === 0 && !done) finish();
    } catch (e) {
      fail(e);
    } finally {
      draining = false;
    }
  }

  function schedule(): void {
    if (scheduled === undefined && !done) scheduled = setImmediate(drain);
  }

  function kick(): void {
    if (sliceMs === Infinity) drain();
    else schedule();
  }

  /** Ends events$ (after `done` is set): every subscriber gets complete, or with `failed` the error. */
  function endEvents(failed?: { readonly err: unknown }): void {
    failure = failed;
    const os = observers;
    observers = [];
    for (const o of os) {
      if (failed) o.error(failed.err);
      else o.complete();
    }
  }

  function finish(): void {
    lifecycle('completed');
    done = true;
    endEvents();
  }

  function fail(e: unknown): void {
    if (done) return;
    lifecycle('failed', e instanceof Error ? e.message : String(e));
    done = true;
    if (scheduled !== undefined) clearImmediate(scheduled);
    endEvents({ err: e });
  }

  /** `last`: the remainder flushed by end(), let in over capacity rather than thrown away. */
  function enqueue(batch: Batch, last = false): void {
    const m = batch.x.shape[0]!;
    if (queue.length >= capacity) {
      if (policy === 'dropOldest') {
        const old = queue.shift()!;
        dropped++;
        settleTickets(old.endRow, undefined);
      } else if (policy === 'block' && !paused && !draining) {
        // block: the producer waits inside push() while one batch trains to make room
        draining = true;
        try {
          trainNext();
        } finally {
          draining = false;
        }
      } else if (!last) {
        throw new LivegradError('E_QUEUE_FULL', `Expected room in the ingest queue (capacity ${capacity} batches), got a full queue${paused ? ' while paused' : ''}`);
      }
    }
    queue.push({ batch, m, endRow: batchEnd += m });
  }
  const trainer: Trainer = {
    session,
    events$,
    model,
    get optimizerState() {
      return stepper.state;
    },
    get config() {
      return stepConfig;
    },
    get batchSize() {
      return rebatcher.batchSize;
    },
    get steps() {
      return steps;
    },
    get samples() {
      return samples;
    },
    get paused() {
      return paused;
    },
    get queueDepth() {
      return queue.length;
    },
    get dropped() {
      return dropped;
    },
    get done() {
      return done;
    },
    start() {
      if (started) return;
      started = true;
      lifecycle('started');
    },
    push(chunk, onConsumed) {
      if (done || ending) throw new LivegradError('E_SESSION_CLOSED', `Expected an open session, got ${done ? 'a finished' : 'an ending'} session "${session}"`);
      trainer.start();
      const m = checkBatchRows(model, chunk);
      rebatcher.check(chunk);
      // refuse the chunk before taking any of its rows: batches it would complete that find no room
      const completes = Math.floor((rebatcher.pending + m) / rebatcher.batchSize);
      const canMakeRoom = policy === 'dropOldest' || (policy === 'block' && !paused && !draining);
      if (!canMakeRoom && queue.length + completes > capacity) {
        throw new LivegradError('E_QUEUE_FULL', `Expected room in the ingest queue (capacity ${capacity} batches), got a full queue${paused ? ' while paused' : ''}`);
      }
      rowsIn += m;
      if (onConsumed) tickets.push({ endRow: rowsIn, cb: onConsumed });
      rebatcher.push(chunk, enqueue);
      kick();
    },
    control(value, atStep) {
      let c: Control;
      try {
        c = checkControl(value);
      } catch (e) {
        throw new LivegradError('E_BAD_CONTROL', (e as Error).message, { cause: e });
      }
      // refuse now what applyControl would refuse later, inside a drain, where it would fail the session
      if (c.action === 'set') nextOptimizer(c);
      if (atStep !== undefined || inStep) {
        if (atStep !== undefined) positiveInt(atStep, 'atStep', true);
        pendingControls.push({ atStep: atStep ?? steps, control: c });
        pendingControls.sort((a, b) => a.atStep - b.atStep);
        if (!draining) applyDueControls();
      } else {
        applyControl(c);
      }
      if (!done) kick();
    },
    predict(x) {
      return { output: predict(model, x), step: steps };
    },
    snapshot() {
      return { model: cloneModel(model), state: cloneOptimizerState(stepper.state), step: steps, samples };
    },
    report(code, message) {
      emit({ type: 'error', ...stamp(), code, message });
    },
    abort(err) {
      fail(err);
    },
    end() {
      if (done || ending) return;
      ending = true;
      rebatcher.flush((b) => enqueue(b, true));
      kick();
    },
    close(reason = 'closed') {
      if (done) return;
      if (scheduled !== undefined) clearImmediate(scheduled);
      queue.length = 0;
      lifecycle('completed', reason);
      done = true;
      endEvents();
    },
  };
  return trainer;
}
