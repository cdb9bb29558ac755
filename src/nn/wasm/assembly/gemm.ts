/**
 * The matrix product behind `forward`, `backwardInput` and `weightGrad`: C[i, j] = init + Σ_t A[i, t]·B[t, j]
 * over a block of rows and columns of C, with what the caller does to each finished value (its
 * "epilogue": bias + activation, activation derivative, or a plain store) fused into the store.
 *
 * The epilogue is applied to each accumulator as it is stored, except sigmoid's and tanh's exp:
 * `forward` applies those to the whole output afterwards, in one call (`needsExp`).
 *
 * Register tiling. The work is cut into tiles of C whose sums stay in 8 f32x4 accumulators
 * (registers) for the whole sum over t. Each step t loads a row of B's columns and broadcasts values
 * of A (`v128.load32_splat`), then does 8 multiplies and 8 adds: 64 flops for 6 loads.
 * - 2 rows × 16 columns where A's steps are adjacent (x in forward, dz in backwardInput): 4 B vectors
 *   (one 64-byte line) and 2 broadcasts a step, 3 pointer increments.
 * - 4 rows × 8 columns where A's rows are adjacent (xᵀ in weightGrad: the 4 broadcasts come from one
 *   pointer at immediate offsets, 2 increments), and for the columns left after the 16-wide tiles.
 * NOTE: V8 issues a step's loads before its arithmetic, so a step holds its 6 loaded vectors and the
 * 8 accumulators at once: 14 of the 15 SIMD registers V8 allocates on x86-64 (plus one product).
 * Bigger tiles, or a loop unrolled over t, spill (measured: a third slower).
 * Edges: a column tail of 5–7 runs the 4×8 tile and stores only its real lanes, a tail of 1–4 a 4×4
 * tile; a row tail of 1–3 runs 1-row tiles (1×8, 1×4).
 *
 * NOTE: Order of summation. Every element is one float32 sum in index order t = 0, 1, …, k − 1,
 * starting from its bias (forward) or from +0: each lane of each accumulator is exactly
 * `s = init; s = f32(s + f32(A[i, t]·B[t, j]))`, whichever tile, edge path or thread computes it.
 * No multiply-add is fused, no sum is split or reassociated. So splitting C among threads (by
 * column ranges or row ranges) or changing the tile never changes a bit.
 *
 * Addresses are byte offsets. A[i, t] is at a + i·ar + t·at (strides in bytes: x [m, k] row-major
 * has ar = 4k, at = 4; xᵀ read in place has ar = 4, at = 4k); B[t, j] at b + t·bt + 4j; C[i, j] of
 * every output (and of the epilogue's other operands, all of C's shape) at i·ldo + 4j from its base.
 * Loads may run up to 28 bytes past the last column of B, of the bias and of zp/ap (the contract's
 * slack); stores never pass C's last column.
 */
import { storeN } from './lanes';

/** What happens to each finished sum s (at byte offset o of every C-shaped operand). */
export const FORWARD = 0; //  z[o] = s; a[o] = f(s)                    (p1 = z, p2 = a)
export const BACKWARD = 1; // dzp[o] = s · f′(zp[o], ap[o])            (p1 = zp, p2 = ap, p3 = dzp)
export const PLAIN = 2; //    c[o] = s                                  (p1 = c)

export const LINEAR = 0;
export const SIGMOID = 1;
export const TANH = 2;
export const RELU = 3;
export const LEAKY_RELU = 4;

const LEAKY_SLOPE: f32 = 0.01;

/**
 * The most steps t a 2 × 16 tile sums before it leaves its partial sums in the output and the next
 * row pair takes the same block of B. NOTE: B's panel (k rows × 64 bytes) has rows 4n bytes apart:
 * for n = 256 its lines fall in 1/16 of the cache's sets, and 784 of them with x's lines evicted
 * each other before the next row pair came back to them (measured on 64×784·784×256: 38 GFLOP/s
 * unblocked, 39.5 with blocks of 196 steps, 38.9 with 392, 38.4 with 112; 64×784·784×64 runs at 45).
 */
const KC = 256;

