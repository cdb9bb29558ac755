/**
 * Matrix kernels against naive triple loops, for random sizes (including sizes that are not
 * multiples of the kernels' 4 × 4 blocking) and for batches smaller than their buffers: rows past
 * m must be neither read nor written.
 *
 * With small integer entries every product and partial sum is an exact float (|sum| ≤ 13·8·8 + 8
 * < 2^24), so the kernels must agree with the reference exactly, in any summation order, for any
 * mix of float32 and float64 buffers. Real-valued entries pin the contract in src/nn/kernels.ts:
 * float64 results are the naive loop's bits, float32 results its float64 sum rounded once.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { matmul, matmulTA, matmulTB, rng, sumRows, type DType, type FloatArray } from '../../src/index.js';
import { SIMD } from '../../src/nn/simd.js';

/** Rows past m in input buffers hold NaN: reading them would poison the result. */
const GARBAGE = NaN;
/** Output elements the kernel must not write hold this sentinel. */
const SENTINEL = -12345;

interface Dims {
  readonly m: number;
  readonly k: number;
  readonly n: number;
  /** Rows a buffer has beyond m. */
  readonly extra: number;
  /** dtype of the inputs and of the output: mixed pairs take the kernels' generic path. */
  readonly dtype: DType;
  readonly outDtype: DType;
}

const dimsArb: fc.Arbitrary<Dims> = fc.record({
  m: fc.integer({ min: 1, max: 13 }),
  k: fc.integer({ min: 1, max: 13 }),
  n: fc.integer({ min: 1, max: 13 }),
  extra: fc.integer({ min: 0, max: 5 }),
  dtype: fc.constantFrom<DType>('float32', 'float64'),
  outDtype: fc.constantFrom<DType>('float32', 'float64'),
});

const small = fc.integer({ min: -8, max: 8 });

/** A [rows + extra, cols] buffer: the first rows × cols values given, the rest GARBAGE. */
function buffer(dtype: DType, values: readonly number[], extraValues: number): FloatArray {
  const a = dtype === 'float64' ? new Float64Array(values.length + extraValues) : new Float32Array(values.length + extraValues);
  a.fill(GARBAGE);
  a.set(values);
  return a;
}

function output(dtype: DType, length: number): FloatArray {
  const a = dtype === 'float64' ? new Float64Array(length) : new Float32Array(length);
  return a.fill(SENTINEL);
}

// ---- naive references, straight from the definitions ----------------------------------------
const get = (a: readonly number[], cols: number) => (i: number, j: number): number => a[i * cols + j]!;

function matmulRef(a: readonly number[], b: readonly number[], m: number, k: number, n: number, bias?: readonly number[]): number[] {
  const A = get(a, k), B = get(b, n);
  const out: number[] = [];
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = bias ? bias[j]! : 0;
      for (let p = 0; p < k; p++) s += A(i, p) * B(p, j);
      out.push(s);
    }
  }
  return out;
}

function matmulTARef(a: readonly number[], b: readonly number[], m: number, k: number, n: number): number[] {
  const A = get(a, k), B = get(b, n);
  const out: number[] = [];
  for (let p = 0; p < k; p++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let i = 0; i < m; i++) s += A(i, p) * B(i, j);
      out.push(s);
    }
  }
  return out;
}

function matmulTBRef(a: readonly number[], b: readonly number[], m: number, n: number, k: number): number[] {
  const A = get(a, n), B = get(b, n);
  const out: number[] = [];
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += A(i, j) * B(p, j);
      out.push(s);
    }
  }
  return out;
}

function sumRowsRef(a: readonly number[], m: number, n: number): number[] {
  const A = get(a, n);
  return Array.from({ length: n }, (_, j) => {
    let s = 0;
    for (let i = 0; i < m; i++) s += A(i, j);
    return s;
  });
}

/** Dims plus integer matrices sized for them: a [m, k], b [k, n], c [m, n], d [k, n], bias [n]. */
function withValues(values: fc.Arbitrary<number>) {
  return dimsArb.chain((d) =>
    fc.record({
      d: fc.constant(d),
      a: fc.array(values, { minLength: d.m * d.k, maxLength: d.m * d.k }),
      b: fc.array(values, { minLength: d.k * d.n, maxLength: d.k * d.n }),
      c: fc.array(values, { minLength: d.m * d.n, maxLength: d.m * d.n }),
      bias: fc.option(fc.array(values, { minLength: d.n, maxLength: d.n }), { nil: undefined }),
    }),
  );
}

