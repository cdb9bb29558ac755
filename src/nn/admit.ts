/**
 * What every update does before it changes a weight, on either kernels: the learning rate of this
 * step, the skip of a step whose loss or gradient norm is not finite, and the clipping factor.
 */
import { currentLR, type OptimizerState } from './optimizers.js';
import type { StepInfo, UpdateConfig } from './step.js';

/**
 * The checks before an update: sets info.lr, and returns false (with info.applied false and the
 * skip reason) when the step's loss or gradient norm is not finite.
 */
export function admitUpdate(config: UpdateConfig, state: OptimizerState, info: StepInfo): boolean {
  const opt = config.optimizer;
  // NOTE: the constant case read directly: currentLR's double result is boxed when V8 does not inline it
  info.lr = opt.schedule.kind === 'constant' ? opt.lr : currentLR(opt, state);
  if (!Number.isFinite(info.loss)) {
    info.applied = false;
    info.skipReason = 'non-finite loss';
    return false;
  }
  if (!Number.isFinite(info.gradNorm)) {
    info.applied = false;
    info.skipReason = 'non-finite gradients';
    return false;
  }
  return true;
}

/** What clipping multiplies the gradients by: as PyTorch, min(1, clipNorm / (norm + 1e-6)) (so a norm equal to clipNorm is scaled too); 1 without clipNorm. */
export function clipFactor(config: UpdateConfig, gradNorm: number): number {
  return config.clipNorm === undefined ? 1 : Math.min(1, config.clipNorm / (gradNorm + 1e-6));
}