/** Bytes of the scratch `forward` and `backwardInput` may be given: one block of B, KC rows × 64 bytes. */
export const SCRATCH_BYTES: usize = KC * 64;

/** f(z) per lane for the activations without exp (relu, leakyRelu, linear). */
@inline function activateCheap(act: i32, z: v128): v128 {
  switch (act) {
    case RELU: return v128.bitselect(z, f32x4.splat(0), f32x4.gt(z, f32x4.splat(0)));
    case LEAKY_RELU: return v128.bitselect(z, f32x4.mul(z, f32x4.splat(LEAKY_SLOPE)), f32x4.gt(z, f32x4.splat(0)));
    default: return z;
  }
}

/**
 * True for the activations whose forward needs exp: the tiles store z only, and `forward` runs
 * `mapExp` over its whole output afterwards (one call, its constants set up once).
 */
@inline export function needsExp(act: i32): bool {
  return act == SIGMOID || act == TANH;
}

/** s · f′ per lane, f′ from the layer's z (relu, leakyRelu) or a (sigmoid a(1 − a), tanh 1 − a²). */
@inline function derive(act: i32, s: v128, zp: usize, ap: usize): v128 {
  const one = f32x4.splat(1.0);
  switch (act) {
    case SIGMOID: {
      const a = v128.load(ap);
      return f32x4.mul(s, f32x4.mul(a, f32x4.sub(one, a)));
    }
    case TANH: {
      const a = v128.load(ap);
      return f32x4.mul(s, f32x4.sub(one, f32x4.mul(a, a)));
    }
    case RELU: return v128.bitselect(s, f32x4.splat(0), f32x4.gt(v128.load(zp), f32x4.splat(0)));
    case LEAKY_RELU: return v128.bitselect(s, f32x4.mul(s, f32x4.splat(LEAKY_SLOPE)), f32x4.gt(v128.load(zp), f32x4.splat(0)));
    default: return s;
  }
}

/**
 * Stores the first `cnt` lanes of a finished sum s at byte offset o: z and a = f(z) (forward; for
 * sigmoid and tanh only z, see `needsExp`), dzp = s · f′ (backward), or c.
 */
@inline function finish(mode: i32, act: i32, s: v128, o: usize, cnt: i32, p1: usize, p2: usize, p3: usize): void {
  if (cnt <= 0) return;
  if (mode == FORWARD) {
    storeN(p1 + o, s, cnt);
    if (!needsExp(act) && (act != LINEAR || p2 != p1)) storeN(p2 + o, activateCheap(act, s), cnt);
  } else if (mode == BACKWARD) {
    storeN(p3 + o, derive(act, s, p1 + o, p2 + o), cnt);
  } else {
    storeN(p1 + o, s, cnt);
  }
}

/** The starting value of 4 columns' sums: their bias (forward) or +0. */
@inline function init(mode: i32, bias: usize): v128 {
  return mode == FORWARD ? v128.load(bias) : f32x4.splat(0);
}

/**
 * A 4 × 8 tile: rows at a, a + ar, …; columns at b; `cnt` (1–8) columns stored. With rowsAdjacent
 * (ar = 4) the 4 broadcasts come from one pointer at immediate offsets (2 pointer increments a
 * step instead of 5).
 */
