/**
 * The contract between the WebAssembly kernels (`assembly/kernels.ts`, AssemblyScript, built by
 * `npm run build:kernels` into `kernels-wasm.ts`) and the TypeScript that drives them (`stepper.ts`,
 * `pool.ts`).
 *
 * Conventions, for every export:
 * - Pointers are byte offsets into the one shared `WebAssembly.Memory` the module imports as
 *   `env.memory`; matrices are float32, row-major, rows packed (the row stride is the column count).
 * - Every buffer the driver hands a kernel starts 16-byte aligned and is followed by at least
 *   `SLACK_BYTES` readable bytes of unspecified content: a kernel may load whole v128s past the end
 *   of a row or of a buffer (and ignore those lanes), but stores only inside its output's elements.
 * - Arithmetic is float32 (f32x4 lanes and f32 scalars), never fused multiply-add, so a result
 *   depends only on the inputs and never on the machine, the tile or the thread that computed it.
 * - Each output element of a matrix product is one sum taken in index order (bias first when there
 *   is one): `s = bias; s += x₀·w₀; s += x₁·w₁; …`, rounded to float32 at every add. The vector,
 *   edge and remainder paths all keep that order, so how a product is split among threads (the
 *   column or row ranges below) cannot change a bit of it.
 * - Ranges [j0, j1) / [p0, p1) / [i0, i1) select the part of the output this call computes; the
 *   driver gives each thread a disjoint part. A range start is a multiple of 8; its end is a
 *   multiple of 8 or the full size.
 */

/** Readable bytes after every buffer (see the conventions above). */
export const SLACK_BYTES = 64;

/**
 * Bytes of a thread's scratch: `forward`, `backwardInput` and `weightGrad` copy blocks of their B
 * operand there when B's rows are a multiple of 256 bytes apart (W3's 1 KiB rows), whose lines would
 * otherwise fall into a few of L1's sets and evict each other. Each thread passes its own (0 or
 * none: no copy); it never changes a result. (The pool clears the argument slots a call leaves out,
 * so a left-out scratch is 0 there too.)
 */
export const SCRATCH_BYTES = 16384;

/** Activation codes of `forward` and `backwardInput`. Softmax is never fused: the loss kernel does it. */
export const ACT = { linear: 0, sigmoid: 1, tanh: 2, relu: 3, leakyRelu: 4 } as const;
export type ActCode = (typeof ACT)[keyof typeof ACT];

