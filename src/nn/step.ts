/**
 * One training step: forward, loss, backpropagation, update.
 *
 * For the tutorial's network the step reads as its five lines:
 *
 *   forward   a1 = f(x·W1 + b1);  out = f(a1·W2 + b2)          forwardInto
 *   loss      error = out - y;  delta2 = error ⊙ out(1 - out)     lossAndDelta (sse)
 *   delta     delta1 = delta2 · W2ᵀ ⊙ a1(1 - a1)                  backwardInto
 *   update    W -= lr · aᵀ·delta;  b -= lr · Σ delta              applyOptimizer (sgd)
 *
 * Two ways in, one set of kernels, so both give the same bits:
 * - `createStepper()` trains a model in place in preallocated buffers (the fast path:
 *   no allocation per step once the buffers have grown to the largest batch);
 * - `step()` is the pure transition (model, optimizerState, batch) → (model', optimizerState', info),
 *   which copies the model and state and then runs the same code.
 */
import { LivegradError } from '../errors.js';
import { activate, activateBackward } from './activations.js';
import { matmul, matmulTA, matmulTB, scale, sumRows } from './kernels.js';
import { lossAndDeltaInto, requiredActivation, type LossName, type Targets } from './losses.js';
import { cloneModel, type Mlp, type MlpShape } from './mlp.js';
import { admitUpdate, clipFactor } from './admit.js';
import { optimizerStep, initOptimizerState, type Optimizer, type OptimizerState } from './optimizers.js';
import { allocate, type FloatArray } from './tensor.js';
import { checkBatch, type Batch } from './batch.js';
import { describe } from '../errors.js';
import { kernelModule } from './wasm/module.js';
import { defaultThreads } from './wasm/pool.js';
import { createWasmStep, pureWasmStep } from './wasm/stepper.js';

/** What the update needs of a step config: the optimizer and the clipping. */
export type UpdateConfig = Pick<StepConfig, 'optimizer' | 'clipNorm'>;

export interface StepConfig {
  readonly loss: LossName;
  readonly optimizer: Optimizer;
  /** Clip gradients to this global L2 norm (PyTorch `clip_grad_norm_`, eps 1e-6). Off when absent. */
  readonly clipNorm?: number;
}

export type SkipReason = 'non-finite loss' | 'non-finite gradients';

export interface StepInfo {
  /** Loss of the batch before the update. */
  loss: number;
  batchSize: number;
  /** L2 norm of each layer's gradient (weights and bias together), before clipping. */
  readonly gradNorms: Float64Array;
  /** Global L2 norm over all layers, before clipping. */
  gradNorm: number;
  /** Learning rate the update used (or would have used, when skipped). */
  lr: number;
  /** False when the batch was not applied because its loss or gradients were not finite. */
  applied: boolean;
  skipReason: SkipReason | undefined;
}

/** Buffers for one model, sized for up to `rows` samples per batch. */
export interface Workspace {
  rows: number;
  /** Per layer: pre-activation z, activation a, delta dL/dz — each [rows, nout]. */
  readonly z: FloatArray[];
  readonly a: FloatArray[];
  readonly dz: FloatArray[];
  /** Per layer gradients: dW [nin, nout], db [nout]. */
  readonly dW: FloatArray[];
  readonly db: FloatArray[];
  /** [0]: the loss of the last lossInto; [1]: the global gradient norm of the last backwardInto. */
  readonly scalars: Float64Array;
}

export function createWorkspace(model: Mlp, rows: number): Workspace {
  const ws: Workspace = { rows: 0, z: [], a: [], dz: [], dW: [], db: [], scalars: new Float64Array(2) };
  for (const l of model.layers) {
    ws.dW.push(allocate(model.dtype, l.nin * l.nout));
    ws.db.push(allocate(model.dtype, l.nout));
  }
  growWorkspace(ws, model, rows);
  return ws;
}

