/**
 * The WebAssembly kernels (src/nn/wasm/assembly/) one by one, against plain JS references: exact
 * sums in float64 over the float32 inputs, and the TypeScript optimizers of src/nn/optimizers.ts.
 *
 * Tolerances (u = 2⁻²⁴, float32's unit roundoff):
 * - a product's element (k terms, bias first): |wasm − exact| ≤ (k + 2)·u·(|bias| + Σ|x·w|),
 *   the classic bound for recursive summation;
 * - exp, sigmoid, tanh: a few ulp of the exact value (the sweeps below state their bound);
 * - optimizers: 16u times the magnitude of the terms of each update.
 * Every buffer sits between sentinel bytes (a NaN pattern): a store past an output's end shows as a
 * changed sentinel; a lane read past an input's end that leaked into a result shows as a NaN.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildKernels } from '../../scripts/build-kernels.js';
import { ACT, KERNEL_NAMES, SLACK_BYTES, type ActCode, type KernelExports } from '../../src/nn/wasm/abi.js';
import { KERNELS_WASM_BASE64, KERNELS_WASM_SHA256 } from '../../src/nn/wasm/kernels-wasm.js';
import { createMemory, decodeBase64, instantiate, kernelModule } from '../../src/nn/wasm/module.js';
import { initOptimizerState, optimizerStep, adam, adamw, sgd, type Optimizer } from '../../src/nn/optimizers.js';
import { rng, type Rng } from '../../src/nn/rng.js';

const U = 2 ** -24;
/** Sentinel bytes before every buffer (after it: SLACK_BYTES and the padding to 16 bytes). */
const GUARD = 64;
/** A NaN with a payload no kernel computes. */
const SENTINEL = 0x7fc0dead;
const ACTS = [ACT.linear, ACT.sigmoid, ACT.tanh, ACT.relu, ACT.leakyRelu] as const;

/**
 * The kernels plus what the module has beyond KernelExports: the test-only `exp` (v[i] = e^v[i]) and
 * the optional last argument of forward and backwardInput, a scratch of SCRATCH bytes.
 */
type Kernels = KernelExports & {
  exp(v: number, n: number): void;
  forward(x: number, w: number, bias: number, z: number, a: number, m: number, k: number, n: number, act: ActCode, j0: number, j1: number, scratch: number): void;
  backwardInput(dz: number, wt: number, zp: number, ap: number, dzp: number, m: number, n: number, k: number, act: ActCode, j0: number, j1: number, scratch: number): void;
  weightGrad(x: number, dz: number, dw: number, m: number, k: number, n: number, p0: number, p1: number, scratch: number): void;
};
/** Bytes of the scratch forward and backwardInput may take (gemm.ts's SCRATCH_BYTES). */
const SCRATCH = 16384;

/** A bump allocator over a fresh shared memory, every buffer between sentinel regions. */
class Heap {
  readonly k: Kernels;
  private readonly memory: WebAssembly.Memory;
  private top = 0;
  private readonly guards: [number, number][] = [];

  constructor(bytes: number) {
    this.memory = createMemory(bytes);
    this.k = instantiate(kernelModule()!, this.memory) as Kernels;
  }

  /** A 16-byte aligned buffer of n float32 (or int32) values, set from `init` when given. */
  alloc(n: number, init?: ArrayLike<number>, int = false): number {
    const ptr = this.top + GUARD;
    const end = ptr + Math.ceil((4 * n) / 16) * 16 + SLACK_BYTES;
    const need = end - this.memory.buffer.byteLength;
    if (need > 0) this.memory.grow(Math.ceil(need / 65536));
    new Uint32Array(this.memory.buffer, this.top, (end - this.top) / 4).fill(SENTINEL);
    this.guards.push([this.top, ptr], [ptr + 4 * n, end]);
    this.top = end;
    if (init) (int ? new Int32Array(this.memory.buffer, ptr, n) : new Float32Array(this.memory.buffer, ptr, n)).set(init);
    return ptr;
  }

  view(ptr: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, n);
  }

  bits(ptr: number, n: number): Uint32Array {
    return new Uint32Array(this.memory.buffer, ptr, n).slice();
  }

  /** Throws when any byte outside the buffers' elements changed. */
  checkGuards(): void {
    const u32 = new Uint32Array(this.memory.buffer);
    for (const [from, to] of this.guards) {
      for (let b = from; b < to; b += 4) {
        if (u32[b / 4] !== SENTINEL) throw new Error(`byte ${b} outside every output was written (region ${from}–${to})`);
      }
    }
  }
}

/** Float32 values, normal with sd `sd`, from a seeded generator. */
function randoms(r: Rng, n: number, sd = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = sd * r.normal();
  return out;
}

/** The float32 ulp at |x| (the subnormal step below 2⁻¹²⁶). */
function ulp32(x: number): number {
  const a = Math.abs(x);
  if (a < 2 ** -126) return 2 ** -149;
  return 2 ** (Math.floor(Math.log2(a)) - 23);
}

/** Exact (float64) product C = init + A·B with A[i, t] = a(i, t), and Σ|terms| per element. */
function exactProduct(
  m: number, k: number, n: number, a: (i: number, t: number) => number, b: Float32Array, init?: Float32Array,
): { c: Float64Array; mag: Float64Array } {
  const c = new Float64Array(m * n), mag = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = init ? init[j]! : 0, g = Math.abs(s);
      for (let t = 0; t < k; t++) {
        const p = a(i, t) * b[t * n + j]!;
        s += p;
        g += Math.abs(p);
      }
      c[i * n + j] = s;
      mag[i * n + j] = g;
    }
  }
  return { c, mag };
}

