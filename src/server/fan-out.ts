/**
 * A session's events on their way out: each wrapped once in a Packet (encoded at most once per
 * format, however many subscribers), lossless ones kept in a ring for `fromStep`, and the same
 * Packet handed to every subscription. A live session (session.ts) and a played recording
 * (replay-session.ts) publish through one of these.
 */
import type { TrainEvent } from '../pipeline/events.js';
import { Packet } from './packet.js';
import { Ring } from './ring.js';
import type { Subscription } from './subscriber.js';

export class FanOut {
  private readonly subscribers = new Map<object, Subscription>();
  private ring: Ring<Packet>;

  /** @param ringEvents  lossless events kept for `fromStep`. */
  constructor(private readonly ringEvents: number) {
    this.ring = new Ring(ringEvents);
  }

  get size(): number {
    return this.subscribers.size;
  }

  /** Publishes `e` to every subscription (and the ring). */
  publish(e: TrainEvent): void {
    const packet = new Packet(e);
    if (packet.lane === 'lossless') this.ring.push(packet);
    if (this.subscribers.size > 0) {
      const now = performance.now();
      for (const sub of this.subscribers.values()) sub.deliver(packet, now);
    }
  }

  /**
   * Starts a subscription under `key` (replacing one it had): returns the ring's lossless events
   * with step ≥ fromStep that it wants (the caller sends them after its `subscribed` reply).
   */
  subscribe(key: object, sub: Subscription, fromStep: number | undefined): { replay: Packet[]; complete: boolean } {
    this.unsubscribe(key);
    let replay: Packet[] = [];
    let complete = true;
    if (fromStep !== undefined) {
      const r = this.ring.since(fromStep);
      replay = r.items.filter((p) => sub.wants(p.type));
      complete = r.complete;
    }
    this.subscribers.set(key, sub);
    return { replay, complete };
  }

  unsubscribe(key: object): boolean {
    const sub = this.subscribers.get(key);
    if (!sub) return false;
    sub.close();
    this.subscribers.delete(key);
    return true;
  }

  /** The timeline starts again (a played recording seeks): what the ring held is forgotten. */
  restart(): void {
    this.ring = new Ring(this.ringEvents);
  }

  closeAll(): void {
    for (const sub of this.subscribers.values()) sub.close();
    this.subscribers.clear();
  }
}
