/**
 * The training step on the WebAssembly kernels (`abi.ts`), with everything it touches resident in
 * one WebAssembly memory for the life of the stepper:
 *
 *   layer i:  w [nin, nout] · b [nout] · wᵀ [nout, nin] (scratch of the input delta) · dW · db ·
 *             optimizer buffers (sgd: momentum; adam: m, v) for w and for b
 *   batch:    x [rows, inputSize] · labels i32 [rows] or targets [rows, outputs]
 *   per row:  z, a, dz of every layer [rows, nout]
 *
 * The model's `w` and `b` and the optimizer state's buffers become Float32Array views on that
 * memory when the stepper is created (their values copied there first), so a step copies only its
 * batch in. The memory is shared (a SharedArrayBuffer): growing it for a larger batch never detaches
 * a view, and the kernel pool's worker computes in the same bytes.
 *
 * The step is the one of `step.ts`, kernel for kernel: forward (bias and activation fused into the
 * product), loss (softmax + cross-entropy as one kernel; the other losses run the TypeScript loss on
 * views of the output), backward (weight gradient, bias gradient, squared norm, then the input delta
 * with the activation derivative fused), then the checks, clipping and update of `updateInto`.
 */
import { activate, type Activation } from '../activations.js';
import { lossAndDeltaInto, type Targets } from '../losses.js';
import type { Mlp } from '../mlp.js';
import type { OptimizerState } from '../optimizers.js';
import { admitUpdate, clipFactor } from '../admit.js';
import type { StepConfig, StepInfo, Workspace } from '../step.js';
import { copyRange, type FloatArray } from '../tensor.js';
import { ACT, SCRATCH_BYTES, SLACK_BYTES, type ActCode, type KernelExports } from './abi.js';
import { LivegradError } from '../../errors.js';
import { createMemory, instantiate, MAX_PAGES, PAGE_BYTES } from './module.js';
import { KernelPool, splitAt } from './pool.js';

/** What `createStepper` builds on these kernels: the Stepper's working parts. */
export interface WasmStep {
  readonly workspace: Workspace;
  step(config: StepConfig, x: FloatArray, targets: Targets, m: number, info: StepInfo): void;
  forward(x: FloatArray, m: number): Float32Array;
  /** After a step on class indices with cross-entropy: its rows whose output's argmax is the label (else undefined). */
  correctLabels(m: number): number | undefined;
  /** The batch input buffer, m rows: x written there is not copied again (see `Stepper.input`). */
  input(m: number): Float32Array;
  close(): void;
}

interface Layer {
  readonly nin: number;
  readonly nout: number;
  readonly activation: Activation;
  /** The activation the kernels fuse: the layer's own, or linear for the output's softmax (which the loss applies). */
  readonly act: ActCode;
  /** Byte offsets. */
  readonly w: number;
  readonly b: number;
  /** wᵀ, for the input delta (layers after the first only; 0 for the first). */
  readonly wt: number;
  readonly dW: number;
  readonly db: number;
  /** Per row buffers, moved when the batch grows. */
  z: number;
  a: number;
  dz: number;
}

const ACT_CODES: Readonly<Record<Exclude<Activation, 'softmax'>, ActCode>> = ACT;

/** A bump allocator over the memory: 16-byte aligned blocks, each followed by SLACK_BYTES. */
class Arena {
  /** Byte 0 stays unused: no buffer has offset 0. */
  private top = 64;
  constructor(readonly memory: WebAssembly.Memory) {}

  /** Bytes for `floats` float32 (or int32) values. */
  take(floats: number): number {
    const at = this.top;
    this.top = align16(at + 4 * floats + SLACK_BYTES);
    const need = this.top - this.memory.buffer.byteLength;
    if (need > 0) {
      if (this.top > MAX_PAGES * PAGE_BYTES) throw tooLarge(this.top);
      this.memory.grow(Math.ceil(need / PAGE_BYTES));
    }
    return at;
  }

  /** Whether `bytes` more (in `takes` blocks) fit under the memory's cap. */
  fits(bytes: number, takes: number): boolean {
    return this.top + bytes + takes * (SLACK_BYTES + 16) <= MAX_PAGES * PAGE_BYTES;
  }

  f32(at: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, at, length);
  }
}

const align16 = (n: number): number => (n + 15) & ~15;

