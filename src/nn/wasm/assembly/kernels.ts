/**
 * livegrad's WebAssembly SIMD128 kernels: the module's entry, one export per kernel of
 * `../abi.ts` (`KernelExports`; its conventions hold here: byte pointers into the imported shared
 * memory, 64 readable bytes after every buffer, float32 arithmetic without fused multiply-add,
 * ranges that split work among threads without changing a bit).
 *
 * Built by `npm run build:kernels` (scripts/build-kernels.ts) into `../kernels-wasm.ts`. The module
 * has no globals that change, no data segment and no allocator: each thread instantiates it over
 * the same memory and every call works only on the memory its arguments point at.
 *
 * Per-element kernels go four lanes at a time, the last 1–3 elements of a range or row too (loaded
 * as a whole vector, stored lane by lane), so a value's arithmetic never depends on where it sits.
 */
import { BACKWARD, FORWARD, PLAIN, gemm, needsExp } from './gemm';
import { EXP, log64, mapExp } from './math';
import { laneMask, storeN } from './lanes';

/**
 * z = bias + x·w (each sum bias first, then t in order), a = f(z), for columns [j0, j1).
 * x [m, k], w [k, n], bias [n], z and a [m, n]; a may be z when act is linear (z is then written
 * once); neither may be x, w or bias (for k > 256, z holds partial sums along the way).
 * scratch (an addition to abi.ts; every caller must pass it, 0 for none: the worker pool calls
 * with 16 argument slots, so a left-out argument would be a stale value): 16 KiB (SCRATCH_BYTES),
 * 16-byte aligned, this thread's own; blocks of w are copied there first when w's rows are a
 * multiple of 256 bytes apart (see gemm.ts). Results are the same bits with or without it.
 */
export function forward(x: usize, w: usize, bias: usize, z: usize, a: usize, m: i32, k: i32, n: i32, act: i32, j0: i32, j1: i32, scratch: usize): void {
  // A = x: row i at x + 4k·i, step t at +4; B = w: row t at w + 4n·t
  gemm(false, FORWARD, act, x, <usize>k * 4, 4, w, <usize>n * 4, k, 0, m, j0, j1, <usize>n * 4, bias, z, a, 0, scratch);
  // sigmoid and tanh: a = f(z) over the whole range at the end (z of a W2 layer, 8 KB, is still in L1)
  if (needsExp(act)) mapExp(act, z + <usize>j0 * 4, a + <usize>j0 * 4, m, j1 - j0, <usize>n * 4, 0);
}

/**
 * dzp = (dz·wt) ⊙ f′ for columns [j0, j1) of dzp [m, k]. dz [m, n], wt [n, k], zp and ap [m, k].
 * dzp must not be zp or ap: for n > 256 it holds partial sums before f′ is applied. scratch: as
 * forward's.
 */
export function backwardInput(dz: usize, wt: usize, zp: usize, ap: usize, dzp: usize, m: i32, n: i32, k: i32, act: i32, j0: i32, j1: i32, scratch: usize): void {
  gemm(false, BACKWARD, act, dz, <usize>n * 4, 4, wt, <usize>k * 4, n, 0, m, j0, j1, <usize>k * 4, 0, zp, ap, dzp, scratch);
}

/**
 * dw = xᵀ·dz for rows [p0, p1) of dw [k, n]. x [m, k] is read transposed in place: row p of xᵀ is
 * column p of x (A stride 4 between rows, 4k between steps), so 4 rows of a tile are 16 adjacent bytes.
 * scratch: as forward's (used when dz's rows are a multiple of 256 bytes apart and m ≤ 256).
 */
export function weightGrad(x: usize, dz: usize, dw: usize, m: i32, k: i32, n: i32, p0: i32, p1: i32, scratch: usize): void {
  gemm(true, PLAIN, 0, x, 4, <usize>k * 4, dz, <usize>n * 4, m, p0, p1, 0, n, <usize>n * 4, 0, dw, 0, 0, scratch);
}

