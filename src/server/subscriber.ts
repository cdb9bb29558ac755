/**
 * One subscription: a connection's interest in one session's events. It filters by topic,
 * applies the per-topic rate limits, and hands the shared encoded event to the connection's
 * outbox: lossless topics in order, weights and gradients to the latest-wins lane.
 *
 * A rate limit on a lossless topic sends at most `rate` events per second and skips the rest
 * (a dashboard that wants loss at 10 Hz); on a latest-wins topic it holds the newest back and
 * sends it once the interval has passed, so the last value always arrives.
 *
 * A session's last event (`lifecycle` completed or failed) is the last a subscriber receives of
 * it: the newest weights and gradients still held back or waiting go out before it.
 */
import type { TrainEventType } from '../pipeline/events.js';
import type { Format } from '../protocol/codec.js';
import type { Outbox } from './outbox.js';
import type { Packet } from './packet.js';

/** The connection side of a subscription. */
export interface SubscriberTarget {
  readonly format: Format;
  readonly outbox: Outbox;
}

export interface SubscriptionStats {
  rateLimited: number;
  conflated: number;
}

interface Deferred {
  packet: Packet;
  readonly timer: ReturnType<typeof setTimeout>;
}

export class Subscription {
  readonly topics: ReadonlySet<TrainEventType>;
  private readonly gapMs = new Map<TrainEventType, number>();
  private readonly lastSent = new Map<TrainEventType, number>();
  private readonly deferred = new Map<TrainEventType, Deferred>();

  constructor(
    readonly session: string,
    topics: readonly TrainEventType[],
    rates: Readonly<Partial<Record<TrainEventType, number>>>,
    readonly target: SubscriberTarget,
    private readonly stats: SubscriptionStats,
    private readonly now: () => number = performance.now.bind(performance),
  ) {
    this.topics = new Set(topics);
    for (const [type, rate] of Object.entries(rates) as [TrainEventType, number][]) this.gapMs.set(type, 1000 / rate);
  }

  wants(type: TrainEventType): boolean {
    return this.topics.has(type);
  }

  /** A live event: filtered, rate limited, then queued. `now` is performance.now() of the fan-out. */
  deliver(packet: Packet, now: number): void {
    const type = packet.type;
    if (!this.topics.has(type)) return;
    const gap = this.gapMs.get(type);
    if (gap !== undefined) {
      const wait = (this.lastSent.get(type) ?? -Infinity) + gap - now;
      if (wait > 0) {
        if (packet.lane === 'lossless') {
          this.stats.rateLimited++;
          return;
        }
        const d = this.deferred.get(type);
        if (d) {
          d.packet = packet;
          this.stats.conflated++;
        } else {
          const timer = setTimeout(() => this.release(type), wait);
          timer.unref?.();
          this.deferred.set(type, { packet, timer });
        }
        return;
      }
      this.lastSent.set(type, now);
    }
    this.queue(packet);
  }

  /** Replayed events (from the ring): in order, no rate limit. */
  replay(packets: readonly Packet[]): void {
    for (const p of packets) if (this.topics.has(p.type)) this.queue(p);
  }

  private release(type: TrainEventType): void {
    const d = this.deferred.get(type);
    if (!d) return;
    this.deferred.delete(type);
    this.lastSent.set(type, this.now());
    this.queue(d.packet);
  }

  private queue(packet: Packet): void {
    const { outbox, format } = this.target;
    if (packet.final) {
      // the session's last event goes last: the newest weights and gradients still held back or
      // waiting for the socket go before it (a subscriber stops at it)
      for (const type of [...this.deferred.keys()]) {
        clearTimeout(this.deferred.get(type)!.timer);
        this.release(type);
      }
      outbox.promote(packet.sessionKeys);
    }
    if (packet.lane === 'lossless') outbox.pushLossless(packet.encoded(format));
    else outbox.pushLatest(packet.key, packet.encoded(format));
  }

  /** Stops: pending deferred events are dropped. */
  close(): void {
    for (const d of this.deferred.values()) clearTimeout(d.timer);
    this.deferred.clear();
  }
}