@inline function tile4x8(
  rowsAdjacent: bool, mode: i32, act: i32, a: usize, ar: usize, at: usize, b: usize, bt: usize, k: i32,
  bias: usize, o: usize, ldo: usize, cnt: i32, p1: usize, p2: usize, p3: usize,
): void {
  let c00 = init(mode, bias), c01 = init(mode, bias + 16);
  let c10 = c00, c11 = c01, c20 = c00, c21 = c01, c30 = c00, c31 = c01;
  let b0: v128, b1: v128, s: v128;
  if (rowsAdjacent) {
    // A's 4 rows are adjacent floats (xᵀ in weightGrad): one pointer, the rows at immediate offsets
    const end = b + <usize>k * bt; // the loop counts with b
    for (; b != end;) {
      b0 = v128.load(b); b1 = v128.load(b, 16); b += bt;
      s = v128.load32_splat(a, 0);
      c00 = f32x4.add(c00, f32x4.mul(s, b0)); c01 = f32x4.add(c01, f32x4.mul(s, b1));
      s = v128.load32_splat(a, 4);
      c10 = f32x4.add(c10, f32x4.mul(s, b0)); c11 = f32x4.add(c11, f32x4.mul(s, b1));
      s = v128.load32_splat(a, 8);
      c20 = f32x4.add(c20, f32x4.mul(s, b0)); c21 = f32x4.add(c21, f32x4.mul(s, b1));
      s = v128.load32_splat(a, 12);
      c30 = f32x4.add(c30, f32x4.mul(s, b0)); c31 = f32x4.add(c31, f32x4.mul(s, b1));
      a += at;
    }
  } else {
    // A's steps are adjacent floats (x in forward, dz in backwardInput): the columns the 2 × 16
    // tiles leave. NOTE: unrolled by 4 over t (steps at immediate offsets) it ran a third slower:
    // binaryen and V8's scheduler group the 4 steps per accumulator, 8 B vectors stay live, V8 spills.
    let a0 = a, a1 = a + ar, a2 = a + ar * 2, a3 = a + ar * 3;
    const end = a + <usize>k * at; // the loop counts with a0
    for (; a0 != end;) {
      b0 = v128.load(b); b1 = v128.load(b, 16); b += bt;
      s = v128.load32_splat(a0);
      c00 = f32x4.add(c00, f32x4.mul(s, b0)); c01 = f32x4.add(c01, f32x4.mul(s, b1));
      s = v128.load32_splat(a1);
      c10 = f32x4.add(c10, f32x4.mul(s, b0)); c11 = f32x4.add(c11, f32x4.mul(s, b1));
      s = v128.load32_splat(a2);
      c20 = f32x4.add(c20, f32x4.mul(s, b0)); c21 = f32x4.add(c21, f32x4.mul(s, b1));
      s = v128.load32_splat(a3);
      c30 = f32x4.add(c30, f32x4.mul(s, b0)); c31 = f32x4.add(c31, f32x4.mul(s, b1));
      a0 += at; a1 += at; a2 += at; a3 += at;
    }
  }
  const lo = min(cnt, 4), hi = cnt - 4;
  finish(mode, act, c00, o, lo, p1, p2, p3);
  finish(mode, act, c01, o + 16, hi, p1, p2, p3);
  finish(mode, act, c10, o + ldo, lo, p1, p2, p3);
  finish(mode, act, c11, o + ldo + 16, hi, p1, p2, p3);
  finish(mode, act, c20, o + ldo * 2, lo, p1, p2, p3);
  finish(mode, act, c21, o + ldo * 2 + 16, hi, p1, p2, p3);
  finish(mode, act, c30, o + ldo * 3, lo, p1, p2, p3);
  finish(mode, act, c31, o + ldo * 3 + 16, hi, p1, p2, p3);
}

/**
 * A 2 × 16 tile, all 16 columns stored (steps of A adjacent), over `k` steps of a block of steps:
 * its sums start from the bias or +0 (`first`) or from the partial sums the previous block left in
 * the output (out: z, or dzp), and are finished (`last`) or left there as partial sums. A float32
 * stored and loaded back is the same float32, so blocking changes no bit. The same 8 accumulators
 * and 6 loads a step as 4 × 8, but 3 pointer increments instead of 5, and B's 16 columns are one
 * 64-byte line.
 */