/** dst [cols, rows] = srcᵀ, src [rows, cols]: 4 × 4 blocks through registers, the edges one by one. */
export function transpose(src: usize, dst: usize, rows: i32, cols: i32): void {
  const sr = <usize>cols * 4, dr = <usize>rows * 4; // row strides in bytes
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    const s = src + <usize>r * sr;
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const p = s + <usize>c * 4;
      const v0 = v128.load(p), v1 = v128.load(p + sr), v2 = v128.load(p + 2 * sr), v3 = v128.load(p + 3 * sr);
      const t0 = i32x4.shuffle(v0, v1, 0, 4, 1, 5), t1 = i32x4.shuffle(v0, v1, 2, 6, 3, 7);
      const t2 = i32x4.shuffle(v2, v3, 0, 4, 1, 5), t3 = i32x4.shuffle(v2, v3, 2, 6, 3, 7);
      const d = dst + <usize>c * dr + <usize>r * 4;
      v128.store(d, i32x4.shuffle(t0, t2, 0, 1, 4, 5));
      v128.store(d + dr, i32x4.shuffle(t0, t2, 2, 3, 6, 7));
      v128.store(d + 2 * dr, i32x4.shuffle(t1, t3, 0, 1, 4, 5));
      v128.store(d + 3 * dr, i32x4.shuffle(t1, t3, 2, 3, 6, 7));
    }
    for (; c < cols; c++) {
      for (let q = 0; q < 4; q++) store<f32>(dst + <usize>c * dr + <usize>(r + q) * 4, load<f32>(s + <usize>q * sr + <usize>c * 4));
    }
  }
  for (; r < rows; r++) {
    for (let c = 0; c < cols; c++) store<f32>(dst + <usize>c * dr + <usize>r * 4, load<f32>(src + <usize>r * sr + <usize>c * 4));
  }
}

/**
 * db[j] = Σ_i dz[i, j] (from +0, i in order) for j < n. dz [m, n]. Sixteen columns at a time: four
 * independent chains of adds keep the adder busy (one chain waits 3–4 cycles on each add).
 */
export function biasGrad(dz: usize, db: usize, m: i32, n: i32): void {
  const stride = <usize>n * 4;
  let j = 0;
  for (; j + 16 <= n; j += 16) {
    let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0;
    let p = dz + <usize>j * 4;
    for (let i = 0; i < m; i++) {
      s0 = f32x4.add(s0, v128.load(p));
      s1 = f32x4.add(s1, v128.load(p, 16));
      s2 = f32x4.add(s2, v128.load(p, 32));
      s3 = f32x4.add(s3, v128.load(p, 48));
      p += stride;
    }
    const q = db + <usize>j * 4;
    v128.store(q, s0);
    v128.store(q, s1, 16);
    v128.store(q, s2, 32);
    v128.store(q, s3, 48);
  }
  for (; j < n; j += 4) {
    let s = f32x4.splat(0);
    let p = dz + <usize>j * 4;
    for (let i = 0; i < m; i++) {
      s = f32x4.add(s, v128.load(p));
      p += stride;
    }
    storeN(db + <usize>j * 4, s, n - j);
  }
}

/**
 * Σ v[i]² in float64: eight running sums (lanes of four f64x2) over blocks of 8 values, added up
 * in a fixed order, then the last n mod 8 values one by one. A fixed order for a given n.
 */
export function sumSquares(v: usize, n: i32): f64 {
  let s0 = f64x2.splat(0), s1 = s0, s2 = s0, s3 = s0;
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const p = v + <usize>i * 4;
    const x0 = v128.load(p), x1 = v128.load(p, 16);
    const d0 = f64x2.promote_low_f32x4(x0), d1 = f64x2.promote_low_f32x4(i32x4.shuffle(x0, x0, 2, 3, 2, 3));
    const d2 = f64x2.promote_low_f32x4(x1), d3 = f64x2.promote_low_f32x4(i32x4.shuffle(x1, x1, 2, 3, 2, 3));
    s0 = f64x2.add(s0, f64x2.mul(d0, d0));
    s1 = f64x2.add(s1, f64x2.mul(d1, d1));
    s2 = f64x2.add(s2, f64x2.mul(d2, d2));
    s3 = f64x2.add(s3, f64x2.mul(d3, d3));
  }
  const t = f64x2.add(f64x2.add(s0, s1), f64x2.add(s2, s3));
  let s = f64x2.extract_lane(t, 0) + f64x2.extract_lane(t, 1);
  for (; i < n; i++) {
    const x = <f64>load<f32>(v + <usize>i * 4);
    s += x * x;
  }
  return s;
}

