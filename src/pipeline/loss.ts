import { map, type OperatorFunction } from 'rxjs';
import { checkLossFits, lossInto } from '../nn/step.js';
import { isLossName, LOSSES, type LossName } from '../nn/losses.js';
import { describe } from '../errors.js';
import { assertFresh } from './stale.js';
import type { LossPass, Pass } from './pass.js';

/**
 * Computes the loss of each forward pass and the output delta dL/dz (the tutorial's `delta2`).
 *
 *   passes: --p1--p2--|
 *   result: --l1--l2--|      l = p + { loss, outputDelta }
 *
 * @param kind  `sse`, `mse`, `bce` (sigmoid output) or `crossEntropy` (softmax output);
 *              a mismatch with the model's output activation errors on the first pass.
 * @example
 *   batches$.pipe(forward(model), loss('sse'))
 */
export function loss(kind: LossName): OperatorFunction<Pass, LossPass> {
  if (!isLossName(kind)) throw new TypeError(`Expected loss one of ${LOSSES.join(', ')}, got ${describe(kind)}`);
  return map(function lossOf(pass: Pass): LossPass {
    assertFresh(pass, 'loss');
    const { model, ws } = pass.ctx;
    checkLossFits(model, kind);
    const value = lossInto(model, ws, kind, pass.targets, pass.m);
    return { ...pass, loss: value, outputDelta: ws.dz[model.layers.length - 1]! };
  });
}