@inline function tile2x16(
  mode: i32, act: i32, a: usize, ar: usize, b: usize, bt: usize, k: i32,
  bias: usize, o: usize, ldo: usize, p1: usize, p2: usize, p3: usize, first: bool, last: bool,
): void {
  const out = (mode == BACKWARD ? p3 : p1) + o;
  let c00: v128, c01: v128, c02: v128, c03: v128, c10: v128, c11: v128, c12: v128, c13: v128;
  if (first) {
    c00 = init(mode, bias); c01 = init(mode, bias + 16); c02 = init(mode, bias + 32); c03 = init(mode, bias + 48);
    c10 = c00; c11 = c01; c12 = c02; c13 = c03;
  } else {
    c00 = v128.load(out); c01 = v128.load(out, 16); c02 = v128.load(out, 32); c03 = v128.load(out, 48);
    c10 = v128.load(out + ldo); c11 = v128.load(out + ldo, 16); c12 = v128.load(out + ldo, 32); c13 = v128.load(out + ldo, 48);
  }
  let a0 = a, a1 = a + ar;
  const end = a + <usize>k * 4;
  for (; a0 != end;) {
    const b0 = v128.load(b), b1 = v128.load(b, 16), b2 = v128.load(b, 32), b3 = v128.load(b, 48);
    b += bt;
    let s = v128.load32_splat(a0);
    c00 = f32x4.add(c00, f32x4.mul(s, b0)); c01 = f32x4.add(c01, f32x4.mul(s, b1));
    c02 = f32x4.add(c02, f32x4.mul(s, b2)); c03 = f32x4.add(c03, f32x4.mul(s, b3));
    s = v128.load32_splat(a1);
    c10 = f32x4.add(c10, f32x4.mul(s, b0)); c11 = f32x4.add(c11, f32x4.mul(s, b1));
    c12 = f32x4.add(c12, f32x4.mul(s, b2)); c13 = f32x4.add(c13, f32x4.mul(s, b3));
    a0 += 4; a1 += 4;
  }
  if (!last) {
    v128.store(out, c00); v128.store(out, c01, 16); v128.store(out, c02, 32); v128.store(out, c03, 48);
    v128.store(out + ldo, c10); v128.store(out + ldo, c11, 16); v128.store(out + ldo, c12, 32); v128.store(out + ldo, c13, 48);
    return;
  }
  finish(mode, act, c00, o, 4, p1, p2, p3);
  finish(mode, act, c01, o + 16, 4, p1, p2, p3);
  finish(mode, act, c02, o + 32, 4, p1, p2, p3);
  finish(mode, act, c03, o + 48, 4, p1, p2, p3);
  finish(mode, act, c10, o + ldo, 4, p1, p2, p3);
  finish(mode, act, c11, o + ldo + 16, 4, p1, p2, p3);
  finish(mode, act, c12, o + ldo + 32, 4, p1, p2, p3);
  finish(mode, act, c13, o + ldo + 48, 4, p1, p2, p3);
}

/** A 4 × 4 tile, `cnt` (1–4) columns stored. */
@inline function tile4x4(
  mode: i32, act: i32, a: usize, ar: usize, at: usize, b: usize, bt: usize, k: i32,
  bias: usize, o: usize, ldo: usize, cnt: i32, p1: usize, p2: usize, p3: usize,
): void {
  let c0 = init(mode, bias);
  let c1 = c0, c2 = c0, c3 = c0;
  let a0 = a, a1 = a + ar, a2 = a + ar * 2, a3 = a + ar * 3;
  for (let t = 0; t < k; t++) {
    const b0 = v128.load(b);
    c0 = f32x4.add(c0, f32x4.mul(v128.load32_splat(a0), b0));
    c1 = f32x4.add(c1, f32x4.mul(v128.load32_splat(a1), b0));
    c2 = f32x4.add(c2, f32x4.mul(v128.load32_splat(a2), b0));
    c3 = f32x4.add(c3, f32x4.mul(v128.load32_splat(a3), b0));
    a0 += at; a1 += at; a2 += at; a3 += at;
    b += bt;
  }
  finish(mode, act, c0, o, cnt, p1, p2, p3);
  finish(mode, act, c1, o + ldo, cnt, p1, p2, p3);
  finish(mode, act, c2, o + ldo * 2, cnt, p1, p2, p3);
  finish(mode, act, c3, o + ldo * 3, cnt, p1, p2, p3);
}

