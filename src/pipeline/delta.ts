import { map, type OperatorFunction } from 'rxjs';
import { backwardInto } from '../nn/step.js';
import { assertFresh } from './stale.js';
import type { DeltaPass, LossPass } from './pass.js';

/**
 * Backpropagates the output delta through every layer: per-layer deltas and gradients
 * (in the workspace: `ctx.ws.dz`, `ctx.ws.dW`, `ctx.ws.db`) and their L2 norms.
 *
 *   losses: --l1--l2--|
 *   result: --d1--d2--|      d = l + { gradNorms, gradNorm }
 *
 * @example
 *   batches$.pipe(forward(model), loss('sse'), delta())
 */
export function delta(): OperatorFunction<LossPass, DeltaPass> {
  return map(function backpropagate(pass: LossPass): DeltaPass {
    assertFresh(pass, 'delta');
    const { model, ws } = pass.ctx;
    const gradNorms = new Float64Array(model.layers.length);
    const gradNorm = backwardInto(model, ws, pass.x, pass.m, gradNorms);
    return { ...pass, gradNorms, gradNorm };
  });
}
