/**
 * The client's side of the server's rate limit (`welcome.limits`: `messagesPerSecond` on average,
 * `burst` at once): a token bucket that a connection takes one token from per message, waiting
 * when it is empty, so the server never drops a message for its rate (which would lose the
 * `samples` in flight: docs/protocol.md, "Limits").
 *
 *   take():  -t-t-t-(wait)-t-   one token per message; a refill every 1/rate s
 */
export class RateGate {
  private tokens: number;
  private last: number;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly waiting: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private closedBy: unknown;

  /**
   * @param rate      tokens per second, > 0 (the client uses a margin under the server's own)
   * @param capacity  most tokens held, ≥ 1
   */
  constructor(
    private readonly rate: number,
    private readonly capacity: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(rate > 0)) throw new RangeError(`Expected a rate > 0 messages per second, got ${rate}`);
    if (!(capacity >= 1)) throw new RangeError(`Expected a capacity ≥ 1, got ${capacity}`);
    this.tokens = capacity;
    this.last = now();
  }

  /** Resolves when a message may be sent (at once while tokens are left); rejects once closed. */
  take(): Promise<void> {
    if (this.closedBy !== undefined) return Promise.reject(this.closedBy);
    this.refill();
    if (this.waiting.length === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.schedule();
    });
  }

  /** Rejects every waiting `take()` with `reason` and every later one; clears the timer. */
  close(reason: unknown): void {
    this.closedBy = reason;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of this.waiting.splice(0)) w.reject(reason);
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((t - this.last) * this.rate) / 1000);
    this.last = t;
  }

  private schedule(): void {
    if (this.timer !== undefined) return;
    const wait = Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / this.rate));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.refill();
      while (this.waiting.length > 0 && this.tokens >= 1) {
        this.tokens -= 1;
        this.waiting.shift()!.resolve();
      }
      if (this.waiting.length > 0) this.schedule();
    }, wait);
  }
}
