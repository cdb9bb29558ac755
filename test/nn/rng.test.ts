/**
 * The seeded generator: xoshiro128** 1.0 seeded by splitmix32, pinned against an independent
 * BigInt implementation of the reference algorithms and against outputs of the reference C code.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rng } from '../../src/index.js';

// ---- reference implementation, from the published descriptions, in BigInt arithmetic ----------
const M32 = 0xffffffffn;
const rotl = (x: bigint, k: bigint): bigint => ((x << k) | (x >> (32n - k))) & M32;

/**
 * splitmix32 as documented in src/nn/rng.ts: s += 0x9e3779b9 (the golden ratio), then the
 * MurmurHash3 fmix32 finaliser z ^= z >> 16; z *= 0x85ebca6b; z ^= z >> 13; z *= 0xc2b2ae35; z ^= z >> 16.
 */
function splitmix32Ref(seed: number, n: number): bigint[] {
  let s = BigInt(seed);
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) {
    s = (s + 0x9e3779b9n) & M32;
    let z = s;
    z = ((z ^ (z >> 16n)) * 0x85ebca6bn) & M32;
    z = ((z ^ (z >> 13n)) * 0xc2b2ae35n) & M32;
    out.push(z ^ (z >> 16n));
  }
  return out;
}

/** xoshiro128** 1.0, https://prng.di.unimi.it/xoshiro128starstar.c */
function xoshiroRef(state: readonly bigint[], n: number): bigint[] {
  const s = [...state];
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) {
    out.push((rotl((s[1]! * 5n) & M32, 7n) * 9n) & M32);
    const t = (s[1]! << 9n) & M32;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11n);
  }
  return out;
}

