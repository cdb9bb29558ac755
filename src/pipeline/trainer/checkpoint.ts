/**
 * A trainer's whole state between two steps. `Trainer.checkpoint()` takes one (copies: it stays
 * as it was), and `createTrainer({ ...config, restore })` continues from one: the same inputs
 * after it give the same steps, events and weights, bit for bit, as the trainer it was taken of.
 *
 * What is not in it: offers still waiting for room (they were never admitted, so never
 * acknowledged), calls waiting their turn (`inOrder`: answers to connections), and the handlers
 * of queued controls. The initial weights a `reset` goes back to come from the config's model.
 */
import type { Batch } from '../../nn/batch.js';
import type { OptimizerState } from '../../nn/optimizers.js';
import type { StepConfig } from '../../nn/step.js';
import type { FloatArray } from '../../nn/tensor.js';
import type { Control } from '../controls.js';
import type { WindowState } from '../metrics.js';

/** An admitted entry not yet taken effect: a whole batch, or a control in the order. */
export type CheckpointEntry = { readonly kind: 'batch'; readonly batch: Batch } | { readonly kind: 'control'; readonly control: Control };

export interface TrainerCheckpoint {
  /** Steps taken, samples trained on, batches dropped (policy dropOldest). */
  readonly steps: number;
  readonly samples: number;
  readonly dropped: number;
  /** Each layer's weights [nin, nout] and bias [nout], row-major. */
  readonly layers: readonly { readonly w: FloatArray; readonly b: FloatArray }[];
  readonly optimizerState: OptimizerState;
  /** The loss, the optimizer with its hyperparameters as `set` left them, and clipping. */
  readonly stepConfig: StepConfig;
  /** The batch size rows are cut to from now on. */
  readonly batchSize: number;
  /** The layout of `y` the first chunk fixed: class indices (true), rows of targets (false), or none yet. */
  readonly labels: boolean | undefined;
  readonly paused: boolean;
  /** `step` controls taken while paused and not yet used. */
  readonly singleSteps: number;
  /** `end()` was called: no more input; `resumeOnEnd`: with resume. */
  readonly ending: boolean;
  readonly resumeOnEnd: boolean;
  /** Admitted and not yet taken effect, in order. */
  readonly queue: readonly CheckpointEntry[];
  /** Rows held back for a partial batch, as one chunk. */
  readonly held: Batch | undefined;
  /** Controls set aside for a later step, in the order they apply. */
  readonly scheduled: readonly { readonly atStep: number; readonly control: Control }[];
  /** The running loss / accuracy window of `metrics` events. */
  readonly window: WindowState;
}
