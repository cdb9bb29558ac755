/**
 * A connection's bounded outbox, two lanes:
 *
 *   lossless  replies, step, metrics, eval, lifecycle, control, error: in order, never dropped
 *   latest    weights, gradients: one slot per key (session + type), a newer event replaces the waiting one
 *
 * Messages go to the socket only while its buffered amount is under the low-water mark, lossless
 * lane first; when a write completes the outbox sends more. Sending waits for the next turn of
 * the event loop (setImmediate), so everything queued meanwhile (the events of a training slice,
 * the acks of the messages read in one poll) leaves corked, in one write: on loopback the write
 * system call, not the JavaScript, is what a message costs. The lossless lane has a budget: over
 * it for longer than `graceMs`, or over twice it at any moment, the outbox calls `onOverBudget`
 * (the connection closes with 1013) and empties itself, so memory stays bounded whatever the
 * client does.
 */
import { Fifo } from '../pipeline/trainer/fifo.js';

export interface Sink {
  readonly bufferedAmount: number;
  send(data: Buffer | string, cb?: (err?: Error) => void): void;
  /** Optional: hold writes back until uncork, to send several messages in one write. */
  cork?(): void;
  uncork?(): void;
}

export interface OutboxOptions {
  /** Send while the socket buffers less than this many bytes. */
  readonly lowWaterBytes: number;
  /** Budget of the lossless lane. */
  readonly maxBytes: number;
  readonly maxMessages: number;
  /** How long the lossless lane may stay over budget. */
  readonly graceMs: number;
}

export interface OutboxStats {
  bytesOut: number;
  messagesOut: number;
  conflated: number;
}

/** Bytes of a Buffer; for a JSON string its length in characters is near enough (JSON is mostly ASCII). */
function sizeOf(data: Buffer | string): number {
  return data.length;
}

export class Outbox {
  private readonly lossless = new Fifo<Buffer | string>();
  private losslessBytes = 0;
  private readonly latest = new Map<string, Buffer | string>();
  private waiting = false;
  private overSince: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private scheduled = false;
  private readonly run = (): void => {
    this.scheduled = false;
    this.flush();
  };
  private readonly written = (err?: Error): void => {
    this.waiting = false;
    if (!err) this.flush();
  };

  constructor(
    private readonly sink: Sink,
    private readonly options: OutboxOptions,
    private readonly onOverBudget: (reason: string) => void,
    private readonly stats: OutboxStats,
  ) {}

  /** Messages waiting in the lossless lane. */
  get pending(): number {
    return this.lossless.length;
  }

  /** Bytes waiting in both lanes. */
  get bytes(): number {
    let n = this.losslessBytes;
    for (const d of this.latest.values()) n += sizeOf(d);
    return n;
  }

  pushLossless(data: Buffer | string): void {
    if (this.closed) return;
    this.lossless.push(data);
    this.losslessBytes += sizeOf(data);
    this.schedule();
    this.checkBudget();
  }

  /**
   * Moves the latest-wins messages under `keys` (still waiting) to the end of the lossless lane, in
   * the order they were queued: what is pushed losslessly next goes after them.
   */
  promote(keys: readonly string[]): void {
    if (this.closed) return;
    for (const [key, data] of [...this.latest]) {
      if (!keys.includes(key)) continue;
      this.latest.delete(key);
      this.lossless.push(data);
      this.losslessBytes += sizeOf(data);
    }
  }

  pushLatest(key: string, data: Buffer | string): void {
    if (this.closed) return;
    if (this.latest.has(key)) {
      this.stats.conflated++;
      this.latest.delete(key);
    }
    this.latest.set(key, data);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.waiting) return;
    this.scheduled = true;
    setImmediate(this.run);
  }

  /** Sends what the socket takes now (normally called by the outbox itself). */
  flush(): void {
    const { sink } = this;
    const low = this.options.lowWaterBytes;
    if (this.closed || this.waiting || this.empty) return;
    sink.cork?.();
    try {
      this.send(low);
    } finally {
      sink.uncork?.();
    }
    if (!this.closed && !this.waiting && !this.empty && this.retry === undefined) {
      // over the mark without a write of ours to wait for (a ping or close frame took it there): poll
      this.retry = setTimeout(() => {
        this.retry = undefined;
        this.flush();
      }, 20);
      this.retry.unref?.();
    }
    if (this.overSince !== undefined && !this.overBudget(1)) {
      clearTimeout(this.overSince);
      this.overSince = undefined;
    }
  }

  private send(low: number): void {
    const { sink } = this;
    while (!this.closed && !this.waiting && sink.bufferedAmount < low) {
      let data: Buffer | string | undefined;
      if (this.lossless.length > 0) {
        data = this.lossless.shift()!;
        this.losslessBytes -= sizeOf(data);
      } else {
        const first = this.latest.entries().next();
        if (first.done) break;
        this.latest.delete(first.value[0]);
        data = first.value[1];
      }
      const size = sizeOf(data);
      this.stats.bytesOut += size;
      this.stats.messagesOut++;
      // the write that takes the socket over the mark gets a callback: when it is out, send more
      if (sink.bufferedAmount + size >= low) {
        this.waiting = true;
        sink.send(data, this.written);
      } else {
        sink.send(data);
      }
    }
  }

  private overBudget(factor: number): boolean {
    return this.losslessBytes > factor * this.options.maxBytes || this.pending > factor * this.options.maxMessages;
  }

  private checkBudget(): void {
    if (this.closed) return;
    if (this.overBudget(2)) {
      this.fail(`E_SLOW_CONSUMER: outbox over twice its budget (${this.pending} messages, ${this.losslessBytes} bytes)`);
    } else if (this.overBudget(1) && this.overSince === undefined) {
      this.overSince = setTimeout(() => {
        this.overSince = undefined;
        if (this.overBudget(1)) this.fail(`E_SLOW_CONSUMER: outbox over budget for ${this.options.graceMs} ms (${this.pending} messages, ${this.losslessBytes} bytes)`);
      }, this.options.graceMs);
      this.overSince.unref?.();
    }
  }

  private fail(reason: string): void {
    this.close();
    this.onOverBudget(reason);
  }

  /** Drops everything and accepts nothing more. */
  close(): void {
    this.closed = true;
    this.lossless.clear();
    this.losslessBytes = 0;
    this.latest.clear();
    if (this.overSince !== undefined) clearTimeout(this.overSince);
    if (this.retry !== undefined) clearTimeout(this.retry);
    this.overSince = undefined;
    this.retry = undefined;
  }

  /** True when nothing waits in either lane. */
  get empty(): boolean {
    return this.pending === 0 && this.latest.size === 0;
  }
}