function growWorkspace(ws: Workspace, model: Mlp, rows: number): void {
  if (rows <= ws.rows) return;
  // NOTE: a plain loop, not forEach((l, i) => …): V8 allocates that closure's context on every
  // call, growing or not, and this runs every step.
  for (let i = 0; i < model.layers.length; i++) {
    const n = rows * model.layers[i]!.nout;
    ws.z[i] = allocate(model.dtype, n);
    ws.a[i] = allocate(model.dtype, n);
    ws.dz[i] = allocate(model.dtype, n);
  }
  ws.rows = rows;
}

/** Forward pass of the first m rows of x into ws.z / ws.a. Returns the output activations buffer. */
export function forwardInto(model: Mlp, ws: Workspace, x: FloatArray, m: number): FloatArray {
  growWorkspace(ws, model, m);
  let input = x;
  const layers = model.layers;
  for (let i = 0; i < layers.length; i++) {
    const l = layers[i]!;
    // x: [m, nin], w: [nin, nout] → z: [m, nout]
    matmul(input, l.w, ws.z[i]!, m, l.nin, l.nout, l.b);
    activate(l.activation, ws.z[i]!, ws.a[i]!, m, l.nout);
    input = ws.a[i]!;
  }
  return input;
}

/** Loss of the forward pass in ws (returned, and in ws.scalars[0]), and the output delta into ws.dz[last]. */
export function lossInto(model: Mlp, ws: Workspace, loss: LossName, targets: Targets, m: number): number {
  lossToScalars(model, ws, loss, targets, m);
  return ws.scalars[0]!;
}

function lossToScalars(model: Mlp, ws: Workspace, loss: LossName, targets: Targets, m: number): void {
  const last = model.layers.length - 1;
  const l = model.layers[last]!;
  lossAndDeltaInto(loss, l.activation, ws.z[last]!, ws.a[last]!, targets, ws.dz[last]!, m, l.nout, ws.scalars);
}

/**
 * Backpropagation from the output delta in ws.dz[last]: every layer's delta (ws.dz) and
 * gradients (ws.dW, ws.db). Writes the per-layer gradient norms into `norms` and returns the
 * global norm (also in ws.scalars[1]).
 */
export function backwardInto(model: Mlp, ws: Workspace, x: FloatArray, m: number, norms: Float64Array): number {
  backwardToScalars(model, ws, x, m, norms);
  return ws.scalars[1]!;
}

/**
 * out[i] = Σ dW² + Σ db². NOTE: written into a typed array rather than returned: V8 boxes a double
 * returned from a call it does not inline (16 bytes a layer a step).
 */
function squaredNormInto(dW: FloatArray, db: FloatArray, out: Float64Array, i: number): void {
  let s = 0;
  for (let k = 0; k < dW.length; k++) s += dW[k]! * dW[k]!;
  for (let k = 0; k < db.length; k++) s += db[k]! * db[k]!;
  out[i] = s;
}

function backwardToScalars(model: Mlp, ws: Workspace, x: FloatArray, m: number, norms: Float64Array): void {
  const layers = model.layers;
  let total = 0;
  for (let i = layers.length - 1; i >= 0; i--) {
    const l = layers[i]!;
    const input = i === 0 ? x : ws.a[i - 1]!;
    // dW = inputᵀ · dz : [nin, m]·[m, nout];  db = Σ_rows dz
    matmulTA(input, ws.dz[i]!, ws.dW[i]!, m, l.nin, l.nout);
    sumRows(ws.dz[i]!, ws.db[i]!, m, l.nout);
    squaredNormInto(ws.dW[i]!, ws.db[i]!, norms, i);
    total += norms[i]!;
    norms[i] = Math.sqrt(norms[i]!);
    if (i > 0) {
      const prev = layers[i - 1]!;
      // dz_prev = (dz · Wᵀ) ⊙ f'(z_prev) : [m, nout]·[nout, nin]
      matmulTB(ws.dz[i]!, l.w, ws.dz[i - 1]!, m, l.nout, l.nin);
      activateBackward(prev.activation, ws.z[i - 1]!, ws.a[i - 1]!, ws.dz[i - 1]!, ws.dz[i - 1]!, m, prev.nout);
    }
  }
  ws.scalars[1] = Math.sqrt(total);
}