describe('rng', () => {
  it('follows xoshiro128** from a given state (outputs of the reference C code for s = {1, 2, 3, 4})', () => {
    const r = rng(0, [1, 2, 3, 4]);
    const first = Array.from({ length: 8 }, () => r.nextU32());
    expect(first).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849]);
    expect(xoshiroRef([1n, 2n, 3n, 4n], 8).map(Number)).toEqual(first);
  });

  it('seeds the four state words with splitmix32 and then follows xoshiro128** (BigInt reference)', () => {
    for (const seed of [0, 1, 42, 0x9e3779b9, 0xffffffff]) {
      const r = rng(seed);
      const initial = splitmix32Ref(seed, 4);
      expect(r.state(), `state of seed ${seed}`).toEqual(initial.map(Number));
      const got = Array.from({ length: 32 }, () => r.nextU32());
      expect(got, `outputs of seed ${seed}`).toEqual(xoshiroRef(initial, 32).map(Number));
    }
  });

  it('matches the reference for any seed (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (seed) => {
        const r = rng(seed);
        const got = Array.from({ length: 16 }, () => r.nextU32());
        expect(got).toEqual(xoshiroRef(splitmix32Ref(seed, 4), 16).map(Number));
      }),
      { seed: 31, numRuns: 200 },
    );
  });

  it('builds uniform() from 27 + 26 bits of two draws: (hi·2^26 + lo) / 2^53', () => {
    const words = xoshiroRef(splitmix32Ref(7, 4), 8);
    const r = rng(7);
    for (let i = 0; i < 8; i += 2) {
      const hi = words[i]! >> 5n, lo = words[i + 1]! >> 6n;
      expect(r.uniform()).toBe(Number((hi << 26n) | lo) / 2 ** 53);
    }
  });

  it('gives the same sequence for the same seed and a different one for another seed', () => {
    const a = rng(123), b = rng(123), c = rng(124);
    const seq = (r: ReturnType<typeof rng>): number[] => Array.from({ length: 100 }, () => r.uniform());
    const sa = seq(a);
    expect(seq(b)).toEqual(sa);
    expect(seq(c)).not.toEqual(sa);
  });

  it('resumes exactly from a saved state', () => {
    const a = rng(5);
    for (let i = 0; i < 37; i++) a.nextU32();
    const b = rng(0, a.state());
    expect(Array.from({ length: 20 }, () => b.normal())).toEqual(Array.from({ length: 20 }, () => a.normal()));
  });

  it('keeps uniform() in [0, 1) and normal() near mean 0, sd 1', () => {
    const r = rng(99);
    const n = 20000;
    let sum = 0, sq = 0;
    for (let i = 0; i < n; i++) {
      const u = r.uniform();
      expect(u >= 0 && u < 1).toBe(true);
      const z = r.normal();
      sum += z;
      sq += z * z;
    }
    // standard errors: mean 1/√n ≈ 0.007, variance √(2/n) ≈ 0.01
    expect(Math.abs(sum / n)).toBeLessThan(0.035);
    expect(Math.abs(sq / n - 1)).toBeLessThan(0.05);
  });

  it('draws int(n) in [0, n), each value about equally often', () => {
    const r = rng(3);
    const counts = new Array<number>(6).fill(0);
    for (let i = 0; i < 60000; i++) counts[r.int(6)]! += 1;
    for (const c of counts) expect(Math.abs(c - 10000)).toBeLessThan(500); // 5 standard deviations
    expect(() => r.int(0)).toThrow(new RangeError('Expected n to be an integer in [1, 2^32], got 0'));
    expect(() => r.int(1.5)).toThrow(RangeError);
  });

  it('rejects draws above the largest multiple of n below 2^32 (unbiased int)', () => {
    // n = 3·2^30: limit = 2^32 - 2^32 mod n = 3·2^30; words ≥ limit are skipped.
    const n = 3 * 2 ** 30;
    const words = xoshiroRef(splitmix32Ref(11, 4), 64).map(Number);
    const expected = words.filter((w) => w < n).slice(0, 10).map((w) => w % n);
    expect(words.slice(0, 12).filter((w) => w >= n)).toHaveLength(2); // two rejections among the first 12 words
    const r = rng(11);
    expect(Array.from({ length: 10 }, () => r.int(n))).toEqual(expected);
  });

  it('shuffles in place into a permutation, reproducibly', () => {
    const a = Array.from({ length: 50 }, (_, i) => i);
    const b = Int32Array.from(a);
    rng(8).shuffle(a);
    rng(8).shuffle(b);
    expect(Array.from(b)).toEqual(a);
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(a).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('shuffles as Fisher–Yates from the last index down: swap i with int(i + 1)', () => {
    const words = xoshiroRef(splitmix32Ref(12, 4), 200).map(Number);
    let w = 0;
    const intRef = (n: number): number => {
      const limit = 2 ** 32 - (2 ** 32 % n);
      for (;;) {
        const x = words[w++]!;
        if (x < limit) return x % n;
      }
    };
    const expected = Array.from({ length: 20 }, (_, i) => i);
    for (let i = expected.length - 1; i > 0; i--) {
      const j = intRef(i + 1);
      [expected[i], expected[j]] = [expected[j]!, expected[i]!];
    }
    const items = Array.from({ length: 20 }, (_, i) => i);
    rng(12).shuffle(items);
    expect(items).toEqual(expected);
  });

  it('reaches every permutation of three items about equally often', () => {
    const r = rng(13);
    const counts = new Map<string, number>();
    for (let t = 0; t < 6000; t++) {
      const items = [0, 1, 2];
      r.shuffle(items);
      counts.set(items.join(''), (counts.get(items.join('')) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual(['012', '021', '102', '120', '201', '210']);
    for (const c of counts.values()) expect(Math.abs(c - 1000)).toBeLessThan(150); // 5 standard deviations
  });

  it('rejects a seed outside [0, 2^32) and a bad state (RangeError)', () => {
    for (const seed of [-1, 1.5, 2 ** 32, NaN]) expect(() => rng(seed)).toThrow(RangeError);
    expect(() => rng(-1)).toThrow(new RangeError('Expected seed to be an integer in [0, 4294967295], got -1'));
    expect(() => rng(0, [0, 0, 0, 0])).toThrow(new RangeError('Expected rng state of four uint32 words, not all zero, got [0, 0, 0, 0]'));
    expect(() => rng(0, [1, 2, 3])).toThrow(RangeError);
    expect(() => rng(0, [1, 2, 3, 2 ** 32])).toThrow(RangeError);
  });
});
