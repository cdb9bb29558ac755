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

/** One row of the table. z, a, da, dz: [m, n], row-major. */
interface ActivationRule {
  /** a = f(z). `a` may be `z` (in place). */
  forward(z: FloatArray, a: FloatArray, m: number, n: number): void;
  /** dz = da · f'(z), given the forward's z and a. `dz` may be `da` (in place). */
  backward(z: FloatArray, a: FloatArray, da: FloatArray, dz: FloatArray, m: number, n: number): void;
}

const ACTIVATION_RULES: Readonly<Record<Activation, ActivationRule>> = {
  sigmoid: {
    // NOTE: for very negative z, e^-z overflows to Infinity and 1/(1+Inf) = 0: the right limit, no NaN.
    forward(z, a, m, n) {
      for (let i = 0, len = m * n; i < len; i++) a[i] = 1 / (1 + Math.exp(-z[i]!));
    },
    backward(_z, a, da, dz, m, n) {
      for (let i = 0, len = m * n; i < len; i++) dz[i] = da[i]! * a[i]! * (1 - a[i]!);
    },
  },
  tanh: {
    forward(z, a, m, n) {
      for (let i = 0, len = m * n; i < len; i++) a[i] = Math.tanh(z[i]!);
    },
    backward(_z, a, da, dz, m, n) {
      for (let i = 0, len = m * n; i < len; i++) dz[i] = da[i]! * (1 - a[i]! * a[i]!);
    },
  },
  relu: {
    forward(z, a, m, n) {
      for (let i = 0, len = m * n; i < len; i++) a[i] = z[i]! > 0 ? z[i]! : 0;
    },
    backward(z, _a, da, dz, m, n) {
      for (let i = 0, len = m * n; i < len; i++) dz[i] = z[i]! > 0 ? da[i]! : 0;
    },
  },
  leakyRelu: {
    forward(z, a, m, n) {
      for (let i = 0, len = m * n; i < len; i++) a[i] = z[i]! > 0 ? z[i]! : LEAKY_RELU_SLOPE * z[i]!;
    },
    backward(z, _a, da, dz, m, n) {
      for (let i = 0, len = m * n; i < len; i++) dz[i] = z[i]! > 0 ? da[i]! : LEAKY_RELU_SLOPE * da[i]!;
    },
  },
  linear: {
    forward(z, a, m, n) {
      if (a !== z) for (let i = 0, len = m * n; i < len; i++) a[i] = z[i]!;
    },
    backward(_z, _a, da, dz, m, n) {
      if (dz !== da) for (let i = 0, len = m * n; i < len; i++) dz[i] = da[i]!;
    },
  },
  softmax: {
    // NOTE: e^z overflows for z > 88 (float32) or 709 (float64); shifting each row by its max
    // makes every exponent ≤ 0, so the largest term is exactly 1 and the sum is ≥ 1.
    forward(z, a, m, n) {
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
    },
    // Jacobian-vector product of softmax: dz_j = a_j (da_j - Σ_k da_k a_k).
    backward(_z, a, da, dz, m, n) {
      for (let r = 0; r < m; r++) {
        const o = r * n;
        let dot = 0;
        for (let j = 0; j < n; j++) dot += da[o + j]! * a[o + j]!;
        for (let j = 0; j < n; j++) dz[o + j] = a[o + j]! * (da[o + j]! - dot);
      }
    },
  },
};

/** The table's row for `kind`; TypeError for a name that is not an activation. */
function rule(kind: Activation): ActivationRule {
  if (!isActivation(kind)) throw new TypeError(`Unexpected value ${String(kind)}`);
  return ACTIVATION_RULES[kind];
}

/** a = f(z) for the first m rows of n columns. `a` may be `z` (in place). */
export function activate(kind: Activation, z: FloatArray, a: FloatArray, m: number, n: number): void {
  rule(kind).forward(z, a, m, n);
}

/** dz = da · f'(z), given the forward's z and a. `dz` may be `da` (in place). */
export function activateBackward(kind: Activation, z: FloatArray, a: FloatArray, da: FloatArray, dz: FloatArray, m: number, n: number): void {
  rule(kind).backward(z, a, da, dz, m, n);
}

/** Row-wise softmax: the table's softmax forward (see its NOTE on the max shift). */
export function softmaxRows(z: FloatArray, a: FloatArray, m: number, n: number): void {
  ACTIVATION_RULES.softmax.forward(z, a, m, n);
}

export function assertNever(x: never): never {
  throw new TypeError(`Unexpected value ${String(x)}`);
}
