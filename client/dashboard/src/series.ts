/**
 * The numbers behind a chart, kept in the browser: growable columns of float64, TensorBoard's
 * debiased exponential moving average, and a per-pixel-bucket min/max downsampler that keeps a
 * 100,000-point series' shape (every spike) in a few thousand points. Pure: no DOM, no uPlot.
 */

/** A growable column of numbers: `data` is a view of the values pushed so far (it changes when the column grows). */
export class Column {
  private buf = new Float64Array(1024);
  length = 0;

  push(v: number): void {
    if (this.length === this.buf.length) {
      const grown = new Float64Array(this.buf.length * 2);
      grown.set(this.buf);
      this.buf = grown;
    }
    this.buf[this.length++] = v;
  }

  get data(): Float64Array {
    return this.buf.subarray(0, this.length);
  }

  /** Keeps the first `n` values. */
  truncate(n: number): void {
    this.length = Math.min(this.length, n);
  }

  get last(): number | undefined {
    return this.length === 0 ? undefined : this.buf[this.length - 1];
  }
}

/** A series of points with two x columns (step and wall time, s) and a y column, in step order. */
export class Trace {
  readonly step = new Column();
  readonly time = new Column();
  readonly y = new Column();

  push(step: number, timeMs: number, y: number): void {
    this.step.push(step);
    this.time.push(timeMs / 1000);
    this.y.push(y);
  }

  get length(): number {
    return this.y.length;
  }

  /** Forgets the points from `step` on. */
  truncate(step: number): void {
    const n = lowerBound(this.step.data, step);
    this.step.truncate(n);
    this.time.truncate(n);
    this.y.truncate(n);
  }
}

/**
 * TensorBoard's smoothing: an exponential moving average debiased for its zero start, so the
 * first points are not pulled towards 0. Non-finite values (and, on a log axis, values ≤ 0) pass
 * through as NaN and do not enter the mean. Incremental: `extend` smooths only the values added
 * since its last call, so a live chart smooths each point once.
 */
export class Smoother {
  private last = 0;
  private count = 0;
  readonly out = new Column();

  /**
   * @param weight  in [0, 1): 0 leaves the series as it is, 0.99 smooths hard
   * @param log     values ≤ 0 are gaps (a log axis)
   */
  constructor(
    readonly weight: number,
    readonly log = false,
  ) {}

  /** The smoothed series of `ys`, which must extend (not replace) what was smoothed before. */
  extend(ys: Float64Array): Float64Array {
    const w = this.weight;
    for (let i = this.out.length; i < ys.length; i++) {
      const y = ys[i]!;
      if (!Number.isFinite(y) || (this.log && !(y > 0))) {
        this.out.push(this.log ? NaN : y);
        continue;
      }
      this.last = this.last * w + (1 - w) * y;
      this.count++;
      this.out.push(w > 0 ? this.last / (1 - w ** this.count) : y);
    }
    return this.out.data;
  }
}

/** The smoothed series of `ys` at `weight` (a `Smoother` run once). */
export function ema(ys: Float64Array, weight: number): Float64Array {
  return Float64Array.from(new Smoother(weight).extend(ys));
}

/** The first index whose x is ≥ `x0` in an ascending column (its length when none is). */
export function lowerBound(xs: Float64Array, x0: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! < x0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The points of (xs, ys) to draw between `x0` and `x1` in `buckets` pixel columns: all of them
 * when they are few, else per bucket its lowest and its highest point (in x order), so no spike
 * is lost; the points just outside the range are kept, so the line reaches the edges.
 *
 *   in:   ·˙·.·˙˙·.·..·˙·   (thousands per pixel)
 *   out:  ˙.  ˙.  .˙  ˙.    (min and max per pixel)
 *
 * @param xs       ascending
 * @param buckets  ≥ 1, usually the chart's width in pixels
 */
export function downsample(xs: Float64Array, ys: Float64Array, x0: number, x1: number, buckets: number): { x: number[]; y: number[] } {
  const from = Math.max(0, lowerBound(xs, x0) - 1);
  const to = Math.min(xs.length, lowerBound(xs, x1) + 1); // exclusive, one past the range
  const x: number[] = [];
  const y: number[] = [];
  if (to - from <= 4 * buckets || !(x1 > x0)) {
    for (let i = from; i < to; i++) {
      x.push(xs[i]!);
      y.push(ys[i]!);
    }
    return { x, y };
  }
  const width = (x1 - x0) / buckets;
  let i = from;
  while (i < to) {
    const bucket = Math.floor((xs[i]! - x0) / width);
    let lo = i;
    let hi = i;
    let j = i + 1;
    while (j < to && Math.floor((xs[j]! - x0) / width) === bucket) {
      const v = ys[j]!;
      if (v < ys[lo]! || !Number.isFinite(ys[lo]!)) lo = j;
      if (v > ys[hi]! || !Number.isFinite(ys[hi]!)) hi = j;
      j++;
    }
    const [a, b] = lo <= hi ? [lo, hi] : [hi, lo];
    x.push(xs[a]!);
    y.push(ys[a]!);
    if (b !== a) {
      x.push(xs[b]!);
      y.push(ys[b]!);
    }
    i = j;
  }
  return { x, y };
}

/** Quantiles of `values` at the given fractions (sorted copy; linear interpolation). */
export function quantiles(values: ArrayLike<number>, at: readonly number[]): number[] {
  const sorted = Float64Array.from(values).sort();
  if (sorted.length === 0) return at.map(() => NaN);
  return at.map((q) => {
    const pos = q * (sorted.length - 1);
    const i = Math.floor(pos);
    const f = pos - i;
    return sorted[i]! + (i + 1 < sorted.length ? f * (sorted[i + 1]! - sorted[i]!) : 0);
  });
}
