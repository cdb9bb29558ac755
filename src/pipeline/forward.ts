import { defer, map, type OperatorFunction } from 'rxjs';
import { checkBatch, type Batch } from '../nn/batch.js';
import { createWorkspace, forwardInto } from '../nn/step.js';
import type { Mlp } from '../nn/mlp.js';
import type { Pass, PassContext } from './pass.js';

/**
 * Runs the forward pass of `model` on each batch and emits the activations.
 *
 *   batches: --b1--b2--|
 *   result:  --p1--p2--|      p = { x, targets, m, output, ctx }
 *
 * The model is the live one: when `update()` follows in the same chain it writes the new
 * weights into these same arrays, so batch n+1 sees the weights batch n produced. Keep the
 * four operators synchronous end to end (put asynchronous work before `forward()`); pass
 * `cloneModel(m)` to keep your copy untouched.
 *
 * @param model  an MLP from `mlp()` / `mlpFromWeights()`; trained in place by a following `update()`.
 * @example
 *   batches$.pipe(forward(model), loss('crossEntropy'), delta(), update(sgd({ lr: 0.5 })))
 */
export function forward(model: Mlp): OperatorFunction<Batch, Pass> {
  return function forwardOperator(source) {
    return defer(() => {
      const ctx: PassContext = { model, ws: createWorkspace(model, 1), seq: 0 };
      return source.pipe(
        map((batch) => {
          const { m, targets } = checkBatch(model, batch);
          const output = forwardInto(model, ctx.ws, batch.x.data, m);
          return { ctx, seq: ++ctx.seq, x: batch.x.data, targets, m, output };
        }),
      );
    });
  };
}
