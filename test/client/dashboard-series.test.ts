/**
 * The dashboard's chart numbers (client/dashboard/src/series.ts): TensorBoard's debiased EMA, and
 * the per-pixel min/max downsampler that lets a chart draw 100,000 points per series.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Column, downsample, ema, quantiles, Smoother } from '../../client/dashboard/src/series.js';

describe('ema', () => {
  it('leaves a series as it is at weight 0, and a constant series constant at any weight', () => {
    expect(Array.from(ema(Float64Array.of(1, 5, 2), 0))).toEqual([1, 5, 2]);
    for (const v of ema(new Float64Array(50).fill(3), 0.9)) expect(v).toBeCloseTo(3, 12);
  });

  it('is debiased: the first point is itself, the second the weighted mean of two', () => {
    const s = ema(Float64Array.of(2, 4), 0.5);
    expect(s[0]).toBeCloseTo(2, 12);
    // (0.5·(0.5·2) + 0.5·4) / (1 − 0.25) = (0.5 + 2) / 0.75
    expect(s[1]).toBeCloseTo(2.5 / 0.75, 12);
  });

  it('passes a non-finite value through without letting it into the mean', () => {
    expect(Array.from(ema(Float64Array.of(1, NaN, 1), 0.5))).toEqual([1, NaN, 1]);
  });

  it('smooths a live series piece by piece exactly as all at once (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e3, max: 1e3, noNaN: true }), { maxLength: 200 }), fc.array(fc.nat(200), { maxLength: 5 }), fc.double({ min: 0, max: 0.99, noNaN: true }), (values, cuts, w) => {
        const all = Float64Array.from(values);
        const s = new Smoother(w);
        for (const cut of [...cuts].sort((a, b) => a - b)) s.extend(all.subarray(0, Math.min(cut, all.length)));
        expect(Array.from(s.extend(all))).toEqual(Array.from(ema(all, w)));
      }),
    );
  });

  it('leaves out values ≤ 0 on a log axis', () => {
    expect(Array.from(new Smoother(0.5, true).extend(Float64Array.of(2, 0, 2)))).toEqual([2, NaN, 2]);
  });
});

describe('downsample', () => {
  it('keeps every point when there are few', () => {
    const xs = Float64Array.of(0, 1, 2, 3);
    expect(downsample(xs, Float64Array.of(5, 6, 7, 8), 0, 3, 100)).toEqual({ x: [0, 1, 2, 3], y: [5, 6, 7, 8] });
  });

  it('draws 100,000 points as at most two per pixel, keeping every bucket’s min and max', () => {
    const n = 100_000;
    const xs = new Float64Array(n).map((_, i) => i);
    const ys = new Float64Array(n).map((_, i) => Math.sin(i / 100) + (i === 54_321 ? 10 : 0));
    const d = downsample(xs, ys, 0, n - 1, 800);
    expect(d.x.length).toBeLessThanOrEqual(2 * 801);
    expect(Math.max(...d.y)).toBe(Math.max(...ys)); // the one spike survives
    expect(d.x).toEqual([...d.x].sort((a, b) => a - b));
  });

  it('keeps the extremes of any range it is asked for (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 3000 }), fc.integer({ min: 1, max: 50 }), (values, buckets) => {
        const xs = new Float64Array(values.length).map((_, i) => i);
        const ys = Float64Array.from(values);
        const d = downsample(xs, ys, 0, values.length - 1, buckets);
        expect(Math.max(...d.y)).toBe(Math.max(...values));
        expect(Math.min(...d.y)).toBe(Math.min(...values));
      }),
    );
  });
});

describe('Column and quantiles', () => {
  it('grows past its first buffer and keeps every value', () => {
    const c = new Column();
    for (let i = 0; i < 5000; i++) c.push(i);
    expect(c.length).toBe(5000);
    expect(c.data[4999]).toBe(4999);
    expect(c.last).toBe(4999);
  });

  it('gives min, median and max at 0, 0.5 and 1', () => {
    expect(quantiles([3, 1, 2, 5, 4], [0, 0.5, 1])).toEqual([1, 3, 5]);
  });
});