/** Asserts the recursive-summation bound for every element of a product over k terms. */
function expectProduct(got: Float32Array, exact: Float64Array, mag: Float64Array, k: number, what: string): void {
  for (let e = 0; e < exact.length; e++) {
    const tol = (k + 2) * U * mag[e]!;
    if (!(Math.abs(got[e]! - exact[e]!) <= tol)) {
      throw new Error(`${what}[${e}]: ${got[e]} vs exact ${exact[e]} (tolerance ${tol})`);
    }
  }
}

/** f(z) in float64, and the float32 rules the contract states exactly (relu, leakyRelu). */
function actRef(act: ActCode, z: number): number {
  switch (act) {
    case ACT.sigmoid: return 1 / (1 + Math.exp(-z));
    case ACT.tanh: return Math.tanh(z);
    case ACT.relu: return z > 0 ? z : 0;
    case ACT.leakyRelu: return z > 0 ? z : Math.fround(Math.fround(0.01) * z);
    default: return z;
  }
}

/** a = f(z) within 4 ulp for sigmoid and tanh, exactly for the others. */
function expectActivation(act: ActCode, z: Float32Array, a: Float32Array, what: string): void {
  for (let e = 0; e < z.length; e++) {
    const want = actRef(act, z[e]!);
    const tol = act === ACT.sigmoid || act === ACT.tanh ? 4 * ulp32(want) : 0;
    if (!(Math.abs(a[e]! - want) <= tol)) throw new Error(`${what}[${e}]: f(${z[e]}) = ${a[e]}, want ${want}`);
  }
}

/** f′ in float64 from zp and ap, as the contract states it. */
function derivRef(act: ActCode, zp: number, ap: number): number {
  switch (act) {
    case ACT.sigmoid: return ap * (1 - ap);
    case ACT.tanh: return 1 - ap * ap;
    case ACT.relu: return zp > 0 ? 1 : 0;
    case ACT.leakyRelu: return zp > 0 ? 1 : 0.01;
    default: return 1;
  }
}

const shape = fc.record({
  m: fc.integer({ min: 1, max: 70 }),
  k: fc.integer({ min: 1, max: 70 }),
  n: fc.integer({ min: 1, max: 70 }),
  act: fc.constantFrom(...ACTS),
  seed: fc.integer({ min: 0, max: 0xffffffff }),
});

/** Runs forward on fresh buffers; returns the heap, pointers and inputs. */
function runForward(m: number, k: number, n: number, act: ActCode, seed: number, ranges: readonly [number, number][] = [[0, n]]) {
  const r = rng(seed);
  const x = randoms(r, m * k), w = randoms(r, k * n, 1 / Math.sqrt(k)), bias = randoms(r, n, 0.5);
  const h = new Heap(4 * (m * k + k * n + n + 2 * m * n) + 4096);
  const px = h.alloc(m * k, x), pw = h.alloc(k * n, w), pb = h.alloc(n, bias), pz = h.alloc(m * n), pa = h.alloc(m * n);
  for (const [j0, j1] of ranges) h.k.forward(px, pw, pb, pz, pa, m, k, n, act, j0, j1);
  return { h, x, w, bias, pz, pa };
}

/** Cuts [0, n) at up to two random multiples of 8. */
function splits(r: Rng, n: number): [number, number][] {
  const cuts = [r.int(Math.floor(n / 8) + 1) * 8, r.int(Math.floor(n / 8) + 1) * 8].map((c) => Math.min(c, n)).sort((a, b) => a - b);
  return [[0, cuts[0]!], [cuts[0]!, cuts[1]!], [cuts[1]!, n]];
}

describe('wasm kernels: the module', () => {
  it('is a fresh build of src/nn/wasm/assembly (run `npm run build:kernels` after editing it)', async () => {
    const fresh = await buildKernels();
    expect(Buffer.from(fresh).equals(Buffer.from(decodeBase64(KERNELS_WASM_BASE64)))).toBe(true);
    expect(KERNELS_WASM_SHA256).toBe(createHash('sha256').update(fresh).digest('hex'));
  }, 60_000);

  it('imports only env.memory and has no data segment, no globals and no start function', () => {
    const module = kernelModule();
    expect(module).toBeDefined();
    expect(WebAssembly.Module.imports(module!)).toEqual([{ module: 'env', name: 'memory', kind: 'memory' }]);
    const exports = WebAssembly.Module.exports(module!).map((e) => e.name);
    for (const name of KERNEL_NAMES) expect(exports).toContain(name);
    // section ids: 6 global, 8 start, 11 data, 12 data count
    const bytes = decodeBase64(KERNELS_WASM_BASE64);
    const ids: number[] = [];
    for (let at = 8; at < bytes.length;) {
      ids.push(bytes[at]!);
      let size = 0, shift = 0, b: number;
      at++;
      do {
        b = bytes[at++]!;
        size |= (b & 0x7f) << shift;
        shift += 7;
      } while (b & 0x80);
      at += size;
    }
    expect(ids.filter((id) => id === 6 || id === 8 || id === 11 || id === 12)).toEqual([]);
  });
});

