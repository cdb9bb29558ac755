/**
 * A bounded ring of the most recent items, each stamped with a step: what a subscriber that
 * reconnects with `fromStep` can still be sent.
 */
export class Ring<T extends { readonly step: number }> {
  private readonly items: (T | undefined)[];
  private start = 0;
  private count = 0;
  /** Step of the newest item pushed out of the ring, -1 while nothing has been. */
  private evictedStep = -1;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`Expected a ring capacity ≥ 0, got ${capacity}`);
    this.items = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  push(item: T): void {
    if (this.capacity === 0) {
      this.evictedStep = Math.max(this.evictedStep, item.step);
      return;
    }
    if (this.count === this.capacity) {
      this.evictedStep = Math.max(this.evictedStep, this.items[this.start]!.step);
      this.items[this.start] = item;
      this.start = (this.start + 1) % this.capacity;
      return;
    }
    this.items[(this.start + this.count) % this.capacity] = item;
    this.count++;
  }

  /**
   * Items with `step ≥ fromStep`, oldest first, and whether that is all of them (false when an
   * item with such a step has already been pushed out).
   */
  since(fromStep: number): { items: T[]; complete: boolean } {
    const items: T[] = [];
    for (let i = 0; i < this.count; i++) {
      const item = this.items[(this.start + i) % this.capacity]!;
      if (item.step >= fromStep) items.push(item);
    }
    return { items, complete: this.evictedStep < fromStep };
  }
}