/** v[i] *= c for i < n. */
export function scale(v: usize, n: i32, c: f32): void {
  const cv = f32x4.splat(c);
  for (let i = 0; i < n; i += 4) {
    const p = v + <usize>i * 4;
    storeN(p, f32x4.mul(v128.load(p), cv), n - i);
  }
}

/** v[i] = e^v[i] for i < n: the vectorized exp every kernel uses, exported so tests can sweep it. Not part of KernelExports. */
export function exp(v: usize, n: i32): void {
  mapExp(EXP, v, v, 1, n, 0, 0);
}

/** max_j z[j] over a row of n; the lanes past the row's end (the next row or the slack) are skipped. */
@inline function rowMax(z: usize, n: i32): f32 {
  const negInf = f32x4.splat(-Infinity);
  let mv = negInf;
  for (let j = 0; j < n; j += 4) {
    let v = v128.load(z + <usize>j * 4);
    if (n - j < 4) v = v128.bitselect(v, negInf, laneMask(n - j));
    mv = f32x4.max(mv, v);
  }
  return max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
}

/**
 * a[i, j] = exp(z[i, j] − mx_i) for every row: the differences first (float32), then one `mapExp`
 * over all rows (its constants set up once, not per row).
 * NOTE: shifted by the row's max so every exponent is ≤ 0: the largest e is exactly 1, the sum ≥ 1.
 */
@inline function softmaxExp(z: usize, a: usize, m: i32, n: i32): void {
  for (let i = 0; i < m; i++) {
    const o = <usize>i * 4 * <usize>n;
    const mxv = f32x4.splat(rowMax(z + o, n));
    for (let j = 0; j < n; j += 4) {
      const p = o + <usize>j * 4;
      storeN(a + p, f32x4.sub(v128.load(z + p), mxv), n - j);
    }
  }
  mapExp(EXP, a, a, m, n, <usize>n * 4, 0);
}

/** Σ_j a[j] in float32, j in order. */
@inline function rowSum(a: usize, n: i32): f32 {
  let s: f32 = 0;
  for (let j = 0; j < n; j++) s += load<f32>(a + <usize>j * 4);
  return s;
}

/**
 * Softmax + cross-entropy against class labels (i32 [m]), row by row; returns Σ_i loss_i (float64,
 * i in order). a = e·(1/s), dz = c·(a − onehot). z must not be a or dz.
 */
export function softmaxXentLabels(z: usize, a: usize, dz: usize, labels: usize, m: i32, n: i32, c: f32): f64 {
  const cv = f32x4.splat(c);
  let total: f64 = 0;
  softmaxExp(z, a, m, n);
  for (let i = 0; i < m; i++) {
    const o = <usize>i * 4 * <usize>n;
    const label = load<i32>(labels + <usize>i * 4);
    const zl = load<f32>(z + o + <usize>label * 4);
    const mx = rowMax(z + o, n);
    const s = rowSum(a + o, n);
    const inv = f32x4.splat(1 / s);
    for (let j = 0; j < n; j += 4) {
      const p = o + <usize>j * 4;
      const av = f32x4.mul(v128.load(a + p), inv);
      const hot = v128.bitselect(f32x4.splat(1.0), f32x4.splat(0), i32x4.eq(i32x4(j, j + 1, j + 2, j + 3), i32x4.splat(label)));
      storeN(a + p, av, n - j);
      storeN(dz + p, f32x4.mul(cv, f32x4.sub(av, hot)), n - j);
    }
    total += log64(<f64>s) + <f64>mx - <f64>zl;
  }
  return total;
}

/**
 * Softmax + cross-entropy against target rows y [m, n]; returns Σ_i loss_i (float64, i in order).
 * With T = Σ_j y_j (float32, in order): a = e·(1/s), dz = c·(a·T − y); loss_i = Σ_{y_j ≠ 0} y_j·(log s + mx − z_j).
 * z must not be a or dz.
 */
