/**
 * Matrix kernels for the forward and backward passes. Row-major, explicit sizes,
 * outputs preallocated by the caller: nothing here allocates once its buffers have grown.
 *
 * Only the first rows of a buffer are used when a batch is smaller than the buffer,
 * which is why sizes are passed explicitly instead of read from the arrays.
 *
 *   matmul    out = a · b  (+ bias)   the forward:      z = x · W + b
 *   matmulTA  out = aᵀ · b            the weight grad:  dW = xᵀ · dz
 *   matmulTB  out = a · bᵀ            the input delta:  dx = dz · Wᵀ
 *
 * Every output element is one sum, taken in order over the inner dimension (bias first) and
 * accumulated in double precision: float64 results are the naive triple loop's to the last bit,
 * float32 results are that sum rounded once, at the store. Every path below keeps this contract,
 * so which one runs never changes a result.
 *
 * Two paths, chosen once per call:
 * - all arrays Float32Array (the default dtype, the training fast path): register-blocked.
 *   Each 4 × 4 block of `out` is summed in 16 doubles over the whole inner dimension and stored
 *   once, so every loaded element is used four times and `out` is not re-read per term. For large
 *   enough products the blocks run as WebAssembly SIMD (two double lanes per instruction; see
 *   `gemmCode`) when the runtime has it, else as JS. Edges (sizes not a multiple of 4) are one
 *   dot product per element.
 * - anything else (float64, or mixed dtypes): plain loops (see below).
 * NOTE: the split also keeps each path monomorphic. A loop that has seen both Float32Array and
 * Float64Array compiles to a type check per element access and runs about half as fast.
 */
import { SIMD, simdBlocks, worthSimd } from './simd.js';
import type { FloatArray } from './tensor.js';

/**
 * out[m, n] = a[m, k] · b[k, n] (+ bias[n] broadcast over rows when given). Overwrites out.
 */
export function matmul(a: FloatArray, b: FloatArray, out: FloatArray, m: number, k: number, n: number, bias?: FloatArray): void {
  if (a instanceof Float32Array && b instanceof Float32Array && out instanceof Float32Array && (bias === undefined || bias instanceof Float32Array)) {
    matmul32(a, b, out, m, k, n, bias);
  } else {
    matmulAny(a, b, out, m, k, n, bias);
  }
}

/**
 * out[k, n] = a[m, k]ᵀ · b[m, n]. Overwrites out.
 */
export function matmulTA(a: FloatArray, b: FloatArray, out: FloatArray, m: number, k: number, n: number): void {
  if (a instanceof Float32Array && b instanceof Float32Array && out instanceof Float32Array) matmulTA32(a, b, out, m, k, n);
  else matmulTAAny(a, b, out, m, k, n);
}

/**
 * out[m, k] = a[m, n] · b[k, n]ᵀ. Overwrites out.
 */
export function matmulTB(a: FloatArray, b: FloatArray, out: FloatArray, m: number, n: number, k: number): void {
  if (a instanceof Float32Array && b instanceof Float32Array && out instanceof Float32Array) matmulTB32(a, b, out, m, n, k);
  else matmulTBAny(a, b, out, m, n, k);
}

// ---- float32: register-blocked ----------------------------------------------------------------

// a: [m, k], b: [k, n], out: [m, n]
function matmul32(a: Float32Array, b: Float32Array, out: Float32Array, m: number, k: number, n: number, bias: Float32Array | undefined): void {
  const m4 = m - (m % 4), n4 = n - (n % 4);
  let done = n4; // columns of the first m4 rows the blocks compute
  if (SIMD !== undefined && worthSimd(m4 * n * k, a.length + b.length + out.length)) {
    simdBlocks(SIMD, a, k, 1, b, false, out, m4, k, n, bias); // x[u, t] = a[u·k + t]
    done = n;
  } else {
    matmulBlocks32(a, b, out, m4, k, n4, n, bias);
  }
  // edges: the columns the blocks left in the first m4 rows, then every column of the last m % 4 rows
  for (let i = 0; i < m; i++) {
    const ai = i * k;
    for (let j = i < m4 ? done : 0; j < n; j++) {
      let s = bias !== undefined ? bias[j]! : 0;
      for (let p = 0, bp = j; p < k; p++, bp += n) s += a[ai + p]! * b[bp]!;
      out[i * n + j] = s;
    }
  }
}

