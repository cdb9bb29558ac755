import { map, scan, type OperatorFunction } from 'rxjs';
import type { Mlp } from '../nn/mlp.js';
import type { Optimizer, OptimizerState } from '../nn/optimizers.js';
import { checkClipNorm, checkOptimizerState, cloneOptimizerState, gradientList, newOptimizerState, parameters, updateInto, type StepInfo, type UpdateConfig } from '../nn/step.js';
import { assertFresh } from './stale.js';
import type { DeltaPass } from './pass.js';

/** Model and optimizer state after one update, and what the step did. */
export interface TrainState {
  readonly model: Mlp;
  readonly state: OptimizerState;
  readonly info: StepInfo;
}

export interface UpdateOptions {
  /** Clip to this global gradient norm first (PyTorch clip_grad_norm_). */
  readonly clipNorm?: number;
  /** Resume from this optimizer state instead of a fresh one. */
  readonly state?: OptimizerState;
}

/**
 * Applies one optimizer step per gradient batch and emits the updated model. Batches whose
 * loss or gradients are not finite are not applied (`info.applied` false).
 *
 *   grads:  --g--g--|
 *   result: --m--m--|
 *
 * @param optimizer  created by `sgd()` / `adam()` / `adamw()`; its state lives in the scan, not in a global.
 * @param options    clipping and an optional state to resume from.
 * @example
 *   batches$.pipe(forward(model), loss('sse'), delta(), update(sgd({ lr: 1 })))
 */
export function update(optimizer: Optimizer, options: UpdateOptions = {}): OperatorFunction<DeltaPass, TrainState> {
  type Acc = { state: OptimizerState | undefined; out: TrainState | undefined };
  const config: UpdateConfig = options.clipNorm === undefined ? { optimizer } : { optimizer, clipNorm: options.clipNorm };
  return (source) =>
    source.pipe(
      scan<DeltaPass, Acc>(
        function applyUpdate(acc, pass): Acc {
          assertFresh(pass, 'update');
          const { model, ws } = pass.ctx;
          if (acc.state === undefined) {
            checkClipNorm(options.clipNorm);
            if (options.state) checkOptimizerState(model, optimizer, options.state);
          }
          // a resumed state is copied: subscribing twice resumes twice from the same point
          const state = acc.state ?? (options.state ? cloneOptimizerState(options.state) : newOptimizerState(model, optimizer));
          const info: StepInfo = {
            loss: pass.loss,
            batchSize: pass.m,
            gradNorms: pass.gradNorms,
            gradNorm: pass.gradNorm,
            lr: NaN,
            applied: false,
            skipReason: undefined,
          };
          updateInto(config, state, parameters(model), gradientList(ws), info);
          return { state, out: { model, state, info } };
        },
        { state: undefined, out: undefined },
      ),
      map((acc) => acc.out!),
    );
}