const RUNS = { numRuns: 300 } as const;

describe('matmul', () => {
  it('computes out = a·b (+ bias) on the first m rows, exactly for integer entries', () => {
    fc.assert(
      fc.property(withValues(small), ({ d, a, b, bias }) => {
        const out = output(d.outDtype, (d.m + d.extra) * d.n);
        const biasBuf = bias && buffer(d.dtype, bias, 0);
        matmul(buffer(d.dtype, a, d.extra * d.k), buffer(d.dtype, b, 0), out, d.m, d.k, d.n, biasBuf);
        expect(Array.from(out.subarray(0, d.m * d.n))).toEqual(matmulRef(a, b, d.m, d.k, d.n, bias));
        expect(out.subarray(d.m * d.n).every((v) => v === SENTINEL)).toBe(true);
      }),
      { seed: 11, ...RUNS },
    );
  });

  it('overwrites out instead of accumulating into it', () => {
    const out = new Float64Array([7, 7, 7, 7]);
    matmul(new Float64Array([1, 2]), new Float64Array([3, 4]), out, 2, 1, 2);
    expect(Array.from(out)).toEqual([3, 4, 6, 8]);
  });
});

describe('matmulTA', () => {
  it('computes out = aᵀ·b over the first m rows, exactly for integer entries', () => {
    fc.assert(
      fc.property(withValues(small), ({ d, a, c }) => {
        // a [m, k], c [m, n] → out [k, n]
        const out = output(d.outDtype, d.k * d.n + 3);
        matmulTA(buffer(d.dtype, a, d.extra * d.k), buffer(d.dtype, c, d.extra * d.n), out, d.m, d.k, d.n);
        expect(Array.from(out.subarray(0, d.k * d.n))).toEqual(matmulTARef(a, c, d.m, d.k, d.n));
        expect(Array.from(out.subarray(d.k * d.n))).toEqual([SENTINEL, SENTINEL, SENTINEL]);
      }),
      { seed: 12, ...RUNS },
    );
  });
});

describe('matmulTB', () => {
  it('computes out = a·bᵀ on the first m rows, exactly for integer entries', () => {
    fc.assert(
      fc.property(withValues(small), ({ d, b, c }) => {
        // c [m, n], b as [k, n] → out [m, k]
        const out = output(d.outDtype, (d.m + d.extra) * d.k);
        matmulTB(buffer(d.dtype, c, d.extra * d.n), buffer(d.dtype, b, 0), out, d.m, d.n, d.k);
        expect(Array.from(out.subarray(0, d.m * d.k))).toEqual(matmulTBRef(c, b, d.m, d.n, d.k));
        expect(out.subarray(d.m * d.k).every((v) => v === SENTINEL)).toBe(true);
      }),
      { seed: 13, ...RUNS },
    );
  });
});

describe('sumRows', () => {
  it('computes the column sums of the first m rows', () => {
    fc.assert(
      fc.property(withValues(small), ({ d, c }) => {
        const out = output(d.outDtype, d.n + 2);
        sumRows(buffer(d.dtype, c, d.extra * d.n), out, d.m, d.n);
        expect(Array.from(out.subarray(0, d.n))).toEqual(sumRowsRef(c, d.m, d.n));
        expect(Array.from(out.subarray(d.n))).toEqual([SENTINEL, SENTINEL]);
      }),
      { seed: 14, ...RUNS },
    );
  });
});

