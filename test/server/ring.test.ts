/** The replay ring and the token bucket: the two small bounded structures of the server. */
import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../src/server/rate-limit.js';
import { Ring } from '../../src/server/ring.js';

const items = (steps: number[]) => steps.map((step) => ({ step }));

describe('Ring', () => {
  it('keeps the newest items, oldest first', () => {
    const r = new Ring<{ step: number }>(3);
    for (const i of items([1, 2, 3, 4, 5])) r.push(i);
    expect(r.size).toBe(3);
    expect(r.since(0)).toEqual({ items: items([3, 4, 5]), complete: false });
    expect(r.since(3)).toEqual({ items: items([3, 4, 5]), complete: true });
    expect(r.since(5)).toEqual({ items: items([5]), complete: true });
    expect(r.since(9)).toEqual({ items: [], complete: true });
  });

  it('is complete while nothing has been pushed out', () => {
    const r = new Ring<{ step: number }>(4);
    for (const i of items([0, 0, 1])) r.push(i);
    expect(r.since(0)).toEqual({ items: items([0, 0, 1]), complete: true });
  });

  it('with capacity 0 keeps nothing and knows it', () => {
    const r = new Ring<{ step: number }>(0);
    r.push({ step: 1 });
    expect(r.since(0)).toEqual({ items: [], complete: false });
    expect(r.since(2)).toEqual({ items: [], complete: true });
  });
});

describe('TokenBucket', () => {
  it('allows a burst, then the rate', () => {
    let t = 0;
    const b = new TokenBucket(10, 3, () => t);
    expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
    t += 100; // one token per 100 ms
    expect([b.take(), b.take()]).toEqual([true, false]);
    t += 10_000;
    expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
  });

  it('refuses a bad rate or burst', () => {
    expect(() => new TokenBucket(0, 1)).toThrow(RangeError);
    expect(() => new TokenBucket(1, 0)).toThrow(RangeError);
  });
});
