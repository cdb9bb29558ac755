/**
 * Optimizers, defined exactly as PyTorch's torch.optim (single tensor, non-fused path),
 * so the same initial weights and batches give the same weights as PyTorch to float tolerance.
 *
 * sgd (torch.optim.SGD), for each parameter p with gradient g:
 *   g ← g + weightDecay · p
 *   if momentum ≠ 0:  buf ← g on its first step, else buf ← momentum · buf + (1 - dampening) · g
 *                     g ← nesterov ? g + momentum · buf : buf
 *   p ← p - lr · g
 *
 * adam (torch.optim.Adam), t counting from 1:
 *   g ← g + weightDecay · p
 *   m ← β1 m + (1 - β1) g ;  v ← β2 v + (1 - β2) g²
 *   p ← p - (lr / (1 - β1^t)) · m / (√v / √(1 - β2^t) + eps)
 *
 * adamw (torch.optim.AdamW): first p ← p · (1 - lr · weightDecay), then adam with no decay term in g.
 *
 * The optimizer is plain configuration; its state (step count and buffers) is a separate value
 * that the caller threads through (the pipeline keeps it in a `scan`).
 */
import { describe } from '../errors.js';
import { constantLR, learningRate, checkSchedule, type Schedule } from './schedules.js';
import type { FloatArray } from './tensor.js';

export interface SgdConfig {
  readonly kind: 'sgd';
  readonly lr: number;
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  readonly schedule: Schedule;
}

export interface AdamConfig {
  readonly kind: 'adam' | 'adamw';
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly schedule: Schedule;
}

export type Optimizer = SgdConfig | AdamConfig;

export type SgdOptions = Partial<Omit<SgdConfig, 'kind'>> & { readonly lr: number };
export type AdamOptions = Partial<Omit<AdamConfig, 'kind'>>;

/**
 * State of an optimizer for one model: `t` optimizer steps taken, and per parameter tensor
 * (layer order, weights then bias) the buffers: sgd `[momentum]`, adam/adamw `[m, v]`.
 * `hasMomentum` is false until the first step with momentum ≠ 0 (PyTorch's `momentum_buffer is None`).
 */
export interface OptimizerState {
  readonly kind: Optimizer['kind'];
  t: number;
  hasMomentum: boolean;
  readonly buffers: FloatArray[][];
}

function num(v: unknown, what: string, lo: number, hi = Infinity, hiOpen = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || (hiOpen ? v >= hi : v > hi)) {
    const range = hi === Infinity ? `≥ ${lo}` : `in [${lo}, ${hi}${hiOpen ? ')' : ']'}`;
    throw new RangeError(`Expected ${what} to be a finite number ${range}, got ${describe(v)}`);
  }
  return v;
}

/** SGD; defaults as PyTorch: momentum 0, dampening 0, nesterov false, weightDecay 0, constant schedule. */
export function sgd(options: SgdOptions): SgdConfig {
  if (typeof options !== 'object' || options === null) throw new TypeError(`Expected sgd options object, got ${describe(options)}`);
  const cfg: SgdConfig = {
    kind: 'sgd',
    lr: num(options.lr, 'lr', 0),
    momentum: num(options.momentum ?? 0, 'momentum', 0),
    dampening: num(options.dampening ?? 0, 'dampening', 0, 1),
    nesterov: options.nesterov ?? false,
    weightDecay: num(options.weightDecay ?? 0, 'weightDecay', 0),
    schedule: checkSchedule(options.schedule ?? constantLR),
  };
  if (typeof cfg.nesterov !== 'boolean') throw new TypeError(`Expected nesterov to be a boolean, got ${describe(cfg.nesterov)}`);
  if (cfg.nesterov && (cfg.momentum <= 0 || cfg.dampening !== 0)) {
    throw new RangeError(`Expected nesterov to have momentum > 0 and dampening 0, got momentum ${cfg.momentum}, dampening ${cfg.dampening}`);
  }
  return cfg;
}

function adamLike(kind: 'adam' | 'adamw', options: AdamOptions, defaultDecay: number): AdamConfig {
  if (typeof options !== 'object' || options === null) throw new TypeError(`Expected ${kind} options object, got ${describe(options)}`);
  return {
    kind,
    lr: num(options.lr ?? 1e-3, 'lr', 0),
    beta1: num(options.beta1 ?? 0.9, 'beta1', 0, 1, true),
    beta2: num(options.beta2 ?? 0.999, 'beta2', 0, 1, true),
    eps: num(options.eps ?? 1e-8, 'eps', 0),
    weightDecay: num(options.weightDecay ?? defaultDecay, 'weightDecay', 0),
    schedule: checkSchedule(options.schedule ?? constantLR),
  };
}