/** Parameter tensors in optimizer order: layer by layer, weights then bias. */
export function parameters(model: Mlp): FloatArray[] {
  return model.layers.flatMap((l) => [l.w, l.b]);
}

export function gradientList(ws: Workspace): FloatArray[] {
  return ws.dW.flatMap((dW, i) => [dW, ws.db[i]!]);
}

/**
 * Applies gradients (already in ws) unless the loss or gradient norm is not finite; clips to
 * config.clipNorm first. Fills info.applied / skipReason / lr.
 */
export function updateInto(
  config: UpdateConfig,
  state: OptimizerState,
  params: readonly FloatArray[],
  grads: readonly FloatArray[],
  info: StepInfo,
): void {
  if (!admitUpdate(config, state, info)) return;
  const c = clipFactor(config, info.gradNorm);
  if (c < 1) for (const g of grads) scale(g, c);
  optimizerStep(config.optimizer, state, params, grads);
  info.applied = true;
  info.skipReason = undefined;
}

export function checkStepConfig(model: MlpShape, config: StepConfig): void {
  checkLossFits(model, config.loss);
  checkClipNorm(config.clipNorm);
}

/** TypeError unless the model's output activation is the one the loss needs (bce: sigmoid, crossEntropy: softmax). */
export function checkLossFits(model: MlpShape, loss: LossName): void {
  const need = requiredActivation(loss);
  const out = model.layers[model.layers.length - 1]!.activation;
  if (need !== undefined && out !== need) {
    throw new TypeError(`Expected output activation ${need} for loss ${loss}, got ${out}`);
  }
}

/** RangeError unless clipNorm is absent or a finite number > 0. */
export function checkClipNorm(clipNorm: number | undefined): void {
  if (clipNorm !== undefined && !(Number.isFinite(clipNorm) && clipNorm > 0)) {
    throw new RangeError(`Expected clipNorm to be a finite number > 0, got ${describe(clipNorm)}`);
  }
}

function newInfo(layers: number): StepInfo {
  return { loss: NaN, batchSize: 0, gradNorms: new Float64Array(layers), gradNorm: NaN, lr: NaN, applied: false, skipReason: undefined };
}

/**
 * Which kernels a stepper computes with. `js`: the TypeScript kernels of `kernels.ts` (the reference:
 * float64 sums, float32 results rounded once; the only kernels for float64 models). `wasm`: the
 * WebAssembly SIMD kernels of `wasm/` (float32 arithmetic throughout, within the tolerance that
 * docs/kernels.md states of the reference, several times faster). A run is deterministic for a given
 * choice: the same inputs give the same bits, on any number of threads.
 */
export type KernelChoice = 'wasm' | 'js';

export const KERNEL_CHOICES: readonly KernelChoice[] = ['wasm', 'js'];

export interface StepperOptions {
  /**
   * `auto` (the default): `wasm` for a float32 model where the runtime can run them (WebAssembly
   * SIMD128 and shared memory), else `js`. Asking for `wasm` where it cannot run, or for a float64
   * model, is an error.
   */
  readonly kernels?: KernelChoice | 'auto';
  /**
   * Threads for the `wasm` kernels' large products and updates: 1, or 2 to let a worker thread take
   * half of each product large enough to repay the hand-off. Default: 2 where the machine has two
   * or more CPUs, else 1. Never changes a result; `close()` stops the worker.
   */
  readonly threads?: number;
}

