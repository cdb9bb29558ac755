/**
 * Losses, each value beside its gradient. What the step needs is the output delta,
 * dL/dz for the output layer's pre-activation z (the tutorial's `delta2`), so every loss
 * here produces that directly, going through the output activation's backward when the
 * pair is not fused.
 *
 *   name          value L                                   delta dL/dz
 *   sse           ½ Σ (a - t)²                              (a - t) · f'(z)     the tutorial: error = output - y
 *   mse           Σ (a - t)² / (m·n)                        2 (a - t) / (m·n) · f'(z)      (PyTorch MSELoss)
 *   bce           mean of max(z,0) - z·t + log(1 + e^-|z|)  (a - t) / (m·n)    sigmoid output only (BCEWithLogitsLoss)
 *   crossEntropy  mean over rows of -Σ t log softmax(z)     (a·Σt - t) / m      softmax output only (CrossEntropyLoss)
 *
 * NOTE: bce and crossEntropy are fused with their activation. Computing log(a) from a
 * float32 sigmoid or softmax output loses everything once a rounds to 0 or 1 (log 0 = -Inf,
 * and the chain-rule product 0 · Inf is NaN); written in terms of z they stay finite and exact.
 *
 * Targets are either values (m × n, e.g. one-hot rows or regression targets) or class
 * indices (m labels), which mean one-hot rows.
 */
import { activateBackward, assertNever, type Activation } from './activations.js';
import type { FloatArray } from './tensor.js';

export type LossName = 'sse' | 'mse' | 'bce' | 'crossEntropy';

export const LOSSES: readonly LossName[] = ['sse', 'mse', 'bce', 'crossEntropy'];

export function isLossName(value: unknown): value is LossName {
  return typeof value === 'string' && (LOSSES as readonly string[]).includes(value);
}

/** Targets of a batch: one value per output (`values`, m × n) or one class index per row (`labels`, m). */
export interface Targets {
  readonly labels: boolean;
  readonly data: FloatArray | Int32Array;
}

/** The output activation a loss needs, or undefined when any will do. */
export function requiredActivation(loss: LossName): Activation | undefined {
  return loss === 'bce' ? 'sigmoid' : loss === 'crossEntropy' ? 'softmax' : undefined;
}

/**
 * Loss value over the first m rows, and the output delta dL/dz written to `dz`.
 * `z` and `a` are the output layer's pre-activation and activation (m × n).
 */
export function lossAndDelta(
  loss: LossName,
  activation: Activation,
  z: FloatArray,
  a: FloatArray,
  t: Targets,
  dz: FloatArray,
  m: number,
  n: number,
): number {
  const out = new Float64Array(1);
  lossAndDeltaInto(loss, activation, z, a, t, dz, m, n, out);
  return out[0]!;
}

/**
 * `lossAndDelta` writing the loss to out[0] instead of returning it: the training step's form.
 * NOTE: V8 boxes a double returned from a call it does not inline (16 bytes a step); a store
 * into a Float64Array allocates nothing.
 */
export function lossAndDeltaInto(
  loss: LossName,
  activation: Activation,
  z: FloatArray,
  a: FloatArray,
  t: Targets,
  dz: FloatArray,
  m: number,
  n: number,
  out: Float64Array,
): void {
  const y = t.data;
  const labels = t.labels;
  switch (loss) {
    case 'sse':
    case 'mse': {
      const c = loss === 'sse' ? 1 : 2 / (m * n);
      let sum = 0;
      for (let i = 0; i < m; i++) {
        const o = i * n;
        for (let j = 0; j < n; j++) {
          const target = labels ? (y[i] === j ? 1 : 0) : y[o + j]!;
          const e = a[o + j]! - target;
          sum += e * e;
          dz[o + j] = c * e;
        }
      }
      activateBackward(activation, z, a, dz, dz, m, n);
      out[0] = loss === 'sse' ? 0.5 * sum : sum / (m * n);
      return;
    }
    case 'bce': {
      const c = 1 / (m * n);
      let sum = 0;
      for (let i = 0; i < m; i++) {
        const o = i * n;
        for (let j = 0; j < n; j++) {
          const target = labels ? (y[i] === j ? 1 : 0) : y[o + j]!;
          const zz = z[o + j]!;
          sum += Math.max(zz, 0) - zz * target + Math.log1p(Math.exp(-Math.abs(zz)));
          dz[o + j] = c * (a[o + j]! - target);
        }
      }
      out[0] = sum * c;
      return;
    }
    case 'crossEntropy': {
      const c = 1 / m;
      let sum = 0;
      for (let i = 0; i < m; i++) {
        const o = i * n;
        // log softmax(z)_j = z_j - max - log Σ e^(z_k - max)
        let max = -Infinity;
        for (let j = 0; j < n; j++) if (z[o + j]! > max) max = z[o + j]!;
        let s = 0;
        for (let j = 0; j < n; j++) s += Math.exp(z[o + j]! - max);
        const logSum = Math.log(s) + max;
        if (labels) {
          const label = y[i]!;
          sum += logSum - z[o + label]!;
          for (let j = 0; j < n; j++) dz[o + j] = c * (a[o + j]! - (j === label ? 1 : 0));
        } else {
          let tsum = 0;
          for (let j = 0; j < n; j++) {
            const target = y[o + j]!;
            tsum += target;
            if (target !== 0) sum += target * (logSum - z[o + j]!);
          }
          for (let j = 0; j < n; j++) dz[o + j] = c * (a[o + j]! * tsum - y[o + j]!);
        }
      }
      out[0] = sum * c;
      return;
    }
    default:
      return assertNever(loss);
  }
}