function tooLarge(bytes: number): LivegradError {
  const gib = (n: number): string => (n / 2 ** 30).toFixed(2);
  return new LivegradError('E_KERNELS', `Expected the model, its optimizer state and a batch to fit in the wasm kernels' ${gib(MAX_PAGES * PAGE_BYTES)} GiB of memory, got ${gib(bytes)} GiB needed: use smaller batches, or kernels "js"`);
}

/**
 * Moves `model` and `state` into a new memory and returns the step over it. The model's layers and
 * the state's buffers are rebound to views on that memory (see the module comment).
 */
export function createWasmStep(module: WebAssembly.Module, model: Mlp, state: OptimizerState, rows: number, threads: number): WasmStep {
  const per = state.buffers[0]?.length ?? 0;
  const fixed = model.layers.reduce((s, l) => s + (l.nin * l.nout + l.nout) * (3 + per) + 8 * SLACK_BYTES, 0);
  const initial = fixed * 4 + (rows + 1) * 4 * (model.inputSize + 3 * model.layers.reduce((s, l) => s + l.nout, 0)) + 4 * PAGE_BYTES;
  if (initial > MAX_PAGES * PAGE_BYTES) throw tooLarge(initial);
  const memory = createMemory(initial);
  return stepIn(module, memory, instantiate(module, memory), model, state, rows, threads);
}

/** The thread's memory for pure steps (`pureWasmStep`), reused call after call: they copy their results out. */
let pure: { module: WebAssembly.Module; memory: WebAssembly.Memory; k: KernelExports } | undefined;

/**
 * One step of `step()`, the pure transition, on these kernels: `model` and `state` (the caller's
 * own copies) are stepped in place, through this thread's reused memory, and keep their own
 * arrays. NOTE: a memory and an instance a call cost ~170 µs a W2 step (the step itself ~30 µs),
 * and every memory reserves address space until it is collected.
 */
export function pureWasmStep(module: WebAssembly.Module, model: Mlp, state: OptimizerState, config: StepConfig, x: FloatArray, targets: Targets, m: number, info: StepInfo): void {
  if (pure?.module !== module) {
    const memory = createMemory(4 * PAGE_BYTES);
    pure = { module, memory, k: instantiate(module, memory) };
  }
  const own = model.layers.map((l) => [l.w, l.b] as const);
  const ownState = state.buffers.map((bs) => bs.slice());
  const wasm = stepIn(module, pure.memory, pure.k, model, state, m, 1);
  wasm.step(config, x, targets, m, info);
  // the results into the caller's arrays, which the model and state see again
  model.layers.forEach((l, i) => {
    const [w, b] = own[i]!;
    w.set(l.w);
    b.set(l.b);
    (l as { w: FloatArray }).w = w;
    (l as { b: FloatArray }).b = b;
  });
  state.buffers.forEach((bs, j) =>
    bs.forEach((view, s) => {
      const mine = ownState[j]![s]!;
      mine.set(view);
      bs[s] = mine;
    }),
  );
}