/** The kernels `options.kernels` means for this model here. Throws where `wasm` is asked for and cannot run. */
export function resolveKernels(model: MlpShape, choice: KernelChoice | 'auto' = 'auto'): KernelChoice {
  if (choice === 'js') return 'js';
  if (choice !== 'auto' && choice !== 'wasm') throw new TypeError(`Expected kernels "auto", "wasm" or "js", got ${describe(choice)}`);
  const usable = model.dtype === 'float32' && kernelModule() !== undefined;
  if (choice === 'auto') return usable ? 'wasm' : 'js';
  if (model.dtype !== 'float32') throw new TypeError('Expected a float32 model for the wasm kernels (they compute in float32), got a float64 model: use kernels "js"');
  if (!usable) throw new LivegradError('E_KERNELS', 'Expected WebAssembly SIMD128 and shared memory for the wasm kernels, but this runtime lacks one of them: use kernels "js"');
  return 'wasm';
}

/** The threads a stepper of these kernels uses, given `threads` (checked): its own with `wasm` (default `defaultThreads()`), 1 with `js`. */
export function stepperThreads(kernels: KernelChoice, threads: number | undefined): number {
  return kernels === 'wasm' ? (threads ?? defaultThreads()) : 1;
}

/** RangeError unless threads is absent, 1 or 2. */
export function checkThreads(threads: unknown): number | undefined {
  if (threads !== undefined && threads !== 1 && threads !== 2) throw new RangeError(`Expected threads to be 1 or 2, got ${describe(threads)}`);
  return threads;
}

/** Trains a model in place. `step` returns the same StepInfo object every call (copy what you keep). */
export interface Stepper {
  readonly model: Mlp;
  readonly state: OptimizerState;
  config: StepConfig;
  readonly workspace: Workspace;
  /** The kernels it computes with (`StepperOptions.kernels` resolved). */
  readonly kernels: KernelChoice;
  /** Threads it may use (1 with the `js` kernels). */
  readonly threads: number;
  /** One step on the first m rows of x with the given targets. Inputs are trusted: run `checkBatch` on untrusted data. */
  step(x: FloatArray, targets: Targets, m: number): StepInfo;
  /** Forward pass only (inference on current weights); returns the output buffer (valid until the next call). */
  forward(x: FloatArray, m: number): FloatArray;
  /**
   * Room for the x of m rows ([m, inputSize], the model's dtype) where `step` and `forward` read
   * their input: rows written there and passed as `x` are not copied again. Valid until the next call.
   */
  input(m: number): FloatArray;
  /**
   * After a step on class indices with cross-entropy, the rows of its m whose output's argmax (the
   * first largest) is the label, counted by the kernels; undefined where they do not count (the `js`
   * kernels, other losses): count from `workspace.a` then. What the trainer's running accuracy uses.
   */
  correctLabels(m: number): number | undefined;
  /** Stops its worker thread, if one started. Idempotent; a closed stepper can still step, on one thread. */
  close(): void;
}

export function newOptimizerState(model: Mlp, optimizer: Optimizer): OptimizerState {
  return initOptimizerState(optimizer, parameters(model).map((p) => p.length), (n) => allocate(model.dtype, n));
}

/** Throws E_BAD_STATE unless the state belongs to this optimizer kind and these parameter sizes. */
export function checkOptimizerState(model: MlpShape, optimizer: Optimizer, state: OptimizerState): void {
  if (state.kind !== optimizer.kind) throw new LivegradError('E_BAD_STATE', `Expected optimizer state for ${optimizer.kind}, got state for ${state.kind}`);
  const sizes = model.layers.flatMap((l) => [l.nin * l.nout, l.nout]);
  const type = model.dtype === 'float64' ? Float64Array : Float32Array;
  const per = optimizer.kind === 'sgd' ? 1 : 2;
  const ok =
    state.buffers.length === sizes.length &&
    state.buffers.every((bs, i) => bs.length === per && bs.every((b) => b.length === sizes[i] && b.constructor === type));
  if (!ok) {
    const got = state.buffers.map((bs) => `[${bs.map((b) => b.length).join(', ')}]`).join(', ');
    throw new LivegradError('E_BAD_STATE', `Expected ${per} optimizer state buffer(s) per parameter, for parameter sizes [${sizes.join(', ')}] (${model.dtype}), got buffer sizes [${got}]`);
  }
}