export interface KernelExports {
  /**
   * z[i, j] = bias[j] + Σ_t x[i, t]·w[t, j] (t in order), then a[i, j] = f(z[i, j]) for rows i < m
   * and columns j in [j0, j1). x [m, k], w [k, n], bias [n], z and a [m, n]. For `linear` a may be z
   * (then it is written once). f: sigmoid 1/(1 + e^−z), tanh, relu max(z, 0) (z > 0 ? z : 0),
   * leakyRelu z > 0 ? z : 0.01·z.
   */
  forward(x: number, w: number, bias: number, z: number, a: number, m: number, k: number, n: number, act: ActCode, j0: number, j1: number, scratch?: number): void;
  /**
   * dzp[i, p] = (Σ_j dz[i, j]·wt[j, p]) · f′ for rows i < m and columns p in [j0, j1), the sum in
   * order j. dz [m, n], wt [n, k] (the layer's weights transposed: `transpose` below), zp and ap
   * [m, k] the previous layer's pre-activation and activation, dzp [m, k]. f′: sigmoid ap(1 − ap),
   * tanh 1 − ap², relu zp > 0 ? (the sum) : 0, leakyRelu zp > 0 ? (the sum) : 0.01·(the sum), linear 1.
   */
  backwardInput(dz: number, wt: number, zp: number, ap: number, dzp: number, m: number, n: number, k: number, act: ActCode, j0: number, j1: number, scratch?: number): void;
  /** dst[c, r] = src[r, c] for src [rows, cols]. */
  transpose(src: number, dst: number, rows: number, cols: number): void;
  /** dw[p, j] = Σ_i x[i, p]·dz[i, j] (i in order) for rows p in [p0, p1), all columns j < n. x [m, k], dz [m, n], dw [k, n]. */
  weightGrad(x: number, dz: number, dw: number, m: number, k: number, n: number, p0: number, p1: number, scratch?: number): void;
  /** db[j] = Σ_i dz[i, j] (i in order) for j < n. */
  biasGrad(dz: number, db: number, m: number, n: number): void;
  /** Σ v[i]² over i < n, each value promoted to float64 and squared and summed in float64 (a fixed order). NaN or ±Infinity when a value is not finite. */
  sumSquares(v: number, n: number): number;
  /** v[i] *= c for i < n (float32). */
  scale(v: number, n: number, c: number): void;
  /**
   * Row-wise softmax and cross-entropy against class indices. For each row i < m of z [m, n]:
   * mx = max_j z; e_j = exp(z_j − mx); s = Σ_j e_j (float32, j in order); a_j = e_j·(1/s);
   * dz_j = c·(a_j − [j = label_i]); the row's loss log(s) + mx − z_label in float64.
   * labels: i32 [m], each in [0, n). Returns Σ_i loss_i (float64, i in order); the caller multiplies by c.
   */
  softmaxXentLabels(z: number, a: number, dz: number, labels: number, m: number, n: number, c: number): number;
  /**
   * As `softmaxXentLabels`, against target rows y [m, n]: with T = Σ_j y_j, dz_j = c·(a_j·T − y_j),
   * the row's loss Σ_{j: y_j ≠ 0} y_j·(log(s) + mx − z_j) in float64.
   */
  softmaxXentValues(z: number, a: number, dz: number, y: number, m: number, n: number, c: number): number;
  /** p[i] −= lr·g[i] for i in [i0, i1) (float32: p − f32(lr·g)). */
  sgd(p: number, g: number, i0: number, i1: number, lr: number): void;
  /**
   * SGD with momentum / weight decay / Nesterov, as torch.optim.SGD, for i in [i0, i1), float32:
   * d = g + wd·p; buf = first ? d : mu·buf + (1 − damp)·d; d = nesterov ? d + mu·buf : buf; p −= lr·d.
   * mu may be 0 (then buf is neither read nor written, and d = g + wd·p).
   */
  sgdMomentum(p: number, g: number, buf: number, i0: number, i1: number, lr: number, mu: number, damp: number, wd: number, nesterov: number, first: number): void;
  /**
   * Adam / AdamW, as torch.optim, for i in [i0, i1), float32:
   * decoupled: p *= 1 − lr·wd; else d = g + wd·p (d = g when decoupled);
   * m = b1·m + (1 − b1)·d; v = b2·v + (1 − b2)·d²; p −= stepSize·m / (√v / bc2Sqrt + eps).
   * stepSize = lr / (1 − b1^t) and bc2Sqrt = √(1 − b2^t) are computed by the caller in float64.
   */
  adam(p: number, g: number, m: number, v: number, i0: number, i1: number, lr: number, b1: number, b2: number, eps: number, wd: number, decoupled: number, stepSize: number, bc2Sqrt: number): void;
  /**
   * The rows i < m of a [m, n] whose first largest value (ties to the lower index; a NaN is never
   * the largest) is at labels[i] (i32 [m]): the trainer's count of correct rows, as countCorrect.
   */
  countArgmax(a: number, labels: number, m: number, n: number): number;
}

/** The export names, in a fixed order: the worker pool sends an index into this list. */
export const KERNEL_NAMES = [
  'forward', 'backwardInput', 'transpose', 'weightGrad', 'biasGrad', 'sumSquares', 'scale',
  'softmaxXentLabels', 'softmaxXentValues', 'sgd', 'sgdMomentum', 'adam', 'countArgmax',
] as const satisfies readonly (keyof KernelExports)[];
