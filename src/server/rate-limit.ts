/**
 * A token bucket: `rate` tokens per second, at most `burst` saved up. One message takes one token;
 * a connection that finds the bucket empty is flooding.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = performance.now.bind(performance),
  ) {
    if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError(`Expected a rate > 0 per second, got ${rate}`);
    if (!(burst >= 1) || !Number.isFinite(burst)) throw new RangeError(`Expected a burst ≥ 1, got ${burst}`);
    this.tokens = burst;
    this.last = now();
  }

  /** Takes one token; false when there is none. */
  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.rate) / 1000);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
