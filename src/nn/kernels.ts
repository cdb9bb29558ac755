/**
 * Matrix kernels for the forward and backward passes. Row-major, explicit sizes,
 * outputs preallocated by the caller: nothing here allocates.
 *
 * Only the first rows of a buffer are used when a batch is smaller than the buffer,
 * which is why sizes are passed explicitly instead of read from the arrays.
 *
 * Loop orders are chosen so the innermost loop walks contiguous memory:
 *   matmul    out = a · b    i-p-j  (row of b streamed into a row of out)
 *   matmulTA  out = aᵀ · b   i-p-j  (rows of a and b streamed together)
 *   matmulTB  out = a · bᵀ   i-p-j  (dot products of contiguous rows)
 * Four rows of `a` are processed at once so each loaded element of `b` is used four times.
 */
import type { FloatArray } from './tensor.js';

/**
 * out[m, n] = a[m, k] · b[k, n] (+ bias[n] broadcast over rows when given, else overwrite).
 */
export function matmul(a: FloatArray, b: FloatArray, out: FloatArray, m: number, k: number, n: number, bias?: FloatArray): void {
  // initialise out with the bias rows (or zeros)
  for (let i = 0; i < m; i++) {
    const o = i * n;
    if (bias) for (let j = 0; j < n; j++) out[o + j] = bias[j]!;
    else out.fill(0, o, o + n);
  }
  let i = 0;
  for (; i + 4 <= m; i += 4) {
    const o0 = i * n, o1 = o0 + n, o2 = o1 + n, o3 = o2 + n;
    const a0 = i * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k;
    for (let p = 0; p < k; p++) {
      const x0 = a[a0 + p]!, x1 = a[a1 + p]!, x2 = a[a2 + p]!, x3 = a[a3 + p]!;
      const bp = p * n;
      for (let j = 0; j < n; j++) {
        const bv = b[bp + j]!;
        out[o0 + j]! += x0 * bv;
        out[o1 + j]! += x1 * bv;
        out[o2 + j]! += x2 * bv;
        out[o3 + j]! += x3 * bv;
      }
    }
  }
  for (; i < m; i++) {
    const o = i * n, ai = i * k;
    for (let p = 0; p < k; p++) {
      const x = a[ai + p]!;
      const bp = p * n;
      for (let j = 0; j < n; j++) out[o + j]! += x * b[bp + j]!;
    }
  }
}

/**
 * out[k, n] = a[m, k]ᵀ · b[m, n]  (overwrites out). The weight gradient: dW = xᵀ · delta.
 */
export function matmulTA(a: FloatArray, b: FloatArray, out: FloatArray, m: number, k: number, n: number): void {
  out.fill(0, 0, k * n);
  let i = 0;
  for (; i + 4 <= m; i += 4) {
    const a0 = i * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k;
    const b0 = i * n, b1 = b0 + n, b2 = b1 + n, b3 = b2 + n;
    for (let p = 0; p < k; p++) {
      const x0 = a[a0 + p]!, x1 = a[a1 + p]!, x2 = a[a2 + p]!, x3 = a[a3 + p]!;
      if (x0 === 0 && x1 === 0 && x2 === 0 && x3 === 0) continue;
      const o = p * n;
      for (let j = 0; j < n; j++) {
        out[o + j]! += x0 * b[b0 + j]! + x1 * b[b1 + j]! + x2 * b[b2 + j]! + x3 * b[b3 + j]!;
      }
    }
  }
  for (; i < m; i++) {
    const ai = i * k, bi = i * n;
    for (let p = 0; p < k; p++) {
      const x = a[ai + p]!;
      if (x === 0) continue;
      const o = p * n;
      for (let j = 0; j < n; j++) out[o + j]! += x * b[bi + j]!;
    }
  }
}

/**
 * out[m, k] = a[m, n] · b[k, n]ᵀ  (overwrites out). The input delta: dX = delta · Wᵀ.
 */
export function matmulTB(a: FloatArray, b: FloatArray, out: FloatArray, m: number, n: number, k: number): void {
  for (let i = 0; i < m; i++) {
    const ai = i * n, o = i * k;
    let p = 0;
    for (; p + 4 <= k; p += 4) {
      const b0 = p * n, b1 = b0 + n, b2 = b1 + n, b3 = b2 + n;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let j = 0; j < n; j++) {
        const x = a[ai + j]!;
        s0 += x * b[b0 + j]!;
        s1 += x * b[b1 + j]!;
        s2 += x * b[b2 + j]!;
        s3 += x * b[b3 + j]!;
      }
      out[o + p] = s0;
      out[o + p + 1] = s1;
      out[o + p + 2] = s2;
      out[o + p + 3] = s3;
    }
    for (; p < k; p++) {
      const bp = p * n;
      let s = 0;
      for (let j = 0; j < n; j++) s += a[ai + j]! * b[bp + j]!;
      out[o + p] = s;
    }
  }
}

/** out[n] = Σ_i a[i, n]  (column sums of the first m rows; overwrites out). The bias gradient. */
export function sumRows(a: FloatArray, out: FloatArray, m: number, n: number): void {
  out.fill(0, 0, n);
  for (let i = 0; i < m; i++) {
    const o = i * n;
    for (let j = 0; j < n; j++) out[j]! += a[o + j]!;
  }
}

/** Σ x² over the first n elements. */
export function sumSquares(x: FloatArray, n: number = x.length): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += x[i]! * x[i]!;
  return s;
}

/** x *= c over the first n elements. */
export function scale(x: FloatArray, c: number, n: number = x.length): void {
  for (let i = 0; i < n; i++) x[i]! *= c;
}