/** A 1 × 8 tile (a row tail), `cnt` (1–8) columns stored. */
@inline function tile1x8(
  mode: i32, act: i32, a: usize, at: usize, b: usize, bt: usize, k: i32,
  bias: usize, o: usize, cnt: i32, p1: usize, p2: usize, p3: usize,
): void {
  let c0 = init(mode, bias), c1 = init(mode, bias + 16);
  for (let t = 0; t < k; t++) {
    const s = v128.load32_splat(a);
    c0 = f32x4.add(c0, f32x4.mul(s, v128.load(b)));
    c1 = f32x4.add(c1, f32x4.mul(s, v128.load(b, 16)));
    a += at;
    b += bt;
  }
  finish(mode, act, c0, o, min(cnt, 4), p1, p2, p3);
  finish(mode, act, c1, o + 16, cnt - 4, p1, p2, p3);
}

/** A 1 × 4 tile, `cnt` (1–4) columns stored. */
@inline function tile1x4(
  mode: i32, act: i32, a: usize, at: usize, b: usize, bt: usize, k: i32,
  bias: usize, o: usize, cnt: i32, p1: usize, p2: usize, p3: usize,
): void {
  let c0 = init(mode, bias);
  for (let t = 0; t < k; t++) {
    c0 = f32x4.add(c0, f32x4.mul(v128.load32_splat(a), v128.load(b)));
    a += at;
    b += bt;
  }
  finish(mode, act, c0, o, cnt, p1, p2, p3);
}

/**
 * C[i, j] for rows i in [r0, r1) and columns j in [c0, c1), tile by tile (see the file's comment).
 * `bias` is read for forward only; p1–p3 are the epilogue's operands.
 *
 * Loop order. Where A's steps are adjacent (forward, backwardInput) the 2 × 16 tiles go column panel
 * by column panel, all row pairs of a panel in turn, so B's panel (k rows × 64 bytes) is fetched
 * from L3 once and then read from L2 (measured: backwardInput 64×256·256×784 40 → 42 GFLOP/s; forward
 * 64×784·784×256 unchanged at 37, when 64×784·784×64, whose w stays in L2 between calls, runs at
 * 45: its first pass over each panel waits on L3). Where A's rows are adjacent (weightGrad), B (dz:
 * 64 KB for 64 × 256) stays in L2 in any order; row blocks go outermost.
 */