/** The step over `memory` (laid out from its start: a pure step's reused memory, or a stepper's own), with its exports `k`. */
function stepIn(module: WebAssembly.Module, memory: WebAssembly.Memory, k: KernelExports, model: Mlp, state: OptimizerState, rows: number, threads: number): WasmStep {
  const arena = new Arena(memory);
  let pool = threads > 1 ? new KernelPool(module, memory) : undefined;

  // parameters and their optimizer state: copied in, then the model and state see them through views
  const stateAt: number[][] = [];
  const layers: Layer[] = model.layers.map((l, i) => {
    const w = arena.take(l.nin * l.nout), b = arena.take(l.nout);
    const view = (at: number, src: Float32Array): Float32Array => {
      const v = arena.f32(at, src.length);
      v.set(src);
      return v;
    };
    const wv = view(w, l.w as Float32Array), bv = view(b, l.b as Float32Array);
    (l as { w: Float32Array }).w = wv;
    (l as { b: Float32Array }).b = bv;
    for (const [j, size] of [[2 * i, l.nin * l.nout], [2 * i + 1, l.nout]] as const) {
      const bufs = state.buffers[j]!;
      stateAt[j] = bufs.map((buf, s) => {
        const at = arena.take(size);
        bufs[s] = view(at, buf as Float32Array);
        return at;
      });
    }
    if (l.activation === 'softmax' && i !== model.layers.length - 1) throw new TypeError(`Expected softmax only on the output layer, got it on layers[${i}] of ${model.layers.length}`);
    const act = l.activation === 'softmax' ? ACT.linear : ACT_CODES[l.activation];
    const dW = arena.take(l.nin * l.nout), db = arena.take(l.nout);
    return { nin: l.nin, nout: l.nout, activation: l.activation, act, w, b, wt: i > 0 ? arena.take(l.nin * l.nout) : 0, dW, db, z: 0, a: 0, dz: 0 };
  });
  const last = layers.length - 1;
  const out = layers[last]!;
  // each thread's scratch for the products (abi.ts): this thread's, and the pool worker's
  const scratch = arena.take(SCRATCH_BYTES / 4), workerScratch = pool === undefined ? 0 : arena.take(SCRATCH_BYTES / 4);
  const gradAt = layers.flatMap((l) => [l.dW, l.db]);
  const sizes = layers.flatMap((l) => [l.nin * l.nout, l.nout]);

  const ws: Workspace = { rows: 0, z: [], a: [], dz: [], dW: [], db: [], scalars: new Float64Array(2) };
  layers.forEach((l) => {
    ws.dW.push(arena.f32(l.dW, l.nin * l.nout));
    ws.db.push(arena.f32(l.db, l.nout));
  });
  let xAt = 0, yAt = 0;
  let xView: Float32Array = new Float32Array(0), labelView: Int32Array = new Int32Array(0), valueView: Float32Array = new Float32Array(0);
  /** What `input` last gave: xView, or a view of its first rows (kept: the trainer asks every step, and grown rows are more than a batch). */
  let inputView = xView;

  /** Floats a row takes in the per-row buffers: x, y, and z, a (unless it is z) and dz of every layer. */
  const rowFloats = model.inputSize + out.nout + layers.reduce((n, l, i) => n + l.nout * (l.activation === 'linear' && i !== last ? 2 : 3), 0);
  /**
   * Room for at least `need` rows. NOTE: at least GROWTH × the rows there were: the arena never
   * frees, so growing one row at a time (one-step batches of 1, 2, 3, … rows) would take memory as
   * the square of the largest batch; this way all the growths together take under 3 × the last.
   * (Only the rows needed when more would pass the memory's cap.)
   */
  function grow(need: number): void {
    if (need <= ws.rows) return;
    const wanted = Math.max(need, Math.ceil(ws.rows * GROWTH));
    const m = wanted > need && !arena.fits(4 * wanted * rowFloats, 2 + 3 * layers.length) ? need : wanted;
    xAt = arena.take(m * model.inputSize);
    xView = arena.f32(xAt, m * model.inputSize);
    inputView = xView;
    yAt = arena.take(m * out.nout);
    labelView = new Int32Array(memory.buffer, yAt, m);
    valueView = arena.f32(yAt, m * out.nout);
    layers.forEach((l, i) => {
      l.z = arena.take(m * l.nout);
      // a linear layer's activation is its pre-activation (one buffer), except the output: the loss reads both
      l.a = l.activation === 'linear' && i !== last ? l.z : arena.take(m * l.nout);
      l.dz = arena.take(m * l.nout);
      ws.z[i] = arena.f32(l.z, m * l.nout);
      ws.a[i] = arena.f32(l.a, m * l.nout);
      ws.dz[i] = arena.f32(l.dz, m * l.nout);
    });
    ws.rows = m;
  }
  grow(rows);

  /** Where a product of `work` multiply-adds over `columns` (the split dimension) is split with the pool, or undefined: not split. */
  function split(work: number, columns: number): number | undefined {
    if (pool === undefined) return undefined;
    const at = splitAt(work, columns);
    return at !== undefined && pool.splitting() ? at : undefined;
  }

  function forwardAll(x: FloatArray, m: number): void {
    grow(m);
    // (x from `input` is in place already)
    if (x !== xView && (x.byteOffset !== xAt || x.buffer !== memory.buffer)) copyRange(xView, x, 0, m * model.inputSize);
    let input = xAt;
    for (let i = 0; i < layers.length; i++) {
      const l = layers[i]!;
      // the output layer's a is written by the loss (softmax) or here (any other activation)
      const a = l.activation === 'softmax' ? l.z : l.a;
      const s = split(m * l.nin * l.nout, l.nout);
      if (s === undefined) k.forward(input, l.w, l.b, l.z, a, m, l.nin, l.nout, l.act, 0, l.nout, scratch);
      else {
        pool!.start('forward', [input, l.w, l.b, l.z, a, m, l.nin, l.nout, l.act, s, l.nout, workerScratch]);
        k.forward(input, l.w, l.b, l.z, a, m, l.nin, l.nout, l.act, 0, s, scratch);
        pool!.wait();
      }
      input = l.a;
    }
  }

  /**
   * The loss into ws.scalars[0], the output delta into dz. NOTE: results go into typed arrays, not
   * return values: V8 boxes a double returned from a call it does not inline (16 bytes a step).
   */
  function lossAll(config: StepConfig, targets: Targets, m: number): void {
    const n = out.nout;
    if (config.loss === 'crossEntropy') {
      // the loss requires a softmax output (checkLossFits)
      labelRows = targets.labels ? m : 0;
      if (targets.labels) {
        copyRange(labelView, targets.data, 0, m);
        ws.scalars[0] = k.softmaxXentLabels(out.z, out.a, out.dz, yAt, m, n, 1 / m) * (1 / m);
        return;
      }
      copyRange(valueView, targets.data, 0, m * n);
      ws.scalars[0] = k.softmaxXentValues(out.z, out.a, out.dz, yAt, m, n, 1 / m) * (1 / m);
      return;
    }
    labelRows = 0;
    if (out.activation === 'softmax') activate('softmax', ws.z[last]!, ws.a[last]!, m, n);
    lossAndDeltaInto(config.loss, out.activation, ws.z[last]!, ws.a[last]!, targets, ws.dz[last]!, m, n, ws.scalars);
  }

  /** Every layer's delta and gradients; the per-layer norms into `norms`, the global norm into ws.scalars[1]. */
  function backwardAll(x: number, m: number, norms: Float64Array): void {
    let total = 0;
    for (let i = last; i >= 0; i--) {
      const l = layers[i]!;
      const input = i === 0 ? x : layers[i - 1]!.a;
      const s = split(m * l.nin * l.nout, l.nin);
      if (s === undefined) k.weightGrad(input, l.dz, l.dW, m, l.nin, l.nout, 0, l.nin, scratch);
      else {
        pool!.start('weightGrad', [input, l.dz, l.dW, m, l.nin, l.nout, s, l.nin, workerScratch]);
        k.weightGrad(input, l.dz, l.dW, m, l.nin, l.nout, 0, s, scratch);
        pool!.wait();
      }
      k.biasGrad(l.dz, l.db, m, l.nout);
      sumSquares(l.dW, l.nin * l.nout);
      const sq = cell[0]! + k.sumSquares(l.db, l.nout);
      total += sq;
      norms[i] = Math.sqrt(sq);
      if (i > 0) {
        const prev = layers[i - 1]!;
        k.transpose(l.w, l.wt, l.nin, l.nout);
        const ps = split(m * l.nin * l.nout, l.nin);
        if (ps === undefined) k.backwardInput(l.dz, l.wt, prev.z, prev.a, prev.dz, m, l.nout, l.nin, prev.act, 0, l.nin, scratch);
        else {
          pool!.start('backwardInput', [l.dz, l.wt, prev.z, prev.a, prev.dz, m, l.nout, l.nin, prev.act, ps, l.nin, workerScratch]);
          k.backwardInput(l.dz, l.wt, prev.z, prev.a, prev.dz, m, l.nout, l.nin, prev.act, 0, ps, scratch);
          pool!.wait();
        }
      }
    }
    ws.scalars[1] = Math.sqrt(total);
  }

  function update(config: StepConfig, info: StepInfo): void {
    if (!admitUpdate(config, state, info)) return;
    const c = clipFactor(config, info.gradNorm);
    // as updateInto: the gradients scaled in place
    if (c < 1) for (let j = 0; j < gradAt.length; j++) k.scale(gradAt[j]!, sizes[j]!, c);
    const opt = config.optimizer;
    const lr = info.lr;
    state.t += 1;
    // NOTE: each kernel is called directly unless the pool takes half of it: no closure or array a step
    if (opt.kind === 'sgd') {
      const { momentum: mu, dampening, nesterov, weightDecay: wd } = opt;
      const first = state.hasMomentum ? 0 : 1, nes = nesterov ? 1 : 0;
      for (let j = 0; j < sizes.length; j++) {
        const p = paramAt(j), g = gradAt[j]!, n = sizes[j]!;
        const s = rangeSplit(n);
        if (mu === 0 && wd === 0) {
          if (s !== undefined) pool!.start('sgd', [p, g, s, n, lr]);
          k.sgd(p, g, 0, s ?? n, lr);
        } else {
          const buf = mu === 0 ? 0 : stateAt[j]![0]!;
          if (s !== undefined) pool!.start('sgdMomentum', [p, g, buf, s, n, lr, mu, dampening, wd, nes, first]);
          k.sgdMomentum(p, g, buf, 0, s ?? n, lr, mu, dampening, wd, nes, first);
        }
        if (s !== undefined) pool!.wait();
      }
      if (mu !== 0) state.hasMomentum = true;
    } else {
      const { beta1: b1, beta2: b2, eps, weightDecay: wd } = opt;
      const t = state.t;
      const stepSize = lr / (1 - Math.pow(b1, t));
      const bc2Sqrt = Math.sqrt(1 - Math.pow(b2, t));
      const decoupled = opt.kind === 'adamw' ? 1 : 0;
      for (let j = 0; j < sizes.length; j++) {
        const p = paramAt(j), g = gradAt[j]!, mAt = stateAt[j]![0]!, vAt = stateAt[j]![1]!, n = sizes[j]!;
        const s = rangeSplit(n);
        if (s !== undefined) pool!.start('adam', [p, g, mAt, vAt, s, n, lr, b1, b2, eps, wd, decoupled, stepSize, bc2Sqrt]);
        k.adam(p, g, mAt, vAt, 0, s ?? n, lr, b1, b2, eps, wd, decoupled, stepSize, bc2Sqrt);
        if (s !== undefined) pool!.wait();
      }
    }
    info.applied = true;
    info.skipReason = undefined;
  }

  /**
   * Σ v² over n values (a layer's weight gradient), into `cell`. A large one is summed as two halves, split where
   * `splitAt` puts an element-wise kernel's split (a point that depends on n alone), the second half
   * by the pool's worker when it takes work: the same sum on one thread or two.
   */
  function sumSquares(v: number, n: number): void {
    const h = splitAt(ELEMENTWISE_WORK * n, n);
    if (h === undefined) cell[0] = k.sumSquares(v, n);
    else if (pool === undefined || !pool.splitting()) cell[0] = k.sumSquares(v, h) + k.sumSquares(v + 4 * h, n - h);
    else {
      pool!.start('sumSquares', [v + 4 * h, n - h]);
      const first = k.sumSquares(v, h);
      pool!.wait();
      cell[0] = first + pool!.result();
    }
  }
  /** The rows of the last step whose class indices the loss put in the label buffer, beside its output in out.a (0: none). */
  let labelRows = 0;
  /** sumSquares' result (a typed-array cell: see lossAll's NOTE). */
  const cell = new Float64Array(1);

  const paramAt = (j: number): number => (j % 2 === 0 ? layers[j >> 1]!.w : layers[j >> 1]!.b);

  /** Where an element-wise kernel over n elements is split between this thread and the pool's, or undefined: not split. */
  function rangeSplit(n: number): number | undefined {
    return split(ELEMENTWISE_WORK * n, n);
  }

  return {
    workspace: ws,
    step(config, x, targets, m, info) {
      forwardAll(x, m);
      info.batchSize = m;
      lossAll(config, targets, m);
      info.loss = ws.scalars[0]!;
      backwardAll(xAt, m, info.gradNorms);
      info.gradNorm = ws.scalars[1]!;
      update(config, info);
    },
    input(m) {
      // (growing moves the label buffer)
      if (m > ws.rows) labelRows = 0;
      grow(m);
      const n = m * model.inputSize;
      if (inputView.length !== n) inputView = n === xView.length ? xView : xView.subarray(0, n);
      return inputView;
    },
    correctLabels(m) {
      // (one output: the trainer counts a > 0.5 as class 1, not an argmax)
      return m === labelRows && out.nout > 1 ? k.countArgmax(out.a, yAt, m, out.nout) : undefined;
    },
    forward(x, m) {
      // (out.a no longer holds the last step's output)
      labelRows = 0;
      forwardAll(x, m);
      if (out.activation === 'softmax') activate('softmax', ws.z[last]!, ws.a[last]!, m, out.nout);
      return ws.a[last]! as Float32Array;
    },
    close() {
      // a closed stepper still steps, on this thread alone
      void pool?.close();
      pool = undefined;
    },
  };
}

/** How much a stepper's per-row buffers grow at least when a batch outgrows them (see `grow`). */
const GROWTH = 1.5;

/** An element-wise update weighs this many multiply-adds an element when deciding whether to split it. */
const ELEMENTWISE_WORK = 8;
