/**
 * Vectorized float32 exp, sigmoid and tanh (four lanes at a time), and a float64 log, for the
 * kernels in `kernels.ts`. No tables (the module has no data segment) and no fused multiply-add:
 * every lane gives the same bits on every machine.
 *
 * Every per-element kernel runs these on whole f32x4 vectors, also for a row's last 1–3 elements
 * (the other lanes are computed and dropped), so there is one code path and one result per value.
 */

const LOG2E: f32 = 1.44269504088896341;
/** 1.5·2²³: adding it rounds a float32 of magnitude < 2²² to an integer, held in the low mantissa bits. */
const ROUNDER: f32 = 12582912.0;
const ROUNDER_BITS: i32 = 0x4B400000;
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

/**
 * eˣ per lane: x = n·ln2 + r with n = round(x·log₂e) and |r| ≤ ln2/2, eʳ by a degree-7 polynomial,
 * then scaled by 2ⁿ built from exponent bits, as two factors 2^⌊n/2⌋ · 2^(n−⌊n/2⌋) so that
 * n = 128 (x up to 88.72) and n down to −150 (gradual underflow, one rounding) stay in range.
 * x is clamped to [−104, 89] first: below, the result rounds to 0; above, it overflows to +Infinity.
 * NaN in, NaN out (the clamp and the arithmetic keep it; its n is garbage, NaN·2ⁿ is NaN).
 */
@inline export function expv(x: v128): v128 {
  // NOTE: pmax/pmin (x86's maxps/minps, one instruction) keep a NaN x: (x < lo ? lo : x) is x
  x = f32x4.pmin(f32x4.pmax(x, f32x4.splat(-104.0)), f32x4.splat(89.0));
  // n = round(x·log₂e) by adding 1.5·2²³: the sum's last bits are n, rounded to nearest even
  const kn = f32x4.add(f32x4.mul(x, f32x4.splat(LOG2E)), f32x4.splat(ROUNDER));
  const n = f32x4.sub(kn, f32x4.splat(ROUNDER));
  const ni = i32x4.sub(kn, i32x4.splat(ROUNDER_BITS));
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(LN2_LO)));
  let p = f32x4.add(f32x4.mul(f32x4.splat(P0), r), f32x4.splat(P1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P4));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P5));
  p = f32x4.add(f32x4.add(f32x4.mul(p, f32x4.mul(r, r)), r), f32x4.splat(1.0));
  const h = i32x4.shr_s(ni, 1);
  const s1 = i32x4.shl(i32x4.add(h, i32x4.splat(127)), 23);
  const s2 = i32x4.shl(i32x4.add(i32x4.sub(ni, h), i32x4.splat(127)), 23);
  return f32x4.mul(f32x4.mul(p, s1), s2);
}

/** 1 / (1 + e^−z) per lane. Very negative z: e^−z = +Infinity and the result 0, the right limit. */
@inline export function sigmoidv(z: v128): v128 {
  const one = f32x4.splat(1.0);
  return f32x4.div(one, f32x4.add(one, expv(f32x4.neg(z))));
}

/**
 * tanh z per lane: an odd polynomial for |z| < 0.625 (keeps the relative accuracy near 0, where
 * 1 − 2/(e^{2|z|} + 1) would cancel), else 1 − 2/(e^{2|z|} + 1) (e^{2|z|} = +Infinity gives 1);
 * the sign of z copied onto the result (tanh(−0) = −0). NaN in, NaN out.
 */
@inline export function tanhv(z: v128): v128 {
  const az = f32x4.abs(z);
  const z2 = f32x4.mul(z, z);
  let q = f32x4.add(f32x4.mul(f32x4.splat(Q0), z2), f32x4.splat(Q1));
  q = f32x4.add(f32x4.mul(q, z2), f32x4.splat(Q2));
  q = f32x4.add(f32x4.mul(q, z2), f32x4.splat(Q3));
  q = f32x4.add(f32x4.mul(q, z2), f32x4.splat(Q4));
  const small = f32x4.add(f32x4.mul(f32x4.mul(q, z2), z), z);
  const e = expv(f32x4.add(az, az));
  const one = f32x4.splat(1.0);
  const big = f32x4.sub(one, f32x4.div(f32x4.splat(2.0), f32x4.add(e, one)));
  const t = v128.bitselect(small, big, f32x4.lt(az, f32x4.splat(0.625)));
  const sign = i32x4.splat(0x80000000);
  return v128.bitselect(z, f32x4.abs(t), sign);
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