// block: rows i..i+3 × columns j..j+3 of out, summed over p; m4, n4 multiples of 4
function matmulBlocks32(a: Float32Array, b: Float32Array, out: Float32Array, m4: number, k: number, n4: number, n: number, bias: Float32Array | undefined): void {
  for (let i = 0; i < m4; i += 4) {
    const a0 = i * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k;
    for (let j = 0; j < n4; j += 4) {
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
      if (bias !== undefined) {
        c00 = bias[j]!;
        c01 = bias[j + 1]!;
        c02 = bias[j + 2]!;
        c03 = bias[j + 3]!;
      }
      let c10 = c00, c11 = c01, c12 = c02, c13 = c03;
      let c20 = c00, c21 = c01, c22 = c02, c23 = c03;
      let c30 = c00, c31 = c01, c32 = c02, c33 = c03;
      for (let p = 0, bp = j; p < k; p++, bp += n) {
        const x0 = a[a0 + p]!, x1 = a[a1 + p]!, x2 = a[a2 + p]!, x3 = a[a3 + p]!;
        const b0 = b[bp]!, b1 = b[bp + 1]!, b2 = b[bp + 2]!, b3 = b[bp + 3]!;
        c00 += x0 * b0; c01 += x0 * b1; c02 += x0 * b2; c03 += x0 * b3;
        c10 += x1 * b0; c11 += x1 * b1; c12 += x1 * b2; c13 += x1 * b3;
        c20 += x2 * b0; c21 += x2 * b1; c22 += x2 * b2; c23 += x2 * b3;
        c30 += x3 * b0; c31 += x3 * b1; c32 += x3 * b2; c33 += x3 * b3;
      }
      const o0 = i * n + j, o1 = o0 + n, o2 = o1 + n, o3 = o2 + n;
      out[o0] = c00; out[o0 + 1] = c01; out[o0 + 2] = c02; out[o0 + 3] = c03;
      out[o1] = c10; out[o1 + 1] = c11; out[o1 + 2] = c12; out[o1 + 3] = c13;
      out[o2] = c20; out[o2 + 1] = c21; out[o2 + 2] = c22; out[o2 + 3] = c23;
      out[o3] = c30; out[o3 + 1] = c31; out[o3 + 2] = c32; out[o3 + 3] = c33;
    }
  }
}

// a: [m, k], b: [m, n], out: [k, n]
function matmulTA32(a: Float32Array, b: Float32Array, out: Float32Array, m: number, k: number, n: number): void {
  const k4 = k - (k % 4), n4 = n - (n % 4);
  let done = n4; // columns of the first k4 rows of out the blocks compute
  if (SIMD !== undefined && worthSimd(k4 * n * m, a.length + b.length + out.length)) {
    simdBlocks(SIMD, a, 1, k, b, false, out, k4, m, n, undefined); // x[u, t] = a[t·k + u]
    done = n;
  } else {
    matmulTABlocks32(a, b, out, m, k, k4, n4, n);
  }
  for (let p = 0; p < k; p++) {
    for (let j = p < k4 ? done : 0; j < n; j++) {
      let s = 0;
      for (let i = 0, ai = p, bi = j; i < m; i++, ai += k, bi += n) s += a[ai]! * b[bi]!;
      out[p * n + j] = s;
    }
  }
}

// block: rows p..p+3 × columns j..j+3 of out, summed over i; k4, n4 multiples of 4
function matmulTABlocks32(a: Float32Array, b: Float32Array, out: Float32Array, m: number, k: number, k4: number, n4: number, n: number): void {
  for (let p = 0; p < k4; p += 4) {
    for (let j = 0; j < n4; j += 4) {
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      for (let i = 0, ai = p, bi = j; i < m; i++, ai += k, bi += n) {
        const x0 = a[ai]!, x1 = a[ai + 1]!, x2 = a[ai + 2]!, x3 = a[ai + 3]!;
        const b0 = b[bi]!, b1 = b[bi + 1]!, b2 = b[bi + 2]!, b3 = b[bi + 3]!;
        c00 += x0 * b0; c01 += x0 * b1; c02 += x0 * b2; c03 += x0 * b3;
        c10 += x1 * b0; c11 += x1 * b1; c12 += x1 * b2; c13 += x1 * b3;
        c20 += x2 * b0; c21 += x2 * b1; c22 += x2 * b2; c23 += x2 * b3;
        c30 += x3 * b0; c31 += x3 * b1; c32 += x3 * b2; c33 += x3 * b3;
      }
      const o0 = p * n + j, o1 = o0 + n, o2 = o1 + n, o3 = o2 + n;
      out[o0] = c00; out[o0 + 1] = c01; out[o0 + 2] = c02; out[o0 + 3] = c03;
      out[o1] = c10; out[o1 + 1] = c11; out[o1 + 2] = c12; out[o1 + 3] = c13;
      out[o2] = c20; out[o2 + 1] = c21; out[o2 + 2] = c22; out[o2 + 3] = c23;
      out[o3] = c30; out[o3 + 1] = c31; out[o3 + 2] = c32; out[o3 + 3] = c33;
    }
  }
}

// a: [m, n], b: [k, n], out: [m, k]
function matmulTB32(a: Float32Array, b: Float32Array, out: Float32Array, m: number, n: number, k: number): void {
  const m4 = m - (m % 4), k4 = k - (k % 4);
  let done = k4; // columns of the first m4 rows the blocks compute
  if (SIMD !== undefined && worthSimd(m4 * k * n, a.length + b.length + out.length)) {
    simdBlocks(SIMD, a, n, 1, b, true, out, m4, n, k, undefined); // x[u, t] = a[u·n + t], B[t, p] = b[p·n + t]
    done = k;
  } else {
    matmulTBBlocks32(a, b, out, m4, n, k4, k);
  }
  for (let i = 0; i < m; i++) {
    const ai = i * n;
    for (let p = i < m4 ? done : 0; p < k; p++) {
      const bp = p * n;
      let s = 0;
      for (let j = 0; j < n; j++) s += a[ai + j]! * b[bp + j]!;
      out[i * k + p] = s;
    }
  }
}