/**
 * A stepper for `model`. With the `wasm` kernels (the default for float32 models where they run),
 * the model's weights and the optimizer state move into WebAssembly memory: afterwards
 * `model.layers[i].w` and `.b` and `state.buffers` are views on it (same values), and arrays taken
 * from them before no longer change.
 */
export function createStepper(model: Mlp, config: StepConfig, state?: OptimizerState, rows = 1, options: StepperOptions = {}): Stepper {
  checkStepConfig(model, config);
  const st = state ?? newOptimizerState(model, config.optimizer);
  checkOptimizerState(model, config.optimizer, st);
  const kernels = resolveKernels(model, options.kernels);
  const info = newInfo(model.layers.length);
  if (kernels === 'wasm') {
    const threads = stepperThreads(kernels, checkThreads(options.threads));
    const wasm = createWasmStep(kernelModule()!, model, st, Math.max(1, rows), threads);
    const stepper: Stepper = {
      model,
      state: st,
      config,
      workspace: wasm.workspace,
      kernels,
      threads,
      step(x, targets, m) {
        wasm.step(stepper.config, x, targets, m, info);
        return info;
      },
      forward: (x, m) => wasm.forward(x, m),
      correctLabels: (m) => wasm.correctLabels(m),
      input: (m) => wasm.input(m),
      close: () => wasm.close(),
    };
    return stepper;
  }
  checkThreads(options.threads);
  const ws = createWorkspace(model, rows);
  const params = parameters(model);
  const grads = gradientList(ws);
  // (these kernels read x where it is: `input` is only somewhere to write it)
  let inputRoom = allocate(model.dtype, 0);
  const stepper: Stepper = {
    model,
    state: st,
    config,
    workspace: ws,
    kernels,
    threads: 1,
    step(x, targets, m) {
      forwardInto(model, ws, x, m);
      info.batchSize = m;
      lossToScalars(model, ws, stepper.config.loss, targets, m);
      info.loss = ws.scalars[0]!;
      backwardToScalars(model, ws, x, m, info.gradNorms);
      info.gradNorm = ws.scalars[1]!;
      updateInto(stepper.config, st, params, grads, info);
      return info;
    },
    forward(x, m) {
      return forwardInto(model, ws, x, m);
    },
    input(m) {
      const n = m * model.inputSize;
      if (inputRoom.length < n) inputRoom = allocate(model.dtype, n);
      return inputRoom.length === n ? inputRoom : inputRoom.subarray(0, n);
    },
    correctLabels: () => undefined,
    close() {},
  };
  return stepper;
}

export interface StepResult {
  readonly model: Mlp;
  readonly state: OptimizerState;
  readonly info: StepInfo;
}

/** Deep copy of an optimizer state. */
export function cloneOptimizerState(state: OptimizerState): OptimizerState {
  return { kind: state.kind, t: state.t, hasMomentum: state.hasMomentum, buffers: state.buffers.map((bs) => bs.map((b) => b.slice())) };
}

/**
 * The pure transition (model, optimizerState, batch) → (model', optimizerState', info).
 * Inputs are not modified. Invalid batches throw LivegradError; a non-finite loss or gradient
 * returns the model unchanged with info.applied = false.
 */
export function step(model: Mlp, state: OptimizerState, batch: Batch, config: StepConfig, options: Pick<StepperOptions, 'kernels'> = {}): StepResult {
  const { m, targets } = checkBatch(model, batch);
  const next = cloneModel(model);
  const nextState = cloneOptimizerState(state);
  if (resolveKernels(next, options.kernels) === 'wasm') {
    checkStepConfig(next, config);
    checkOptimizerState(next, config.optimizer, nextState);
    const info = newInfo(next.layers.length);
    pureWasmStep(kernelModule()!, next, nextState, config, batch.x.data, targets, m, info);
    return { model: next, state: nextState, info };
  }
  const stepper = createStepper(next, config, nextState, m, { kernels: 'js' });
  const info = stepper.step(batch.x.data, targets, m);
  return { model: next, state: nextState, info: { ...info, gradNorms: info.gradNorms.slice() } };
}
