/**
 * Stores of the first 1–4 lanes of a vector: how every kernel writes a row's last 1–3 elements
 * without touching the bytes after its output (the contract lets kernels read past an end, never
 * write past it).
 */

/** Stores lanes 0 … cnt − 1 of `v` (all four when cnt ≥ 4) as float32 at p. */
@inline export function storeN(p: usize, v: v128, cnt: i32): void {
  if (cnt >= 4) {
    v128.store(p, v);
  } else {
    v128.store32_lane(p, v, 0);
    if (cnt > 1) v128.store32_lane(p, v, 1, 4);
    if (cnt > 2) v128.store32_lane(p, v, 2, 8);
  }
}

/** All ones in lanes 0 … cnt − 1, zeros in the others. */
@inline export function laneMask(cnt: i32): v128 {
  return i32x4.lt_s(i32x4(0, 1, 2, 3), i32x4.splat(cnt));
}