// block: rows i..i+3 × columns p..p+3 of out, summed over j; m4, k4 multiples of 4
function matmulTBBlocks32(a: Float32Array, b: Float32Array, out: Float32Array, m4: number, n: number, k4: number, k: number): void {
  for (let i = 0; i < m4; i += 4) {
    const a0 = i * n, a1 = a0 + n, a2 = a1 + n, a3 = a2 + n;
    for (let p = 0; p < k4; p += 4) {
      const b0 = p * n, b1 = b0 + n, b2 = b1 + n, b3 = b2 + n;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      for (let j = 0; j < n; j++) {
        const x0 = a[a0 + j]!, x1 = a[a1 + j]!, x2 = a[a2 + j]!, x3 = a[a3 + j]!;
        const y0 = b[b0 + j]!, y1 = b[b1 + j]!, y2 = b[b2 + j]!, y3 = b[b3 + j]!;
        c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3;
        c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3;
        c20 += x2 * y0; c21 += x2 * y1; c22 += x2 * y2; c23 += x2 * y3;
        c30 += x3 * y0; c31 += x3 * y1; c32 += x3 * y2; c33 += x3 * y3;
      }
      const o0 = i * k + p, o1 = o0 + k, o2 = o1 + k, o3 = o2 + k;
      out[o0] = c00; out[o0 + 1] = c01; out[o0 + 2] = c02; out[o0 + 3] = c03;
      out[o1] = c10; out[o1 + 1] = c11; out[o1 + 2] = c12; out[o1 + 3] = c13;
      out[o2] = c20; out[o2 + 1] = c21; out[o2 + 2] = c22; out[o2 + 3] = c23;
      out[o3] = c30; out[o3 + 1] = c31; out[o3 + 2] = c32; out[o3 + 3] = c33;
    }
  }
}

// ---- any dtype: plain loops ---------------------------------------------------------------------
// With a float64 out, accumulating in out is the double-precision sum, so the loops can stream rows
// (i-p-j). A float32 out among mixed dtypes would round every partial sum there: it gets one dot
// product per element instead, summed in a local double (slower, and rare: a float64 batch given to
// a float32 model).

function matmulAny(a: FloatArray, b: FloatArray, out: FloatArray, m: number, k: number, n: number, bias: FloatArray | undefined): void {
  if (!(out instanceof Float64Array)) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = bias !== undefined ? bias[j]! : 0;
        for (let p = 0; p < k; p++) s += a[i * k + p]! * b[p * n + j]!;
        out[i * n + j] = s;
      }
    }
    return;
  }
  for (let i = 0; i < m; i++) {
    const o = i * n, ai = i * k;
    if (bias !== undefined) for (let j = 0; j < n; j++) out[o + j] = bias[j]!;
    else out.fill(0, o, o + n);
    for (let p = 0; p < k; p++) {
      const x = a[ai + p]!;
      const bp = p * n;
      for (let j = 0; j < n; j++) out[o + j]! += x * b[bp + j]!;
    }
  }
}

function matmulTAAny(a: FloatArray, b: FloatArray, out: FloatArray, m: number, k: number, n: number): void {
  if (!(out instanceof Float64Array)) {
    for (let p = 0; p < k; p++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let i = 0; i < m; i++) s += a[i * k + p]! * b[i * n + j]!;
        out[p * n + j] = s;
      }
    }
    return;
  }
  out.fill(0, 0, k * n);
  for (let i = 0; i < m; i++) {
    const ai = i * k, bi = i * n;
    for (let p = 0; p < k; p++) {
      const x = a[ai + p]!;
      const o = p * n;
      for (let j = 0; j < n; j++) out[o + j]! += x * b[bi + j]!;
    }
  }
}

function matmulTBAny(a: FloatArray, b: FloatArray, out: FloatArray, m: number, n: number, k: number): void {
  for (let i = 0; i < m; i++) {
    const ai = i * n, o = i * k;
    for (let p = 0; p < k; p++) {
      const bp = p * n;
      let s = 0;
      for (let j = 0; j < n; j++) s += a[ai + j]! * b[bp + j]!;
      out[o + p] = s;
    }
  }
}

// ---- reductions ---------------------------------------------------------------------------------

/** out[n] = Σ_i a[i, n]  (column sums of the first m rows; overwrites out). The bias gradient. */
export function sumRows(a: FloatArray, out: FloatArray, m: number, n: number): void {
  out.fill(0, 0, n);
  for (let i = 0; i < m; i++) {
    const o = i * n;
    for (let j = 0; j < n; j++) out[j]! += a[o + j]!;
  }
}

/** x *= c over the first n elements. */
export function scale(x: FloatArray, c: number, n: number = x.length): void {
  for (let i = 0; i < n; i++) x[i]! *= c;
}