describe('matmul / matmulTA / matmulTB (real-valued entries)', () => {
  // values in [-1, 1]; the v·1e-9 term makes them non-dyadic, so products and sums do round
  const real = fc.noBias(fc.integer({ min: -(2 ** 20), max: 2 ** 20 })).map((v) => v / 2 ** 20 + v * 1e-9);

  it('give the naive loop\'s float64 sums to the last bit (bias first, then in order of the inner index)', () => {
    fc.assert(
      fc.property(withValues(real), ({ d, a, b, c, bias }) => {
        const f64 = (xs: readonly number[]): Float64Array => Float64Array.from(xs);
        const out1 = new Float64Array(d.m * d.n);
        matmul(f64(a), f64(b), out1, d.m, d.k, d.n, bias && f64(bias));
        expect(Array.from(out1)).toEqual(matmulRef(a, b, d.m, d.k, d.n, bias));
        const out2 = new Float64Array(d.k * d.n);
        matmulTA(f64(a), f64(c), out2, d.m, d.k, d.n);
        expect(Array.from(out2)).toEqual(matmulTARef(a, c, d.m, d.k, d.n));
        const out3 = new Float64Array(d.m * d.k);
        matmulTB(f64(c), f64(b), out3, d.m, d.n, d.k);
        expect(Array.from(out3)).toEqual(matmulTBRef(c, b, d.m, d.n, d.k));
      }),
      { seed: 15, numRuns: 200 },
    );
  });

  it('round float32 results once, from the float64 sum of the float32 inputs', () => {
    fc.assert(
      fc.property(withValues(real.map(Math.fround)), ({ d, a, b, c, bias }) => {
        const f32 = (xs: readonly number[]): Float32Array => Float32Array.from(xs);
        const round = (xs: number[]): number[] => xs.map(Math.fround);
        const out1 = new Float32Array(d.m * d.n);
        matmul(f32(a), f32(b), out1, d.m, d.k, d.n, bias && f32(bias));
        expect(Array.from(out1)).toEqual(round(matmulRef(a, b, d.m, d.k, d.n, bias)));
        const out2 = new Float32Array(d.k * d.n);
        matmulTA(f32(a), f32(c), out2, d.m, d.k, d.n);
        expect(Array.from(out2)).toEqual(round(matmulTARef(a, c, d.m, d.k, d.n)));
        const out3 = new Float32Array(d.m * d.k);
        matmulTB(f32(c), f32(b), out3, d.m, d.n, d.k);
        expect(Array.from(out3)).toEqual(round(matmulTBRef(c, b, d.m, d.n, d.k)));
      }),
      { seed: 16, numRuns: 200 },
    );
  });
});

describe('matmul / matmulTA / matmulTB on the WebAssembly SIMD path (large float32 products)', () => {
  // sizes of the real workloads (W2, W3) and awkward ones: m, k, n not multiples of 4, and
  // buffers with NaN rows past m. Every case does ≥ 8192 multiply-adds, so SIMD runs when present.
  const cases = [
    { m: 32, k: 64, n: 64 },
    { m: 32, k: 64, n: 10 },
    { m: 64, k: 784, n: 256 },
    { m: 29, k: 67, n: 13 },
    { m: 7, k: 301, n: 45 },
  ];

  it('is available on this runtime (so the cases below exercise it)', () => {
    expect(SIMD).toBeDefined();
  });

  it.each(cases)('keeps the contract for m=$m k=$k n=$n: the float64 sum of float32 inputs, rounded once', ({ m, k, n }) => {
    const random = rng(m * 1000 + k * 10 + n);
    const values = (count: number): number[] => Array.from({ length: count }, () => Math.fround(2 * random.uniform() - 1));
    const a = values(m * k), b = values(k * n), c = values(m * n), bias = values(n);
    const extra = 3;
    const f32 = (xs: readonly number[], pad: number): Float32Array => buffer('float32', xs, pad) as Float32Array;
    const round = (xs: number[]): number[] => xs.map(Math.fround);

    const out1 = new Float32Array(m * n);
    matmul(f32(a, extra * k), f32(b, 0), out1, m, k, n, f32(bias, 0));
    expect(Array.from(out1)).toEqual(round(matmulRef(a, b, m, k, n, bias)));
    const out2 = new Float32Array(k * n);
    matmulTA(f32(a, extra * k), f32(c, extra * n), out2, m, k, n);
    expect(Array.from(out2)).toEqual(round(matmulTARef(a, c, m, k, n)));
    const out3 = new Float32Array(m * k);
    matmulTB(f32(c, extra * n), f32(b, 0), out3, m, n, k);
    expect(Array.from(out3)).toEqual(round(matmulTBRef(c, b, m, n, k)));
  });
});