/** Adam; defaults as PyTorch: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weightDecay 0. */
export function adam(options: AdamOptions = {}): AdamConfig {
  return adamLike('adam', options, 0);
}

/** AdamW; defaults as PyTorch: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weightDecay 0.01. */
export function adamw(options: AdamOptions = {}): AdamConfig {
  return adamLike('adamw', options, 0.01);
}

/** Validates an optimizer that came from outside (JSON, the wire) and fills in defaults. */
export function checkOptimizer(o: unknown): Optimizer {
  const r = o as Record<string, unknown> | null;
  switch (r?.['kind']) {
    case 'sgd':
      return sgd(r as SgdOptions);
    case 'adam':
      return adam(r as AdamOptions);
    case 'adamw':
      return adamw(r as AdamOptions);
    default:
      throw new TypeError(`Expected optimizer kind "sgd", "adam" or "adamw", got ${describe(r?.['kind'])}`);
  }
}

/** Fresh state for the given parameter sizes (in order). */
export function initOptimizerState(opt: Optimizer, sizes: readonly number[], make: (n: number) => FloatArray): OptimizerState {
  const per = opt.kind === 'sgd' ? 1 : 2;
  return {
    kind: opt.kind,
    t: 0,
    hasMomentum: false,
    buffers: sizes.map((n) => Array.from({ length: per }, () => make(n))),
  };
}

/** Learning rate the next step will use. */
export function currentLR(opt: Optimizer, state: OptimizerState): number {
  return learningRate(opt.schedule, opt.lr, state.t);
}

/**
 * One optimizer step, in place: params[i] -= … using grads[i]. Grads are read-only here.
 * Returns the learning rate used.
 */
export function applyOptimizer(opt: Optimizer, state: OptimizerState, params: readonly FloatArray[], grads: readonly FloatArray[]): number {
  const lr = currentLR(opt, state);
  optimizerStep(opt, state, params, grads);
  return lr;
}

/** `applyOptimizer` without the return value (a double returned from a call V8 does not inline is boxed): the training step's form. */
export function optimizerStep(opt: Optimizer, state: OptimizerState, params: readonly FloatArray[], grads: readonly FloatArray[]): void {
  if (state.kind !== opt.kind) throw new TypeError(`Expected optimizer state for ${opt.kind}, got state for ${state.kind}`);
  const lr = learningRate(opt.schedule, opt.lr, state.t);
  state.t += 1;
  if (opt.kind === 'sgd') {
    const { momentum: mu, dampening, nesterov, weightDecay: wd } = opt;
    const first = !state.hasMomentum;
    if (mu === 0 && wd === 0) {
      // plain SGD, the tutorial's p -= lr · g
      for (let k = 0; k < params.length; k++) descend(params[k]!, grads[k]!, lr);
      return;
    }
    for (let k = 0; k < params.length; k++) {
      const p = params[k]!, g = grads[k]!, buf = state.buffers[k]![0]!;
      for (let i = 0; i < p.length; i++) {
        let d = g[i]!;
        if (wd !== 0) d += wd * p[i]!;
        if (mu !== 0) {
          const bv = first ? d : mu * buf[i]! + (1 - dampening) * d;
          buf[i] = bv;
          d = nesterov ? d + mu * buf[i]! : buf[i]!;
        }
        p[i]! -= lr * d;
      }
    }
    if (mu !== 0) state.hasMomentum = true;
    return;
  }
  const { beta1: b1, beta2: b2, eps, weightDecay: wd } = opt;
  const t = state.t;
  const stepSize = lr / (1 - Math.pow(b1, t));
  const bc2Sqrt = Math.sqrt(1 - Math.pow(b2, t));
  const decoupled = opt.kind === 'adamw';
  for (let k = 0; k < params.length; k++) {
    const p = params[k]!, g = grads[k]!, m = state.buffers[k]![0]!, v = state.buffers[k]![1]!;
    for (let i = 0; i < p.length; i++) {
      let d = g[i]!;
      if (decoupled) p[i]! *= 1 - lr * wd;
      else if (wd !== 0) d += wd * p[i]!;
      m[i] = b1 * m[i]! + (1 - b1) * d;
      v[i] = b2 * v[i]! + (1 - b2) * d * d;
      p[i]! -= (stepSize * m[i]!) / (Math.sqrt(v[i]!) / bc2Sqrt + eps);
    }
  }
}

/** p -= lr · g */
function descend(p: FloatArray, g: FloatArray, lr: number): void {
  for (let i = 0; i < p.length; i++) p[i]! -= lr * g[i]!;
}