describe('wasm kernels: forward', () => {
  it('equals bias + x·w within the summation bound, and a = f(z), on random shapes', () => {
    fc.assert(
      fc.property(shape, ({ m, k, n, act, seed }) => {
        const { h, x, w, bias, pz, pa } = runForward(m, k, n, act, seed);
        h.checkGuards();
        const { c, mag } = exactProduct(m, k, n, (i, t) => x[i * k + t]!, w, bias);
        const z = h.view(pz, m * n);
        expectProduct(z, c, mag, k, `z ${m}×${k}·${k}×${n}`);
        expectActivation(act, z, h.view(pa, m * n), `a (act ${act})`);
      }),
      { seed: 1401, numRuns: 60 },
    );
  });

  it('equals the exact product on the big shape 64×784·784×256 (tanh)', () => {
    const { h, x, w, bias, pz, pa } = runForward(64, 784, 256, ACT.tanh, 7);
    h.checkGuards();
    const { c, mag } = exactProduct(64, 784, 256, (i, t) => x[i * 784 + t]!, w, bias);
    const z = h.view(pz, 64 * 256);
    expectProduct(z, c, mag, 784, 'z');
    expectActivation(ACT.tanh, z, h.view(pa, 64 * 256), 'a');
  });

  it('gives the same bits split into column ranges at multiples of 8, and on a second run', () => {
    fc.assert(
      fc.property(shape, ({ m, k, n, act, seed }) => {
        const whole = runForward(m, k, n, act, seed);
        const again = runForward(m, k, n, act, seed);
        const parts = runForward(m, k, n, act, seed, splits(rng((seed ^ 1) >>> 0), n));
        parts.h.checkGuards();
        for (const run of [again, parts]) {
          expect(run.h.bits(run.pz, m * n)).toEqual(whole.h.bits(whole.pz, m * n));
          expect(run.h.bits(run.pa, m * n)).toEqual(whole.h.bits(whole.pa, m * n));
        }
      }),
      { seed: 1402, numRuns: 40 },
    );
  });

  it('writes z once when a is z (linear)', () => {
    const r = rng(3);
    const m = 5, k = 3, n = 10;
    const x = randoms(r, m * k), w = randoms(r, k * n), bias = randoms(r, n);
    const h = new Heap(1 << 16);
    const px = h.alloc(m * k, x), pw = h.alloc(k * n, w), pb = h.alloc(n, bias), pz = h.alloc(m * n);
    h.k.forward(px, pw, pb, pz, pz, m, k, n, ACT.linear, 0, n);
    h.checkGuards();
    const { c, mag } = exactProduct(m, k, n, (i, t) => x[i * k + t]!, w, bias);
    expectProduct(h.view(pz, m * n), c, mag, k, 'z');
  });

  it('propagates NaN and Infinity from the inputs (relu maps NaN to 0, as z > 0 ? z : 0)', () => {
    const h = new Heap(1 << 16);
    const m = 1, k = 2, n = 5;
    // z = [NaN, +Inf, −Inf, NaN (Inf − Inf), 1]
    const x = [1, 1], w = [NaN, Infinity, -Infinity, Infinity, 0.5, 0, 0, 0, -Infinity, 0.5];
    const px = h.alloc(2, x), pw = h.alloc(10, w), pb = h.alloc(n, [0, 0, 0, 0, 0]), pz = h.alloc(n), pa = h.alloc(n);
    const z = [NaN, Infinity, -Infinity, NaN, 1];
    const want: Record<ActCode, number[]> = {
      [ACT.linear]: z,
      [ACT.sigmoid]: [NaN, 1, 0, NaN, 1 / (1 + Math.exp(-1))],
      [ACT.tanh]: [NaN, 1, -1, NaN, Math.tanh(1)],
      [ACT.relu]: [0, Infinity, 0, 0, 1],
      [ACT.leakyRelu]: [NaN, Infinity, -Infinity, NaN, 1],
    };
    for (const act of ACTS) {
      h.k.forward(px, pw, pb, pz, pa, m, k, n, act, 0, n);
      expect(Array.from(h.view(pz, n))).toEqual(z);
      const a = Array.from(h.view(pa, n));
      want[act].forEach((v, j) => (Number.isFinite(v) && Math.abs(v) < 1 ? expect(a[j]).toBeCloseTo(v, 6) : expect(a[j]).toBe(v)));
    }
    h.checkGuards();
  });
});

describe('wasm kernels: backwardInput', () => {
  it('equals (dz·wt) ⊙ f′ within the summation bound, and splits into column ranges bit for bit', () => {
    fc.assert(
      fc.property(shape, ({ m, k, n, act, seed }) => {
        const r = rng(seed);
        const dz = randoms(r, m * n), wt = randoms(r, n * k, 1 / Math.sqrt(n)), zp = randoms(r, m * k);
        const ap = zp.map((v) => actRef(act, v));
        const h = new Heap(4 * (m * n + n * k + 4 * m * k) + 4096);
        const pdz = h.alloc(m * n, dz), pwt = h.alloc(n * k, wt), pzp = h.alloc(m * k, zp), pap = h.alloc(m * k, ap);
        const whole = h.alloc(m * k), split = h.alloc(m * k);
        h.k.backwardInput(pdz, pwt, pzp, pap, whole, m, n, k, act, 0, k);
        for (const [j0, j1] of splits(r, k)) h.k.backwardInput(pdz, pwt, pzp, pap, split, m, n, k, act, j0, j1);
        h.checkGuards();
        expect(h.bits(split, m * k)).toEqual(h.bits(whole, m * k));
        const { c, mag } = exactProduct(m, n, k, (i, t) => dz[i * n + t]!, wt);
        const got = h.view(whole, m * k);
        for (let e = 0; e < m * k; e++) {
          const d = derivRef(act, zp[e]!, ap[e]!);
          const errS = (n + 2) * U * mag[e]!;
          const tol = errS * Math.abs(d) + (Math.abs(c[e]!) + errS) * 4 * U + 2 * U * Math.abs(c[e]! * d);
          if (!(Math.abs(got[e]! - c[e]! * d) <= tol)) throw new Error(`dzp[${e}] ${got[e]} vs ${c[e]! * d} (act ${act})`);
        }
      }),
      { seed: 1403, numRuns: 60 },
    );
  });
});

