/**
 * A trainer's configuration: what `createTrainer()` / `train()` take, its defaults, and the one
 * check of it (`checkTrainConfig`), which builds nothing, so that a caller that builds the
 * trainer elsewhere (a server session's thread) can refuse a bad config at once.
 */
import { describe, LivegradError } from '../../errors.js';
import { checkBatch, checkBatchRows, type Batch } from '../../nn/batch.js';
import { checkControl } from '../controls.js';
import { isLossName, LOSSES, type LossName, type Targets } from '../../nn/losses.js';
import { mlpShape, type Mlp, type MlpShape, type MlpSpec } from '../../nn/mlp.js';
import { checkOptimizer, type Optimizer, type OptimizerState } from '../../nn/optimizers.js';
import { checkOptimizerState, checkStepConfig, checkThreads, resolveKernels, type KernelChoice, type StepConfig } from '../../nn/step.js';
import { checkSize } from '../rebatch.js';
import { MAX_BATCH_SIZE, MAX_START_COUNT } from '../limits.js';
import type { TrainerCheckpoint } from './checkpoint.js';
import type { Journal } from './journal.js';

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

/** What `push()` does with a chunk that finds no room: train to make room (block), drop the oldest batches, or refuse it. (`offer()` always waits its turn.) */
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
  /** Rows per training batch; incoming chunks of any size are re-batched. Default 32, at most 65,536. */
  readonly batchSize?: number;
  readonly events?: Partial<EventRates>;
  /** Holdout set for `eval` events. */
  readonly evalSet?: Batch;
  /** What a batch with a non-finite loss or gradient does: skip it (default), pause, or fail the session. */
  readonly onNonFinite?: NonFinitePolicy;
  /**
   * Room for accepted rows not yet trained: `capacity` batches of `batchSize` rows (rows held back
   * for a partial batch count). Default capacity 8, policy `block`. NOTE: a deep queue costs speed:
   * batches that wait long leave the cache and survive into the old generation (W2 through train()
   * ran ~15 % slower with 64 than with 8).
   */
  readonly queue?: { readonly capacity?: number; readonly policy?: QueuePolicy };
  /** Longest the drain trains before yielding to the event loop, ms. Default 4. `Infinity`: train synchronously inside push(). */
  readonly sliceMs?: number;
  /** Resume: optimizer state, and the step and sample counters to continue from (each at most 2^50). */
  readonly optimizerState?: OptimizerState;
  readonly startStep?: number;
  readonly startSamples?: number;
  /** Clock for event times, ms since the epoch. Default performance.timeOrigin + performance.now(). */
  readonly now?: () => number;
  /** Told of every input as it enters the order, and of every step (a recorder: src/record/). */
  readonly journal?: Journal;
  /**
   * Continue from a checkpoint (`Trainer.checkpoint()` of a trainer of this same config): its
   * weights, optimizer state and hyperparameters, counters, queue and metrics window. Overrides
   * `optimizerState`, `startStep`, `startSamples` and `batchSize`.
   */
  readonly restore?: TrainerCheckpoint;
  /**
   * Train only inside `runTo()`: given work takes effect as far as it can without training. What a
   * replay uses to give each input at the step it was given live. Default false.
   */
  readonly manual?: boolean;
  /**
   * The step's kernels (`StepperOptions.kernels`): `auto` (default: `wasm` for a float32 model where
   * the runtime runs them, else `js`), `wasm` or `js`. A recording states the choice it resolved to,
   * and a replay uses it (the two kernels agree within float32 tolerance, not bit for bit).
   */
  readonly kernels?: KernelChoice | 'auto';
  /** Threads for the `wasm` kernels (`StepperOptions.threads`): 1 or 2. Never changes a result. */
  readonly threads?: number;
}

export function isSpec(m: Mlp | MlpSpec): m is MlpSpec {
  return !('dtype' in m && Array.isArray((m as Mlp).layers) && (m as Mlp).layers.every((l) => l !== null && typeof l === 'object' && 'w' in l));
}

function integer(v: unknown, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`Expected ${what} to be an integer in [${min}, ${max}], got ${describe(v)}`);
  }
  return v;
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
  /** The kernels `kernels` resolved to here. */
  readonly kernels: KernelChoice;
  /** `threads` as given (undefined: the stepper's default). */
  readonly threads: number | undefined;
}