@inline export function gemm(
  rowsAdjacent: bool, mode: i32, act: i32, a: usize, ar: usize, at: usize, b: usize, bt: usize, k: i32,
  r0: i32, r1: i32, c0: i32, c1: i32, ldo: usize, bias: usize, p1: usize, p2: usize, p3: usize, scratch: usize = 0,
): void {
  let j0 = c0;
  if (!rowsAdjacent) {
    // blocks of at most KC steps, of equal size (784 = 4 × 196)
    const blocks = max(1, (k + KC - 1) / KC), kc = (k + blocks - 1) / blocks;
    // NOTE: B's rows a multiple of 256 bytes apart put a block's lines in a few of L1's sets, where
    // they evict each other before the next row pair reads them again: copied into the scratch
    // (rows 64 bytes apart) they stay. 64×784·784×256 forward 40.8 → 43.9 GFLOP/s, the copy included.
    const pack = scratch != 0 && (bt & 255) == 0 && r1 - r0 >= 4;
    for (; j0 + 16 <= c1; j0 += 16) {
      const bj = b + <usize>j0 * 4, biasj = bias + <usize>j0 * 4;
      for (let q = 0; q < blocks; q++) {
        const t0 = q * kc, steps = min(kc, k - t0);
        const aq = a + <usize>t0 * 4;
        let bq = bj + <usize>t0 * bt, bs = bt;
        if (pack) {
          packPanel(bq, bt, steps, scratch);
          bq = scratch;
          bs = 64;
        }
        for (let i = r0; i + 2 <= r1; i += 2) {
          tile2x16(mode, act, aq + <usize>i * ar, ar, bq, bs, steps, biasj, <usize>i * ldo + <usize>j0 * 4, ldo, p1, p2, p3, q == 0, q == blocks - 1);
        }
      }
      const i = r1 - ((r1 - r0) & 1);
      if (i < r1) {
        const ai = a + <usize>i * ar, oi = <usize>i * ldo + <usize>j0 * 4;
        tile1x8(mode, act, ai, at, bj, bt, k, biasj, oi, 8, p1, p2, p3);
        tile1x8(mode, act, ai, at, bj + 32, bt, k, biasj + 32, oi + 32, 8, p1, p2, p3);
      }
    }
  }
  if (rowsAdjacent && scratch != 0 && (bt & 255) == 0 && k <= KC && r1 - r0 >= 8) {
    // weightGrad: each 16-column panel of B (dz: k ≤ 256 rows × 64 bytes) copied to the scratch once,
    // then read there by every row block (see the NOTE above on rows a multiple of 256 bytes apart)
    for (; j0 + 16 <= c1; j0 += 16) {
      const bj = b + <usize>j0 * 4, biasj = bias + <usize>j0 * 4;
      packPanel(bj, bt, k, scratch);
      let i = r0;
      for (; i + 4 <= r1; i += 4) {
        const ai = a + <usize>i * ar, oi = <usize>i * ldo + <usize>j0 * 4;
        tile4x8(true, mode, act, ai, ar, at, scratch, 64, k, biasj, oi, ldo, 8, p1, p2, p3);
        tile4x8(true, mode, act, ai, ar, at, scratch + 32, 64, k, biasj + 32, oi + 32, ldo, 8, p1, p2, p3);
      }
      for (; i < r1; i++) {
        const ai = a + <usize>i * ar, oi = <usize>i * ldo + <usize>j0 * 4;
        tile1x8(mode, act, ai, at, scratch, 64, k, biasj, oi, 8, p1, p2, p3);
        tile1x8(mode, act, ai, at, scratch + 32, 64, k, biasj + 32, oi + 32, 8, p1, p2, p3);
      }
    }
  }
  // the columns left (all of them for weightGrad without a scratch), row block by row block
  let i = r0;
  for (; i + 4 <= r1; i += 4) {
    const ai = a + <usize>i * ar, oi = <usize>i * ldo;
    let j = j0;
    for (; j + 8 <= c1; j += 8) {
      tile4x8(rowsAdjacent, mode, act, ai, ar, at, b + <usize>j * 4, bt, k, bias + <usize>j * 4, oi + <usize>j * 4, ldo, 8, p1, p2, p3);
    }
    const rest = c1 - j;
    if (rest > 4) {
      tile4x8(rowsAdjacent, mode, act, ai, ar, at, b + <usize>j * 4, bt, k, bias + <usize>j * 4, oi + <usize>j * 4, ldo, rest, p1, p2, p3);
    } else if (rest > 0) {
      tile4x4(mode, act, ai, ar, at, b + <usize>j * 4, bt, k, bias + <usize>j * 4, oi + <usize>j * 4, ldo, rest, p1, p2, p3);
    }
  }
  for (; i < r1; i++) {
    const ai = a + <usize>i * ar, oi = <usize>i * ldo;
    let j = j0;
    for (; j + 8 <= c1; j += 8) {
      tile1x8(mode, act, ai, at, b + <usize>j * 4, bt, k, bias + <usize>j * 4, oi + <usize>j * 4, 8, p1, p2, p3);
    }
    const rest = c1 - j;
    if (rest > 4) {
      tile1x8(mode, act, ai, at, b + <usize>j * 4, bt, k, bias + <usize>j * 4, oi + <usize>j * 4, rest, p1, p2, p3);
    } else if (rest > 0) {
      tile1x4(mode, act, ai, at, b + <usize>j * 4, bt, k, bias + <usize>j * 4, oi + <usize>j * 4, rest, p1, p2, p3);
    }
  }
}

/** 16 columns of `rows` rows of B (rows `stride` bytes apart) copied to `to`, rows 64 bytes apart: the scratch's layout. */
@inline function packPanel(from: usize, stride: usize, rows: i32, to: usize): void {
  for (let t = 0; t < rows; t++) {
    const src = from + <usize>t * stride, dst = to + <usize>t * 64;
    v128.store(dst, v128.load(src));
    v128.store(dst, v128.load(src, 16), 16);
    v128.store(dst, v128.load(src, 32), 32);
    v128.store(dst, v128.load(src, 48), 48);
  }
}