describe('wasm kernels: ranges', () => {
  /** Indices of [0, rows·cols) whose element is outside rows [r0, r1) × columns [c0, c1) and was written. */
  function writtenOutside(h: Heap, ptr: number, rows: number, cols: number, r0: number, r1: number, c0: number, c1: number): number[] {
    const bits = h.bits(ptr, rows * cols);
    const out: number[] = [];
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) if ((r < r0 || r >= r1 || c < c0 || c >= c1) && bits[r * cols + c] !== SENTINEL) out.push(r * cols + c);
    }
    return out;
  }

  it('forward, backwardInput, weightGrad and the optimizers write only their range', () => {
    const m = 5, k = 300, n = 64, r = rng(11); // k > 256: blocked sums; n = 64: w copied to the scratch
    const h = new Heap(1 << 20);
    const px = h.alloc(m * k, randoms(r, m * k)), pw = h.alloc(k * n, randoms(r, k * n)), pb = h.alloc(n, randoms(r, n));
    const pdz = h.alloc(m * n, randoms(r, m * n)), pwt = h.alloc(n * k, randoms(r, n * k));
    const scratch = h.alloc(SCRATCH / 4);
    for (const act of ACTS) {
      const pz = h.alloc(m * n), pa = h.alloc(m * n), pdx = h.alloc(m * k), pdw = h.alloc(k * n);
      h.k.forward(px, pw, pb, pz, pa, m, k, n, act, 8, 40, scratch);
      expect(writtenOutside(h, pz, m, n, 0, m, 8, 40)).toEqual([]);
      expect(writtenOutside(h, pa, m, n, 0, m, 8, 40)).toEqual([]);
      h.k.backwardInput(pdz, pwt, px, px, pdx, m, n, k, act, 16, 280, scratch);
      expect(writtenOutside(h, pdx, m, k, 0, m, 16, 280)).toEqual([]);
      h.k.weightGrad(px, pdz, pdw, m, k, n, 24, 56, scratch);
      expect(writtenOutside(h, pdw, k, n, 24, 56, 0, n)).toEqual([]);
    }
    const len = 45, pp = h.alloc(len), pg = h.alloc(len, randoms(r, len)), pm = h.alloc(len), pv = h.alloc(len);
    h.view(pp, len).fill(1);
    h.k.sgd(pp, pg, 8, 21, 0.1);
    h.k.sgdMomentum(pp, pg, pm, 8, 21, 0.1, 0.9, 0, 0.01, 1, 1);
    h.k.adam(pp, pg, pm, pv, 8, 21, 0.1, 0.9, 0.999, 1e-8, 0.01, 1, 0.1, 0.03);
    for (const ptr of [pm, pv]) expect(writtenOutside(h, ptr, 1, len, 0, 1, 8, 21)).toEqual([]);
    expect(Array.from(h.view(pp, len)).filter((v, i) => (i < 8 || i >= 21) && v !== 1)).toEqual([]);
    h.checkGuards();
  });
});

describe('wasm kernels: the order of summation', () => {
  /** C = init + A·B as the contract's one float32 sum per element: s = init; s = f32(s + f32(a·b)), t in order. */
  function float32Product(m: number, k: number, n: number, a: (i: number, t: number) => number, b: Float32Array, init?: Float32Array): Float32Array {
    const c = new Float32Array(m * n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = init ? init[j]! : 0;
        for (let t = 0; t < k; t++) s = Math.fround(s + Math.fround(a(i, t) * b[t * n + j]!));
        c[i * n + j] = s;
      }
    }
    return c;
  }

  // k > 256 makes forward and backwardInput sum in blocks of steps (partial sums left in the output);
  // B's rows a multiple of 256 bytes apart (n or k a multiple of 64) make them copy B's blocks to the scratch
  const shapes = [[5, 3, 10], [7, 70, 33], [4, 300, 40], [3, 600, 17], [64, 784, 16], [6, 128, 64], [5, 600, 128]] as const;

  it('forward, backwardInput and weightGrad equal the float32 sum in index order, bit for bit', () => {
    for (const [m, k, n] of shapes) {
      const r = rng(m * 1000 + k);
      const x = randoms(r, m * k), w = randoms(r, k * n, 1 / Math.sqrt(k)), bias = randoms(r, n), dz = randoms(r, m * n);
      const h = new Heap(4 * (2 * m * k + 2 * k * n + n + 3 * m * n) + SCRATCH + 8192);
      const px = h.alloc(m * k, x), pw = h.alloc(k * n, w), pb = h.alloc(n, bias), pz = h.alloc(m * n), pdz = h.alloc(m * n, dz);
      const pwt = h.alloc(n * k), pdx = h.alloc(m * k), pdw = h.alloc(k * n), scratch = h.alloc(SCRATCH / 4);
      h.k.transpose(pw, pwt, k, n);
      const wt = h.view(pwt, n * k).slice();
      const z = float32Product(m, k, n, (i, t) => x[i * k + t]!, w, bias), dx = float32Product(m, n, k, (i, t) => dz[i * n + t]!, wt);
      for (const s of [0, scratch]) {
        h.k.forward(px, pw, pb, pz, pz, m, k, n, ACT.linear, 0, n, s);
        expect(h.view(pz, m * n), `forward ${m}×${k}·${k}×${n}, scratch ${s}`).toEqual(z);
        h.k.backwardInput(pdz, pwt, px, px, pdx, m, n, k, ACT.linear, 0, k, s);
        expect(h.view(pdx, m * k), `backwardInput ${m}×${n}·${n}×${k}, scratch ${s}`).toEqual(dx);
      }
      const dw = float32Product(k, m, n, (p, i) => x[i * k + p]!, dz);
      for (const s of [0, scratch]) {
        h.k.weightGrad(px, pdz, pdw, m, k, n, 0, k, s);
        expect(h.view(pdw, k * n), `weightGrad ${k}×${m}·${m}×${n}, scratch ${s}`).toEqual(dw);
      }
      h.checkGuards();
    }
  });
});