export function softmaxXentValues(z: usize, a: usize, dz: usize, y: usize, m: i32, n: i32, c: f32): f64 {
  const cv = f32x4.splat(c);
  let total: f64 = 0;
  softmaxExp(z, a, m, n);
  for (let i = 0; i < m; i++) {
    const o = <usize>i * 4 * <usize>n;
    const mx = rowMax(z + o, n);
    const s = rowSum(a + o, n);
    const lse = log64(<f64>s) + <f64>mx;
    let loss: f64 = 0;
    let sy: f32 = 0;
    for (let j = 0; j < n; j++) {
      const yj = load<f32>(y + o + <usize>j * 4);
      sy += yj;
      if (yj != 0) loss += <f64>yj * (lse - <f64>load<f32>(z + o + <usize>j * 4));
    }
    const inv = f32x4.splat(1 / s), tv = f32x4.splat(sy);
    for (let j = 0; j < n; j += 4) {
      const p = o + <usize>j * 4;
      const av = f32x4.mul(v128.load(a + p), inv);
      storeN(a + p, av, n - j);
      storeN(dz + p, f32x4.mul(cv, f32x4.sub(f32x4.mul(av, tv), v128.load(y + p))), n - j);
    }
    total += loss;
  }
  return total;
}

/** p[i] −= lr·g[i] for i in [i0, i1). */
export function sgd(p: usize, g: usize, i0: i32, i1: i32, lr: f32): void {
  const lrv = f32x4.splat(lr);
  for (let i = i0; i < i1; i += 4) {
    const o = <usize>i * 4;
    storeN(p + o, f32x4.sub(v128.load(p + o), f32x4.mul(lrv, v128.load(g + o))), i1 - i);
  }
}

/**
 * torch.optim.SGD with momentum, dampening, weight decay and Nesterov, for i in [i0, i1), float32
 * (see abi.ts). The weight-decay term is skipped when wd = 0 (as torch and optimizers.ts: g + 0·p
 * would turn an infinite p into NaN).
 * NOTE: the scalars come in as float64 and 1 − damp is formed in float64 before rounding to float32
 * (rounding damp first would lose digits of 1 − damp when damp is near 1).
 */
export function sgdMomentum(p: usize, g: usize, buf: usize, i0: i32, i1: i32, lr: f64, mu: f64, damp: f64, wd: f64, nesterov: i32, first: i32): void {
  const lrv = f32x4.splat(<f32>lr), muv = f32x4.splat(<f32>mu), wdv = f32x4.splat(<f32>wd), keep = f32x4.splat(<f32>(1 - damp));
  for (let i = i0; i < i1; i += 4) {
    const o = <usize>i * 4, cnt = i1 - i;
    const pv = v128.load(p + o);
    let d = v128.load(g + o);
    if (wd != 0) d = f32x4.add(d, f32x4.mul(wdv, pv));
    if (mu != 0) {
      const b = first ? d : f32x4.add(f32x4.mul(muv, v128.load(buf + o)), f32x4.mul(keep, d));
      storeN(buf + o, b, cnt);
      d = nesterov ? f32x4.add(d, f32x4.mul(muv, b)) : b;
    }
    storeN(p + o, f32x4.sub(pv, f32x4.mul(lrv, d)), cnt);
  }
}

/**
 * torch.optim.Adam / AdamW for i in [i0, i1), float32 (see abi.ts):
 * p −= stepSize·m / (√v / bc2Sqrt + eps), after m = b1·m + (1 − b1)·d, v = b2·v + ((1 − b2)·d)·d.
 * NOTE: 1 − b1, 1 − b2, 1 − lr·wd and 1 / bc2Sqrt are formed in float64 from the float64 arguments,
 * then rounded to float32: 1 − f32(0.999) would be 1.3·10⁻⁵ off in relative terms. √v is multiplied
 * by 1 / bc2Sqrt rather than divided by bc2Sqrt (one division a value instead of two: ≤ 1 ulp apart).
 */
