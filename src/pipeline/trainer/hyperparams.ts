/**
 * What the `set` and `reset` controls do to a training state. Both are checked before they are
 * queued (`nextStepConfig` throws what applying would throw), so applying one never fails.
 */
import { LivegradError } from '../../errors.js';
import type { Mlp } from '../../nn/mlp.js';
import { checkOptimizer, type Optimizer, type OptimizerState } from '../../nn/optimizers.js';
import type { StepConfig } from '../../nn/step.js';
import type { HyperParams } from '../controls.js';

/** The optimizer a `set` makes of `opt`. Throws LivegradError E_BAD_CONTROL (momentum on adam, a bad value). */
export function nextOptimizer(opt: Optimizer, c: HyperParams): Optimizer {
  if (c.momentum !== undefined && opt.kind !== 'sgd') throw new LivegradError('E_BAD_CONTROL', `Expected momentum only for sgd, got it for ${opt.kind}`);
  const next = { ...opt, ...(c.lr === undefined ? {} : { lr: c.lr }), ...(c.momentum === undefined ? {} : { momentum: c.momentum }), ...(c.weightDecay === undefined ? {} : { weightDecay: c.weightDecay }) };
  try {
    return checkOptimizer(next);
  } catch (e) {
    throw new LivegradError('E_BAD_CONTROL', (e as Error).message, { cause: e });
  }
}

/** The step config after a `set`: optimizer hyperparameters and clipping (`clipNorm: null` turns it off). */
export function nextStepConfig(config: StepConfig, c: HyperParams): StepConfig {
  const optimizer = nextOptimizer(config.optimizer, c);
  const { clipNorm: _old, ...rest } = config;
  const clipNorm = c.clipNorm === undefined ? config.clipNorm : c.clipNorm ?? undefined;
  return { ...rest, optimizer, ...(clipNorm === undefined ? {} : { clipNorm }) };
}

/** `reset`: the initial weights, bit for bit, and a fresh optimizer state, in place. */
export function resetTo(model: Mlp, initial: Mlp, state: OptimizerState): void {
  model.layers.forEach((l, i) => {
    l.w.set(initial.layers[i]!.w);
    l.b.set(initial.layers[i]!.b);
  });
  state.t = 0;
  state.hasMomentum = false;
  for (const bs of state.buffers) for (const b of bs) b.fill(0);
}
