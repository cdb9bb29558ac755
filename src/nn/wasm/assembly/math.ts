/**
 * Vectorized float32 exp, sigmoid and tanh over rows of values (`mapExp`), and a float64 log, for
 * the kernels in `kernels.ts` and `gemm.ts`. No tables (the module has no data segment) and no fused
 * multiply-add: every lane gives the same bits on every machine.
 */
import { storeN } from './lanes';

const LOG2E: f32 = 1.44269504088896341;
/** 1.5·2²³: adding it rounds a float32 of magnitude < 2²² to an integer, held in the low mantissa bits. */
const ROUNDER: f32 = 12582912.0;
// NOTE: ln 2 split in two (Cody–Waite): LN2_HI has 9 significant bits, so n·LN2_HI is exact for
// |n| ≤ 2¹⁵ and x − n·LN2_HI is exact (Sterbenz); only the tiny n·LN2_LO is rounded.
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;
// Minimax polynomial for (eʳ − 1 − r)/r² on |r| ≤ ln2/2 (Cephes expf).
const P0: f32 = 1.9875691500e-4;
const P1: f32 = 1.3981999507e-3;
const P2: f32 = 8.3334519073e-3;
const P3: f32 = 4.1665795894e-2;
const P4: f32 = 1.6666665459e-1;
const P5: f32 = 5.0000001201e-1;
// Odd polynomial for tanh on |z| < 0.625: z + z³·Q(z²) (Cephes tanhf), relative error ≈ 1 ulp near 0.
const Q0: f32 = -5.70498872745e-3;
const Q1: f32 = 2.06390887954e-2;
const Q2: f32 = -5.37397155531e-2;
const Q3: f32 = 1.33314422036e-1;
const Q4: f32 = -3.33332819422e-1;

/** What `mapExp` computes from e = exp(…): the codes are abi.ts's ACT codes for sigmoid and tanh. */
export const EXP = 0;
export const SIGMOID = 1;
export const TANH = 2;

/**
 * A constant vector built from a `zero` the compilers cannot see is 0 (n >>> 31 for a count n ≥ 0),
 * so that binaryen does not fold it back into a constant (see `mapExpWith`).
 */
@inline function kf(c: f32, zero: i32): v128 {
  return f32x4.splat(c + <f32>zero);
}

/**
 * dst[r, c] = f(src[r, c] − shift) for rows r < rows and columns c < cnt (row stride `stride` bytes),
 * in float32, four lanes at a time (a row's last 1–3 values too, their other lanes dropped):
 *
 *   EXP      eˣ
 *   SIGMOID  1 / (1 + e^−x)        very negative x: e^−x = +Infinity and the result 0, the limit
 *   TANH     x + x³·Q(x²) for |x| < 0.625 (keeps the relative accuracy near 0, where the other
 *            form would cancel), else sign(x)·(1 − 2/(e^{2|x|} + 1)); tanh(−0) = −0
 *
 * eˣ: x = n·ln2 + r with n = round(x·log₂e) and |r| ≤ ln2/2, eʳ by a degree-7 polynomial, then
 * scaled by 2ⁿ built from exponent bits, as two factors 2^⌊n/2⌋ · 2^(n−⌊n/2⌋) so that n = 128
 * (x up to 88.72) and n down to −150 (gradual underflow, one rounding) stay in range. x is clamped to
 * [−104, 89] first: below, the result rounds to 0; above, it overflows to +Infinity. NaN in, NaN out
 * (the clamp and the arithmetic keep it; its n is garbage, NaN·2ⁿ is NaN). Max error 0.97 ulp.
 *
 * One loop holds the only copy of the exp code (`mapExpWith`).
 */
@inline export function mapExp(f: i32, src: usize, dst: usize, rows: i32, cnt: i32, stride: usize, shift: f32): void {
  const zero = cnt >>> 31;
  mapExpWith(
    f, src, dst, rows, cnt, stride, f32x4.splat(shift),
    kf(-104.0, zero), kf(89.0, zero), kf(LOG2E, zero), kf(ROUNDER, zero), kf(LN2_HI, zero), kf(LN2_LO, zero),
    kf(P0, zero), kf(P1, zero), kf(P2, zero), kf(P3, zero), kf(P4, zero), kf(P5, zero), kf(1.0, zero),
  );
}

/**
 * `mapExp` with its constants as parameters. NOTE: V8 (TurboFan) computes a pure value at its use,
 * inside the loop, even when wasm computes it before (and rebuilds a constant at every use, 3
 * instructions); a parameter is neither: it stays in a register or a stack slot, read as a memory
 * operand. The constants are made from an opaque zero so that binaryen cannot fold them into this
 * function either.
 */