describe('wasm kernels: backwardInput, the big shape', () => {
  it('equals (dz·wt) ⊙ relu′ on 64×256·256×784', () => {
    const m = 64, n = 256, k = 784, r = rng(9);
    const dz = randoms(r, m * n), wt = randoms(r, n * k, 1 / 16), zp = randoms(r, m * k);
    const h = new Heap(4 * (m * n + n * k + 3 * m * k) + 4096);
    const pdz = h.alloc(m * n, dz), pwt = h.alloc(n * k, wt), pzp = h.alloc(m * k, zp), pdzp = h.alloc(m * k);
    h.k.backwardInput(pdz, pwt, pzp, pzp, pdzp, m, n, k, ACT.relu, 0, k);
    h.checkGuards();
    const { c, mag } = exactProduct(m, n, k, (i, t) => dz[i * n + t]!, wt);
    for (let e = 0; e < m * k; e++) if (!(zp[e]! > 0)) c[e] = mag[e] = 0;
    expectProduct(h.view(pdzp, m * k), c, mag, n, 'dzp');
  });
});

describe('wasm kernels: weightGrad, biasGrad, transpose', () => {
  it('weightGrad equals xᵀ·dz within the bound and splits into row ranges bit for bit', () => {
    fc.assert(
      fc.property(shape, ({ m, k, n, seed }) => {
        const r = rng(seed);
        const x = randoms(r, m * k), dz = randoms(r, m * n);
        const h = new Heap(4 * (m * k + m * n + 2 * k * n) + 4096);
        const px = h.alloc(m * k, x), pdz = h.alloc(m * n, dz), whole = h.alloc(k * n), split = h.alloc(k * n);
        h.k.weightGrad(px, pdz, whole, m, k, n, 0, k);
        for (const [p0, p1] of splits(r, k)) h.k.weightGrad(px, pdz, split, m, k, n, p0, p1);
        h.checkGuards();
        expect(h.bits(split, k * n)).toEqual(h.bits(whole, k * n));
        const { c, mag } = exactProduct(k, m, n, (p, i) => x[i * k + p]!, dz);
        expectProduct(h.view(whole, k * n), c, mag, m, 'dw');
      }),
      { seed: 1404, numRuns: 60 },
    );
  });

  it('weightGrad equals the exact product on the big shape 784×64·64×256', () => {
    const m = 64, k = 784, n = 256, r = rng(8);
    const x = randoms(r, m * k), dz = randoms(r, m * n);
    const h = new Heap(4 * (m * k + m * n + k * n) + 4096);
    const px = h.alloc(m * k, x), pdz = h.alloc(m * n, dz), pdw = h.alloc(k * n);
    h.k.weightGrad(px, pdz, pdw, m, k, n, 0, k);
    h.checkGuards();
    const { c, mag } = exactProduct(k, m, n, (p, i) => x[i * k + p]!, dz);
    expectProduct(h.view(pdw, k * n), c, mag, m, 'dw');
  });

  it('biasGrad sums each column within the bound', () => {
    fc.assert(
      fc.property(shape, ({ m, n, seed }) => {
        const dz = randoms(rng(seed), m * n);
        const h = new Heap(4 * (m * n + n) + 4096);
        const pdz = h.alloc(m * n, dz), pdb = h.alloc(n);
        h.k.biasGrad(pdz, pdb, m, n);
        h.checkGuards();
        const ones = new Float32Array(m).fill(1);
        const { c, mag } = exactProduct(1, m, n, (_, i) => ones[i]!, dz);
        expectProduct(h.view(pdb, n), c, mag, m, 'db');
      }),
      { seed: 1405, numRuns: 40 },
    );
  });

  it('transpose moves every value exactly', () => {
    fc.assert(
      fc.property(shape, ({ m: rows, n: cols, seed }) => {
        const src = randoms(rng(seed), rows * cols);
        const h = new Heap(8 * rows * cols + 4096);
        const ps = h.alloc(rows * cols, src), pd = h.alloc(rows * cols);
        h.k.transpose(ps, pd, rows, cols);
        h.checkGuards();
        const dst = h.view(pd, rows * cols);
        for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) expect(dst[c * rows + r]).toBe(src[r * cols + c]);
      }),
      { seed: 1406, numRuns: 40 },
    );
  });
});

describe('wasm kernels: sumSquares, scale', () => {
  it('sumSquares equals Σ v² in float64 to float64 rounding, and is NaN or Infinity for such values', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 0xffffffff }), (n, seed) => {
        const v = randoms(rng(seed), n, 10);
        const h = new Heap(4 * n + 4096);
        const pv = h.alloc(n, v);
        let exact = 0;
        for (const x of v) exact += x * x;
        expect(Math.abs(h.k.sumSquares(pv, n) - exact)).toBeLessThanOrEqual((n + 2) * 2 ** -52 * exact);
      }),
      { seed: 1407, numRuns: 60 },
    );
    const h = new Heap(4096);
    expect(h.k.sumSquares(h.alloc(13, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, Infinity]), 13)).toBe(Infinity);
    expect(h.k.sumSquares(h.alloc(13, [1, 2, -Infinity, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]), 13)).toBe(Infinity);
    expect(h.k.sumSquares(h.alloc(9, [1, 2, 3, 4, NaN, Infinity, 7, 8, 9]), 9)).toBeNaN();
    expect(h.k.sumSquares(h.alloc(0), 0)).toBe(0);
  });

  it('scale multiplies in float32 and writes nothing past n', () => {
    for (const n of [0, 1, 3, 4, 5, 8, 13, 64, 67]) {
      const v = randoms(rng(n), n);
      const h = new Heap(4 * n + 4096);
      const pv = h.alloc(n, v);
      h.k.scale(pv, n, 0.3);
      h.checkGuards();
      expect(Array.from(h.view(pv, n))).toEqual(Array.from(v, (x) => Math.fround(x * Math.fround(0.3))));
    }
  });
});

