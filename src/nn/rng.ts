/**
 * The one seeded random number generator of livegrad: xoshiro128** 1.0
 * (Blackman & Vigna, https://prng.di.unimi.it/xoshiro128starstar.c), 32-bit state words,
 * seeded by running splitmix32 over the seed. Nothing in livegrad uses Math.random.
 *
 * The state is four uint32 words and can be saved and restored (`state()` / `rng(seed, state)`),
 * so a shuffled stream can resume exactly.
 */
export interface Rng {
  /** Next uint32. */
  nextU32(): number;
  /** Uniform in [0, 1) with 53 random bits (two draws). */
  uniform(): number;
  /** Standard normal (mean 0, sd 1), Box–Muller; uses two uniforms per call, no cached spare. */
  normal(): number;
  /** Uniform integer in [0, n). Unbiased (rejection sampling). */
  int(n: number): number;
  /** In-place Fisher–Yates shuffle. */
  shuffle<T>(items: T[] | Int32Array | Uint32Array): void;
  /** Copy of the four state words. */
  state(): [number, number, number, number];
}

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * @param seed  an integer in [0, 2^32); the same seed gives the same sequence on every platform.
 * @param state optional four-word state from `Rng.state()` to resume from (the seed is then ignored).
 */
export function rng(seed: number, state?: readonly number[]): Rng {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`Expected seed to be an integer in [0, 4294967295], got ${seed}`);
  }
  const s = new Uint32Array(4);
  if (state) {
    if (state.length !== 4 || state.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff) || state.every((w) => w === 0)) {
      throw new RangeError(`Expected rng state of four uint32 words, not all zero, got [${state.join(', ')}]`);
    }
    s.set(state);
  } else {
    const sm = splitmix32(seed);
    for (let i = 0; i < 4; i++) s[i] = sm();
  }

  function nextU32(): number {
    const result = Math.imul(rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  function uniform(): number {
    // 53 random bits: 27 from one draw, 26 from the next.
    const hi = nextU32() >>> 5;
    const lo = nextU32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  function normal(): number {
    // NOTE: 1 - uniform() is in (0, 1], so the log is finite.
    const u1 = 1 - uniform();
    const u2 = uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  function int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 0x100000000) throw new RangeError(`Expected n to be an integer in [1, 2^32], got ${n}`);
    const limit = 0x100000000 - (0x100000000 % n);
    for (;;) {
      const x = nextU32();
      if (x < limit) return x % n;
    }
  }

  function shuffle<T>(items: T[] | Int32Array | Uint32Array): void {
    for (let i = items.length - 1; i > 0; i--) {
      const j = int(i + 1);
      const tmp = items[i]!;
      items[i] = items[j]!;
      items[j] = tmp;
    }
  }

  return { nextU32, uniform, normal, int, shuffle, state: () => [s[0]!, s[1]!, s[2]!, s[3]!] };
}