/**
 * Checks a config as createTrainer does, with the same errors, without building anything: a spec
 * is checked and described, not initialised (for a model of millions of parameters that is the
 * difference between microseconds and a fraction of a second).
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
  for (const key of ['metricsEvery', 'weightsEvery', 'gradientsEvery', 'evalEvery'] as const) integer(rates[key], `events.${key}`, 0);
  integer(rates.metricsWindow, 'events.metricsWindow', 1);
  const capacity = integer(config.queue?.capacity ?? 8, 'queue.capacity', 1);
  const policy = config.queue?.policy ?? 'block';
  if (policy !== 'block' && policy !== 'dropOldest' && policy !== 'error') throw new TypeError(`Expected queue.policy "block", "dropOldest" or "error", got ${describe(policy)}`);
  const onNonFinite = config.onNonFinite ?? 'skip';
  if (onNonFinite !== 'skip' && onNonFinite !== 'pause' && onNonFinite !== 'fail') throw new TypeError(`Expected onNonFinite "skip", "pause" or "fail", got ${describe(onNonFinite)}`);
  const sliceMs = config.sliceMs ?? 4;
  if (typeof sliceMs !== 'number' || !(sliceMs >= 0)) throw new RangeError(`Expected sliceMs to be a number ≥ 0, got ${describe(sliceMs)}`);
  const evalSet = config.evalSet ? checkBatch(shape, config.evalSet) : undefined;
  const batchSize = checkSize(config.batchSize ?? 32);
  if (batchSize > MAX_BATCH_SIZE) throw new RangeError(`Expected batchSize at most ${MAX_BATCH_SIZE}, got ${batchSize}`);
  const startStep = integer(config.startStep ?? 0, 'startStep', 0, MAX_START_COUNT);
  const startSamples = integer(config.startSamples ?? 0, 'startSamples', 0, MAX_START_COUNT);
  const kernels = resolveKernels(shape, config.kernels);
  const threads = checkThreads(config.threads);
  const checked = { session, shape, loss: config.loss, stepConfig, rates, queue: { capacity, policy }, onNonFinite, sliceMs, evalSet, batchSize, startStep, startSamples, kernels, threads };
  return config.restore === undefined ? checked : checkRestore(checked, config.restore);
}

/** The config as a checkpoint continues it; throws LivegradError E_BAD_STATE for a checkpoint that does not fit the model or the config. */
function checkRestore(c: CheckedTrainConfig, cp: TrainerCheckpoint): CheckedTrainConfig {
  const bad = (what: string): never => {
    throw new LivegradError('E_BAD_STATE', `Expected a checkpoint of this session's model and config, got ${what}`);
  };
  if (cp.layers.length !== c.shape.layers.length) bad(`${cp.layers.length} layers for a model of ${c.shape.layers.length}`);
  const type = c.shape.dtype === 'float64' ? Float64Array : Float32Array;
  c.shape.layers.forEach((l, i) => {
    const w = cp.layers[i]!.w, b = cp.layers[i]!.b;
    if (!(w instanceof type) || w.length !== l.nin * l.nout || !(b instanceof type) || b.length !== l.nout) bad(`layer ${i} of other sizes or dtype`);
  });
  if (cp.stepConfig.loss !== c.loss) bad(`loss ${describe(cp.stepConfig.loss)} for a session of ${c.loss}`);
  let stepConfig: StepConfig;
  try {
    stepConfig = { ...cp.stepConfig, optimizer: checkOptimizer(cp.stepConfig.optimizer) };
    checkStepConfig(c.shape, stepConfig);
    checkOptimizerState(c.shape, stepConfig.optimizer, cp.optimizerState);
  } catch (e) {
    if (e instanceof LivegradError) throw e;
    throw new LivegradError('E_BAD_STATE', `Expected a checkpoint of this session's config, got ${(e as Error).message}`, { cause: e });
  }
  const count = (v: number, what: string): number => (Number.isInteger(v) && v >= 0 && v <= MAX_START_COUNT ? v : bad(`${what} ${describe(v)}`));
  count(cp.steps, 'steps');
  count(cp.samples, 'samples');
  count(cp.dropped, 'dropped');
  count(cp.singleSteps, 'singleSteps');
  if (!Number.isInteger(cp.batchSize) || cp.batchSize < 1 || cp.batchSize > MAX_BATCH_SIZE) bad(`batchSize ${describe(cp.batchSize)}`);
  const w = cp.window, n = c.rates.metricsWindow;
  if (w.loss.length !== n || w.correct.length !== n || w.rows.length !== n) bad(`a metrics window of ${w.loss.length} steps for events.metricsWindow ${n}`);
  if (!Number.isInteger(w.next) || w.next < 0 || w.next >= n || !Number.isInteger(w.filled) || w.filled < 0 || w.filled > n) bad(`a metrics window at ${describe(w.next)} with ${describe(w.filled)} filled, of ${n} steps`);
  const rows = (b: Batch, what: string): void => {
    try {
      checkBatchRows(c.shape, b);
    } catch (e) {
      bad(`${what}: ${(e as Error).message}`);
    }
    if (cp.labels !== undefined && (b.y.shape.length === 1) !== cp.labels) bad(`${what} with y of the other layout`);
  };
  cp.queue.forEach((e, i) => (e.kind === 'batch' ? rows(e.batch, `queue[${i}]`) : checkControl(e.control)));
  if (cp.held) rows(cp.held, 'held rows');
  for (const s of cp.scheduled) {
    // (one due at this very step is allowed: a checkpoint right after a step comes before what follows it takes effect)
    if (!Number.isInteger(s.atStep) || s.atStep < cp.steps) bad(`a control scheduled for step ${describe(s.atStep)} at step ${cp.steps}`);
    checkControl(s.control);
  }
  return { ...c, stepConfig, batchSize: cp.batchSize, startStep: cp.steps, startSamples: cp.samples };
}
