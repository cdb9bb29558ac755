/**
 * The value that flows between forward() → loss() → delta() → update(): one batch on its
 * way through one training step. Its buffers live in a workspace owned by the forward()
 * operator's subscription and are valid until the next batch enters forward().
 */
import type { Targets } from '../nn/losses.js';
import type { Mlp } from '../nn/mlp.js';
import type { Workspace } from '../nn/step.js';
import type { FloatArray } from '../nn/tensor.js';

export interface PassContext {
  readonly model: Mlp;
  readonly ws: Workspace;
  /** Number of batches that have entered forward(); a pass whose seq is not the latest is stale. */
  seq: number;
}

export interface Pass {
  readonly ctx: PassContext;
  readonly seq: number;
  readonly x: FloatArray;
  readonly targets: Targets;
  readonly m: number;
  /** Output activations [m, nout] (a view of the workspace). */
  readonly output: FloatArray;
}

export interface LossPass extends Pass {
  readonly loss: number;
  /** dL/dz of the output layer, [m, nout] (a view of the workspace). */
  readonly outputDelta: FloatArray;
}

export interface DeltaPass extends LossPass {
  /** Per-layer gradient L2 norms. */
  readonly gradNorms: Float64Array;
  readonly gradNorm: number;
}