function mapExpWith(
  f: i32, src: usize, dst: usize, rows: i32, cnt: i32, stride: usize, shiftv: v128,
  lo: v128, hi: v128, log2e: v128, rounder: v128, ln2hi: v128, ln2lo: v128,
  p0: v128, p1: v128, p2: v128, p3: v128, p4: v128, p5: v128, one: v128,
): void {
  const zero = cnt >>> 31;
  for (let r = 0; r < rows; r++) {
    const s = src + <usize>r * stride, d = dst + <usize>r * stride;
    for (let c = 0; c < cnt; c += 4) {
      const x = f32x4.sub(v128.load(s + <usize>c * 4), shiftv);
      const ax = f32x4.abs(x);
      let y = f == EXP ? x : f == SIGMOID ? f32x4.neg(x) : f32x4.add(ax, ax);
      // NOTE: pmax/pmin (x86's maxps/minps, one instruction each) keep a NaN y: (y < lo ? lo : y) is y
      y = f32x4.pmin(f32x4.pmax(y, lo), hi);
      // n = round(y·log₂e) by adding 1.5·2²³: the sum's last mantissa bits are n (nearest, ties to even)
      const kn = f32x4.add(f32x4.mul(y, log2e), rounder);
      const n = f32x4.sub(kn, rounder);
      const ni = i32x4.sub(kn, rounder);
      let t = f32x4.sub(y, f32x4.mul(n, ln2hi));
      t = f32x4.sub(t, f32x4.mul(n, ln2lo));
      // eᵗ ≈ 1 + t + t²·Q(t), Q = (p5 + p4·t) + t²·((p3 + p2·t) + t²·(p1 + p0·t)) (Estrin: 6 operations
      // deep instead of Horner's 10, the same polynomial)
      const t2 = f32x4.mul(t, t);
      const qa = f32x4.add(f32x4.mul(p4, t), p5), qb = f32x4.add(f32x4.mul(p2, t), p3), qc = f32x4.add(f32x4.mul(p0, t), p1);
      const q = f32x4.add(qa, f32x4.mul(t2, f32x4.add(qb, f32x4.mul(t2, qc))));
      const p = f32x4.add(f32x4.add(f32x4.mul(q, t2), t), one);
      // 2ⁿ = 2^h · 2^(n−h) with h = ⌊n/2⌋: exponent bits h << 23 added to 1.0's bits (127 << 23)
      const h = i32x4.shr_s(ni, 1);
      const e = f32x4.mul(f32x4.mul(p, i32x4.add(i32x4.shl(h, 23), one)), i32x4.add(i32x4.shl(i32x4.sub(ni, h), 23), one));
      let out = e;
      if (f == SIGMOID) {
        out = f32x4.div(one, f32x4.add(one, e));
      } else if (f == TANH) {
        const x2 = f32x4.mul(x, x);
        let q = f32x4.add(f32x4.mul(kf(Q0, zero), x2), kf(Q1, zero));
        q = f32x4.add(f32x4.mul(q, x2), kf(Q2, zero));
        q = f32x4.add(f32x4.mul(q, x2), kf(Q3, zero));
        q = f32x4.add(f32x4.mul(q, x2), kf(Q4, zero));
        const small = f32x4.add(f32x4.mul(f32x4.mul(q, x2), x), x);
        const big = f32x4.sub(one, f32x4.div(f32x4.add(one, one), f32x4.add(e, one)));
        const mag = f32x4.abs(v128.bitselect(small, big, f32x4.lt(ax, kf(0.625, zero))));
        out = v128.bitselect(x, mag, i32x4.splat(0x80000000)); // the sign of x on |tanh x|
      }
      storeN(d + <usize>c * 4, out, cnt - c);
    }
  }
}

/**
 * Natural log of a float64 (fdlibm/musl's table-free `log`, as AssemblyScript's own when shrinking:
 * its default one reads a table, which would give the module a data segment). Error < 1 ulp.
 */
export function log64(x: f64): f64 {
  const
    ln2_hi = reinterpret<f64>(0x3FE62E42FEE00000), // 6.93147180369123816490e-01
    ln2_lo = reinterpret<f64>(0x3DEA39EF35793C76), // 1.90821492927058770002e-10
    Lg1 = reinterpret<f64>(0x3FE5555555555593), // 6.666666666666735130e-01
    Lg2 = reinterpret<f64>(0x3FD999999997FA04), // 3.999999999940941908e-01
    Lg3 = reinterpret<f64>(0x3FD2492494229359), // 2.857142874366239149e-01
    Lg4 = reinterpret<f64>(0x3FCC71C51D8E78AF), // 2.222219843214978396e-01
    Lg5 = reinterpret<f64>(0x3FC7466496CB03DE), // 1.818357216161805012e-01
    Lg6 = reinterpret<f64>(0x3FC39A09D078C69F), // 1.531383769920937332e-01
    Lg7 = reinterpret<f64>(0x3FC2F112DF3E5244), // 1.479819860511658591e-01
    Ox1p54 = reinterpret<f64>(0x4350000000000000); // 0x1p54
  let u = reinterpret<u64>(x);
  let hx = u32(u >> 32);
  let k = 0;
  const sign = hx >> 31;
  if (sign || hx < 0x00100000) {
    if (u << 1 == 0) return -1 / (x * x);
    if (sign) return (x - x) / 0.0;
    k -= 54;
    x *= Ox1p54;
    u = reinterpret<u64>(x);
    hx = u32(u >> 32);
  } else if (hx >= 0x7FF00000) {
    return x;
  } else if (hx == 0x3FF00000 && u << 32 == 0) {
    return 0;
  }
  hx += 0x3FF00000 - 0x3FE6A09E;
  k += (<i32>hx >> 20) - 0x3FF;
  hx = (hx & 0x000FFFFF) + 0x3FE6A09E;
  u = <u64>hx << 32 | (u & 0xFFFFFFFF);
  x = reinterpret<f64>(u);
  const f = x - 1.0;
  const hfsq = 0.5 * f * f;
  const s = f / (2.0 + f);
  const z = s * s;
  const w = z * z;
  const t1 = w * (Lg2 + w * (Lg4 + w * Lg6));
  const t2 = z * (Lg1 + w * (Lg3 + w * (Lg5 + w * Lg7)));
  const r = t2 + t1;
  const dk = <f64>k;
  return s * (hfsq + r) + dk * ln2_lo - hfsq + f + dk * ln2_hi;
}
