/**
 * A first-in first-out list: push at the back, shift from the front, both O(1) amortised
 * (Array#shift moves every element). Items are read in order with `at(i)`, 0 being the front.
 */
export class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  /** The item at position i from the front (0: the front), or undefined. */
  at(i: number): T | undefined {
    return this.items[this.head + i];
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Removes and returns the first item that `match` accepts. */
  take(match: (item: T) => boolean): T | undefined {
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i]!;
      if (!match(item)) continue;
      if (i === this.head) return this.shift();
      this.items.splice(i, 1);
      return item;
    }
    return undefined;
  }

  /** Keeps only the items `keep` accepts, in order; returns the others. */
  filter(keep: (item: T) => boolean): T[] {
    const gone: T[] = [];
    const kept: T[] = [];
    for (let i = this.head; i < this.items.length; i++) (keep(this.items[i]!) ? kept : gone).push(this.items[i]!);
    this.items = kept;
    this.head = 0;
    return gone;
  }

  /** Empties the list and returns what it held, in order. */
  clear(): T[] {
    const all = this.items.slice(this.head) as T[];
    this.items = [];
    this.head = 0;
    return all;
  }
}