export function adam(p: usize, g: usize, m: usize, v: usize, i0: i32, i1: i32, lr: f64, b1: f64, b2: f64, eps: f64, wd: f64, decoupled: i32, stepSize: f64, bc2Sqrt: f64): void {
  const b1v = f32x4.splat(<f32>b1), c1 = f32x4.splat(<f32>(1 - b1)), b2v = f32x4.splat(<f32>b2), c2 = f32x4.splat(<f32>(1 - b2));
  const wdv = f32x4.splat(<f32>wd), decay = f32x4.splat(<f32>(1 - lr * wd)), epsv = f32x4.splat(<f32>eps);
  const stepv = f32x4.splat(<f32>stepSize), inv2 = f32x4.splat(<f32>(1 / bc2Sqrt));
  for (let i = i0; i < i1; i += 4) {
    const o = <usize>i * 4, cnt = i1 - i;
    let pv = v128.load(p + o);
    let d = v128.load(g + o);
    if (decoupled) pv = f32x4.mul(pv, decay);
    else if (wd != 0) d = f32x4.add(d, f32x4.mul(wdv, pv));
    const mv = f32x4.add(f32x4.mul(b1v, v128.load(m + o)), f32x4.mul(c1, d));
    const vv = f32x4.add(f32x4.mul(b2v, v128.load(v + o)), f32x4.mul(f32x4.mul(c2, d), d));
    storeN(m + o, mv, cnt);
    storeN(v + o, vv, cnt);
    const den = f32x4.add(f32x4.mul(f32x4.sqrt(vv), inv2), epsv);
    storeN(p + o, f32x4.sub(pv, f32x4.div(f32x4.mul(stepv, mv), den)), cnt);
  }
}

/**
 * The rows i < m of a [m, n] whose first largest value (argmax, ties to the lower index; a NaN never
 * becomes the largest) is at labels[i] (i32 [m]): what the trainer's running accuracy counts, the
 * same comparisons in the same order as countCorrect in src/pipeline/metrics.ts.
 * NOTE: four rows at a time, one row a lane, and no branch on the data. Where a row's largest
 * value sits is data, not a pattern a branch predictor learns: with a scalar `if (v > top)` a W2
 * step's 32 rows of 10 took 0.95 µs right after the step (0.24 µs on the same rows again), and
 * `select<f32>` did no better (V8 compiles a float select to a branch). A lane's compare and
 * bitselect keep the comparisons and their order; the rows past m repeat row m − 1, uncounted.
 */
export function countArgmax(a: usize, labels: usize, m: i32, n: i32): i32 {
  const stride = <usize>n * 4;
  let counts = i32x4.splat(0);
  for (let i = 0; i < m; i += 4) {
    const r1 = <usize>min(i + 1, m - 1), r2 = <usize>min(i + 2, m - 1), r3 = <usize>min(i + 3, m - 1);
    const p0 = a + <usize>i * stride, p1 = a + r1 * stride, p2 = a + r2 * stride, p3 = a + r3 * stride;
    let top = rowsAt(p0, p1, p2, p3);
    let best = i32x4.splat(0);
    for (let j = 1; j < n; j++) {
      const o = <usize>j * 4;
      const v = rowsAt(p0 + o, p1 + o, p2 + o, p3 + o);
      const larger = f32x4.gt(v, top);
      top = v128.bitselect(v, top, larger);
      best = v128.bitselect(i32x4.splat(j), best, larger);
    }
    let label = i32x4.splat(load<i32>(labels + <usize>i * 4));
    label = i32x4.replace_lane(label, 1, load<i32>(labels + r1 * 4));
    label = i32x4.replace_lane(label, 2, load<i32>(labels + r2 * 4));
    label = i32x4.replace_lane(label, 3, load<i32>(labels + r3 * 4));
    const counted = v128.and(i32x4.eq(best, label), i32x4.lt_s(i32x4(i, i + 1, i + 2, i + 3), i32x4.splat(m)));
    counts = i32x4.sub(counts, counted); // a true lane is −1
  }
  return i32x4.extract_lane(counts, 0) + i32x4.extract_lane(counts, 1) + i32x4.extract_lane(counts, 2) + i32x4.extract_lane(counts, 3);
}

/** The f32 at each of four addresses, as the lanes of one vector. */
@inline function rowsAt(p0: usize, p1: usize, p2: usize, p3: usize): v128 {
  let v = f32x4.splat(load<f32>(p0));
  v = f32x4.replace_lane(v, 1, load<f32>(p1));
  v = f32x4.replace_lane(v, 2, load<f32>(p2));
  return f32x4.replace_lane(v, 3, load<f32>(p3));
}
