/**
 * Activations, each forward beside its backward, as a table: one row per function.
 *
 *   name       forward a = f(z)                 backward dz = da · f'(z), written with a where possible
 *   sigmoid    1 / (1 + e^-z)                   a (1 - a)
 *   tanh       tanh z                           1 - a²
 *   relu       max(0, z)                        z > 0 ? 1 : 0
 *   leakyRelu  z > 0 ? z : 0.01 z               z > 0 ? 1 : 0.01      (slope as PyTorch's default)
 *   linear     z                                1
 *   softmax    e^(z - max z) / Σ e^(z - max z)  a ⊙ (da - Σ da ⊙ a)   (row-wise; output layer only)
 *
 * All functions work on the first `m` rows of `n` columns and never allocate.
 */
import type { FloatArray } from './tensor.js';

export type Activation = 'sigmoid' | 'tanh' | 'relu' | 'leakyRelu' | 'linear' | 'softmax';

export const ACTIVATIONS: readonly Activation[] = ['sigmoid', 'tanh', 'relu', 'leakyRelu', 'linear', 'softmax'];

export const LEAKY_RELU_SLOPE = 0.01;

export function isActivation(value: unknown): value is Activation {
  return typeof value === 'string' && (ACTIVATIONS as readonly string[]).includes(value);
}

/** a = f(z) for the first m rows of n columns. `a` may be `z` (in place) except for none. */
export function activate(kind: Activation, z: FloatArray, a: FloatArray, m: number, n: number): void {
  const len = m * n;
  switch (kind) {
    case 'sigmoid':
      // NOTE: for very negative z, e^-z overflows to Infinity and 1/(1+Inf) = 0: the right limit, no NaN.
      for (let i = 0; i < len; i++) a[i] = 1 / (1 + Math.exp(-z[i]!));
      return;
    case 'tanh':
      for (let i = 0; i < len; i++) a[i] = Math.tanh(z[i]!);
      return;
    case 'relu':
      for (let i = 0; i < len; i++) a[i] = z[i]! > 0 ? z[i]! : 0;
      return;
    case 'leakyRelu':
      for (let i = 0; i < len; i++) a[i] = z[i]! > 0 ? z[i]! : LEAKY_RELU_SLOPE * z[i]!;
      return;
    case 'linear':
      if (a !== z) for (let i = 0; i < len; i++) a[i] = z[i]!;
      return;
    case 'softmax':
      softmaxRows(z, a, m, n);
      return;
    default:
      return assertNever(kind);
  }
}

/**
 * dz = da · f'(z), given the forward's z and a. `dz` may be `da` (in place).
 */
export function activateBackward(kind: Activation, z: FloatArray, a: FloatArray, da: FloatArray, dz: FloatArray, m: number, n: number): void {
  const len = m * n;
  switch (kind) {
    case 'sigmoid':
      for (let i = 0; i < len; i++) dz[i] = da[i]! * a[i]! * (1 - a[i]!);
      return;
    case 'tanh':
      for (let i = 0; i < len; i++) dz[i] = da[i]! * (1 - a[i]! * a[i]!);
      return;
    case 'relu':
      for (let i = 0; i < len; i++) dz[i] = z[i]! > 0 ? da[i]! : 0;
      return;
    case 'leakyRelu':
      for (let i = 0; i < len; i++) dz[i] = z[i]! > 0 ? da[i]! : LEAKY_RELU_SLOPE * da[i]!;
      return;
    case 'linear':
      if (dz !== da) for (let i = 0; i < len; i++) dz[i] = da[i]!;
      return;
    case 'softmax':
      // Jacobian-vector product of softmax: dz_j = a_j (da_j - Σ_k da_k a_k).
      for (let r = 0; r < m; r++) {
        const o = r * n;
        let dot = 0;
        for (let j = 0; j < n; j++) dot += da[o + j]! * a[o + j]!;
        for (let j = 0; j < n; j++) dz[o + j] = a[o + j]! * (da[o + j]! - dot);
      }
      return;
    default:
      return assertNever(kind);
  }
}

/**
 * Row-wise softmax.
 * NOTE: e^z overflows for z > 88 (float32) or 709 (float64); shifting each row by its max
 * makes every exponent ≤ 0, so the largest term is exactly 1 and the sum is ≥ 1.
 */
export function softmaxRows(z: FloatArray, a: FloatArray, m: number, n: number): void {
  for (let r = 0; r < m; r++) {
    const o = r * n;
    let max = -Infinity;
    for (let j = 0; j < n; j++) if (z[o + j]! > max) max = z[o + j]!;
    let sum = 0;
    for (let j = 0; j < n; j++) {
      const e = Math.exp(z[o + j]! - max);
      a[o + j] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let j = 0; j < n; j++) a[o + j]! *= inv;
  }
}

export function assertNever(x: never): never {
  throw new TypeError(`Unexpected value ${String(x)}`);
}