describe('wasm kernels: exp, sigmoid, tanh', () => {
  /** Max error in ulps of the exact value over `xs`, through `run`, which computes in place. */
  function maxUlps(xs: Float32Array, got: Float32Array, exact: (x: number) => number): { ulps: number; at: number } {
    let worst = { ulps: 0, at: 0 };
    for (let i = 0; i < xs.length; i++) {
      const want = exact(xs[i]!);
      const ulps = Math.abs(got[i]! - want) / ulp32(want);
      if (!(ulps <= worst.ulps)) worst = { ulps, at: xs[i]! };
    }
    return worst;
  }

  /** Every 997th float32 in [lo, hi] (by bit pattern, both signs as given). */
  function sweep(lo: number, hi: number): Float32Array {
    const out: number[] = [];
    const f = new Float32Array(1), u = new Uint32Array(f.buffer);
    for (const [from, to] of lo < 0 ? [[0x80000000, (f[0] = lo, u[0]!)], [0, (f[0] = hi, u[0]!)]] : [[(f[0] = lo, u[0]!), (f[0] = hi, u[0]!)]]) {
      for (let b = from!; b <= to!; b += 997) {
        u[0] = b;
        out.push(f[0]!);
      }
    }
    return Float32Array.from(out);
  }

  it('exp is within 2 ulp of eˣ over a dense sweep of [−87.3, 88.7], and exact at the edges', () => {
    const xs = sweep(-87.33, 88.72);
    const h = new Heap(4 * xs.length + 4096);
    const p = h.alloc(xs.length, xs);
    h.k.exp(p, xs.length);
    h.checkGuards();
    const worst = maxUlps(xs, h.view(p, xs.length), Math.exp);
    console.log(`exp: max error ${worst.ulps.toFixed(3)} ulp (at x = ${worst.at}) over ${xs.length} points`);
    expect(worst.ulps).toBeLessThanOrEqual(2);
    const edges = [0, -0, NaN, Infinity, -Infinity, 88.73, 89, 1e30, -104, -1e30, -103.28];
    const pe = h.alloc(edges.length, edges);
    h.k.exp(pe, edges.length);
    const got = Array.from(h.view(pe, edges.length));
    expect(got.slice(0, -1)).toEqual([1, 1, NaN, Infinity, 0, Infinity, Infinity, Infinity, 0, 0]);
    // a subnormal result: e^−103.28 ≈ 0.999·2⁻¹⁴⁹, within one subnormal step
    expect(Math.abs(got.at(-1)! - Math.exp(Math.fround(-103.28)))).toBeLessThanOrEqual(2 ** -149);
  });

  it('sigmoid and tanh (through forward with k = 1) are within 3 ulp over a dense sweep', () => {
    const xs = sweep(-20, 20);
    const h = new Heap(12 * xs.length + 4096);
    const px = h.alloc(1, [1]), pw = h.alloc(xs.length, xs), pb = h.alloc(xs.length), pz = h.alloc(xs.length), pa = h.alloc(xs.length);
    h.view(pb, xs.length).fill(0);
    for (const [act, f] of [[ACT.sigmoid, (x: number) => 1 / (1 + Math.exp(-x))], [ACT.tanh, Math.tanh]] as const) {
      h.k.forward(px, pw, pb, pz, pa, 1, 1, xs.length, act, 0, xs.length);
      const worst = maxUlps(xs, h.view(pa, xs.length), f);
      console.log(`${act === ACT.sigmoid ? 'sigmoid' : 'tanh'}: max error ${worst.ulps.toFixed(3)} ulp (at z = ${worst.at}) over ${xs.length} points`);
      expect(worst.ulps).toBeLessThanOrEqual(3);
    }
    h.checkGuards();
  });
});

/** Exact softmax cross-entropy of one row (float64, with the float32 shift z − mx of the contract). */
function softmaxRef(z: Float32Array, mx: number): { a: Float64Array; lse: number; s: number } {
  const e = Float64Array.from(z, (v) => Math.exp(Math.fround(v - mx)));
  const s = e.reduce((p, v) => p + v, 0);
  return { a: e.map((v) => v / s), lse: Math.log(s) + mx, s };
}

