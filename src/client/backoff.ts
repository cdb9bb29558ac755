/**
 * How long to wait before the n-th attempt to reconnect: doubling from `minDelayMs` up to
 * `maxDelayMs`, for at most `attempts` attempts in a row (a connection that works starts the count
 * again). No jitter: the delays are the same on every run (no unseeded randomness).
 *
 *   attempt:  1    2    3    4    5 …
 *   delay:    100  200  400  800  1600 … ≤ maxDelayMs
 */
import { describe } from '../errors.js';

export interface ReconnectOptions {
  /** Attempts in a row before giving up with the last error. Default 10 (about 25 s with the default delays). */
  readonly attempts?: number;
  /** The first delay, ms. Default 100. */
  readonly minDelayMs?: number;
  /** The longest delay, ms. Default 5000. */
  readonly maxDelayMs?: number;
}

export interface Backoff {
  readonly attempts: number;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { attempts: 10, minDelayMs: 100, maxDelayMs: 5000 };

/** The options with their defaults, checked (RangeError / TypeError); `false`: no reconnecting (zero attempts). */
export function backoff(options: ReconnectOptions | false | undefined): Backoff {
  if (options === false) return { ...DEFAULT_BACKOFF, attempts: 0 };
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw new TypeError(`Expected reconnect options or false, got ${describe(options)}`);
  const b = { ...DEFAULT_BACKOFF, ...options };
  if (!(Number.isInteger(b.attempts) || b.attempts === Infinity) || b.attempts < 0) throw new RangeError(`Expected reconnect.attempts to be an integer ≥ 0 or Infinity, got ${describe(b.attempts)}`);
  if (!(b.minDelayMs >= 0) || !Number.isFinite(b.minDelayMs)) throw new RangeError(`Expected reconnect.minDelayMs to be a finite number ≥ 0, got ${describe(b.minDelayMs)}`);
  if (!(b.maxDelayMs >= b.minDelayMs) || !Number.isFinite(b.maxDelayMs)) throw new RangeError(`Expected reconnect.maxDelayMs to be a finite number ≥ minDelayMs (${b.minDelayMs}), got ${describe(b.maxDelayMs)}`);
  return b;
}

/** The delay before attempt `n` (1-based). */
export function delayOf(b: Backoff, n: number): number {
  return Math.min(b.maxDelayMs, b.minDelayMs * 2 ** Math.min(n - 1, 30));
}

/** A timer that can be cancelled: `wait(ms)` resolves after ms, or rejects with the reason `cancel` gives. */
export class Sleeper {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private reject: ((e: unknown) => void) | undefined;

  wait(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.reject = reject;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.reject = undefined;
        resolve();
      }, ms);
    });
  }

  cancel(reason: unknown): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.reject?.(reason);
    this.reject = undefined;
  }
}