describe('wasm kernels: softmax cross-entropy', () => {
  const rows = fc.record({
    m: fc.integer({ min: 1, max: 40 }),
    n: fc.integer({ min: 1, max: 40 }),
    seed: fc.integer({ min: 0, max: 0xffffffff }),
    c: fc.constantFrom(1, 0.5, 1 / 32),
  });

  it('softmaxXentLabels equals the exact softmax, delta and loss', () => {
    fc.assert(
      fc.property(rows, ({ m, n, seed, c }) => {
        const r = rng(seed);
        const z = randoms(r, m * n, 3), labels = Int32Array.from({ length: m }, () => r.int(n));
        const h = new Heap(12 * m * n + 4 * m + 4096);
        const pz = h.alloc(m * n, z), pa = h.alloc(m * n), pdz = h.alloc(m * n), pl = h.alloc(m, labels, true);
        const loss = h.k.softmaxXentLabels(pz, pa, pdz, pl, m, n, c);
        h.checkGuards();
        let want = 0;
        const a = h.view(pa, m * n), dz = h.view(pdz, m * n);
        for (let i = 0; i < m; i++) {
          const row = z.subarray(i * n, (i + 1) * n);
          const ref = softmaxRef(row, Math.max(...row));
          want += ref.lse - row[labels[i]!]!;
          for (let j = 0; j < n; j++) {
            const av = ref.a[j]!, hot = j === labels[i] ? 1 : 0, e = i * n + j;
            expect(Math.abs(a[e]! - av)).toBeLessThanOrEqual((n + 8) * U * av + 2 ** -149);
            expect(Math.abs(dz[e]! - c * (av - hot))).toBeLessThanOrEqual(c * ((n + 8) * U * av + U * Math.abs(av - hot)) + 2 ** -149);
          }
        }
        expect(Math.abs(loss - want)).toBeLessThanOrEqual(m * (n + 4) * U + 1e-12 * Math.abs(want));
      }),
      { seed: 1408, numRuns: 60 },
    );
  });

  it('softmaxXentValues equals the exact softmax, delta and loss (soft targets that need not sum to 1)', () => {
    fc.assert(
      fc.property(rows, ({ m, n, seed, c }) => {
        const r = rng(seed);
        const z = randoms(r, m * n, 3), y = Float32Array.from({ length: m * n }, () => (r.uniform() < 0.5 ? 0 : r.uniform()));
        const h = new Heap(16 * m * n + 4096);
        const pz = h.alloc(m * n, z), pa = h.alloc(m * n), pdz = h.alloc(m * n), py = h.alloc(m * n, y);
        const loss = h.k.softmaxXentValues(pz, pa, pdz, py, m, n, c);
        h.checkGuards();
        let want = 0, tolLoss = 0;
        const a = h.view(pa, m * n), dz = h.view(pdz, m * n);
        for (let i = 0; i < m; i++) {
          const row = z.subarray(i * n, (i + 1) * n), yr = y.subarray(i * n, (i + 1) * n);
          const ref = softmaxRef(row, Math.max(...row));
          const t = yr.reduce((p, v) => p + v, 0);
          for (let j = 0; j < n; j++) {
            if (yr[j] !== 0) want += yr[j]! * (ref.lse - row[j]!);
            tolLoss += yr[j]! * ((n + 4) * U + 1e-12 * Math.abs(ref.lse - row[j]!));
            const av = ref.a[j]!, e = i * n + j, d = c * (av * t - yr[j]!);
            expect(Math.abs(a[e]! - av)).toBeLessThanOrEqual((n + 8) * U * av + 2 ** -149);
            expect(Math.abs(dz[e]! - d)).toBeLessThanOrEqual(c * (2 * (n + 8) * U * av * t + U * Math.abs(av * t - yr[j]!)) + U * Math.abs(d) + 2 ** -149);
          }
        }
        expect(Math.abs(loss - want)).toBeLessThanOrEqual(tolLoss + 1e-12);
      }),
      { seed: 1409, numRuns: 60 },
    );
  });

  it('stays finite on huge logits (±1e30) and gives 1/n on a row of equal logits', () => {
    const m = 3, n = 10;
    const z = new Float32Array(m * n);
    z.fill(1e30, 0, n);
    z[3] = -1e30;
    for (let j = 0; j < n; j++) z[n + j] = j % 2 ? 1e30 : -1e30;
    z.fill(7, 2 * n);
    const h = new Heap(4096 * 4);
    const pz = h.alloc(m * n, z), pa = h.alloc(m * n), pdz = h.alloc(m * n), pl = h.alloc(m, [3, 1, 9], true);
    const loss = h.k.softmaxXentLabels(pz, pa, pdz, pl, m, n, 1);
    h.checkGuards();
    const a = Array.from(h.view(pa, m * n)), dz = Array.from(h.view(pdz, m * n));
    expect(a.every(Number.isFinite) && dz.every(Number.isFinite)).toBe(true);
    expect(a[3]).toBe(0);
    expect(a.slice(2 * n)).toEqual(new Array(n).fill(Math.fround(Math.fround(1) * Math.fround(1 / 10))));
    // row 0: label 3 at −1e30, loss log 9 + 2e30; rows 1 and 2: log 5 and log 10, all absorbed by 2e30
    expect(loss).toBe(2 * Math.fround(1e30));
  });

  it('propagates NaN in a row to that row only', () => {
    const h = new Heap(4096 * 4);
    const z = [0, NaN, 1, 2, 0, 1, 2, 3];
    const pz = h.alloc(8, z), pa = h.alloc(8), pdz = h.alloc(8), pl = h.alloc(2, [0, 0], true);
    const loss = h.k.softmaxXentLabels(pz, pa, pdz, pl, 2, 4, 1);
    expect(loss).toBeNaN();
    expect(Array.from(h.view(pa, 4)).every(Number.isNaN)).toBe(true);
    expect(Array.from(h.view(pa + 16, 4)).every(Number.isFinite)).toBe(true);
  });
});

describe('wasm kernels: optimizers', () => {
  /**
   * The size of the terms of one element's update, to scale the tolerance by (an update can cancel:
   * d = g + wd·p, m = b1·m + (1 − b1)·d; its rounding errors scale with the terms, not the result).
   * old: the buffers before the step; now: the reference buffers after it.
   */
  function magnitude(opt: Optimizer, t: number, p: number, g: number, old: number[], now: number[]): number {
    const d = Math.abs(g) + opt.weightDecay * Math.abs(p);
    if (opt.kind === 'sgd') {
      const b = opt.momentum * Math.abs(old[0]!) + d;
      return Math.abs(p) + opt.lr * (d + (1 + opt.momentum) * b);
    }
    const stepSize = opt.lr / (1 - Math.pow(opt.beta1, t)), bc2Sqrt = Math.sqrt(1 - Math.pow(opt.beta2, t));
    const mm = opt.beta1 * Math.abs(old[0]!) + (1 - opt.beta1) * d;
    return Math.abs(p) * (1 + opt.lr * opt.weightDecay) + (stepSize * mm) / (Math.sqrt(now[1]!) / bc2Sqrt + opt.eps);
  }

  /** Runs `steps` updates in wasm (over ranges cut at multiples of 8) and with optimizerStep; compares. */
  function compare(opt: Optimizer, n: number, seed: number, steps: number): void {
    const r = rng(seed);
    const p = randoms(r, n), grads = Array.from({ length: steps }, () => randoms(r, n, 0.1));
    const h = new Heap(16 * n + 4096);
    const pp = h.alloc(n, p), pg = h.alloc(n), pb1 = h.alloc(n, new Float32Array(n)), pb2 = h.alloc(n, new Float32Array(n));
    const refP = p.slice(), state = initOptimizerState(opt, [n], (len) => new Float32Array(len));
    for (let t = 1; t <= steps; t++) {
      const g = grads[t - 1]!;
      h.view(pg, n).set(g);
      const before = h.view(pp, n).slice(), bufs = [h.view(pb1, n).slice(), h.view(pb2, n).slice()];
      const ranges = splits(r, n);
      for (const [i0, i1] of ranges) {
        if (opt.kind === 'sgd') {
          if (opt.momentum === 0 && opt.weightDecay === 0) h.k.sgd(pp, pg, i0, i1, opt.lr);
          else h.k.sgdMomentum(pp, pg, pb1, i0, i1, opt.lr, opt.momentum, opt.dampening, opt.weightDecay, opt.nesterov ? 1 : 0, t === 1 ? 1 : 0);
        } else {
          const stepSize = opt.lr / (1 - Math.pow(opt.beta1, t)), bc2Sqrt = Math.sqrt(1 - Math.pow(opt.beta2, t));
          h.k.adam(pp, pg, pb1, pb2, i0, i1, opt.lr, opt.beta1, opt.beta2, opt.eps, opt.weightDecay, opt.kind === 'adamw' ? 1 : 0, stepSize, bc2Sqrt);
        }
      }
      h.checkGuards();
      optimizerStep(opt, state, [refP], [g]);
      const got = h.view(pp, n);
      for (let i = 0; i < n; i++) {
        const tol = 16 * U * magnitude(opt, t, before[i]!, g[i]!, bufs.map((b) => b[i]!), state.buffers[0]!.map((b) => b[i]!)) + 2 ** -149;
        if (!(Math.abs(got[i]! - refP[i]!) <= tol)) throw new Error(`${opt.kind} step ${t} p[${i}]: ${got[i]} vs ${refP[i]}`);
      }
      if (opt.kind !== 'sgd' || opt.momentum !== 0) {
        state.buffers[0]!.forEach((buf, b) => {
          const mine = h.view(b === 0 ? pb1 : pb2, n);
          for (let i = 0; i < n; i++) {
            const d = Math.abs(g[i]!) + opt.weightDecay * Math.abs(before[i]!);
            const tol = 16 * U * (Math.abs(bufs[b]![i]!) + Math.abs(buf[i]!) + d + d * d) + 2 ** -149;
            if (!(Math.abs(mine[i]! - buf[i]!) <= tol)) throw new Error(`${opt.kind} step ${t} buffer ${b}[${i}]: ${mine[i]} vs ${buf[i]}`);
          }
        });
      }
      h.view(pp, n).set(refP); // the next step starts from the same p
      state.buffers[0]!.forEach((buf, b) => h.view(b === 0 ? pb1 : pb2, n).set(buf));
    }
  }

  const sizes = [1, 3, 7, 8, 13, 64, 101];
  it('sgd equals optimizers.ts', () => {
    for (const n of sizes) compare(sgd({ lr: 0.1 }), n, n, 3);
  });
  it('sgdMomentum equals optimizers.ts (momentum, dampening, weight decay, Nesterov)', () => {
    for (const n of sizes) {
      compare(sgd({ lr: 0.05, momentum: 0.9 }), n, n, 3);
      compare(sgd({ lr: 0.05, momentum: 0.9, dampening: 0.3, weightDecay: 1e-3 }), n, n + 1, 3);
      compare(sgd({ lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-2 }), n, n + 2, 3);
      compare(sgd({ lr: 0.05, weightDecay: 1e-2 }), n, n + 3, 2);
    }
  });
  it('adam and adamw equal optimizers.ts', () => {
    for (const n of sizes) {
      compare(adam({ lr: 1e-2 }), n, n, 4);
      compare(adam({ lr: 1e-2, weightDecay: 1e-2 }), n, n + 1, 3);
      compare(adamw({ lr: 1e-2 }), n, n + 2, 4);
    }
  });
  it('sgd with a zero weight decay leaves an infinite weight infinite (no 0·∞)', () => {
    const h = new Heap(4096);
    const pp = h.alloc(4, [Infinity, 1, 2, 3]), pg = h.alloc(4, [1, 1, 1, 1]), pb = h.alloc(4);
    h.k.sgdMomentum(pp, pg, pb, 0, 4, 0.1, 0.9, 0, 0, 0, 1);
    expect(h.view(pp, 4)[0]).toBe(Infinity);
    h.checkGuards();
  });
});
