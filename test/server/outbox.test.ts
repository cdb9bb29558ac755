/**
 * The outbox: two lanes (lossless in order; latest-wins conflated per key), sending only under
 * the low-water mark, resuming when a write completes, and giving up on a client that stays over
 * its budget.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Outbox, type OutboxOptions, type Sink } from '../../src/server/outbox.js';

class FakeSink implements Sink {
  bufferedAmount = 0;
  sent: string[] = [];
  callbacks: ((err?: Error) => void)[] = [];
  cork?: () => void;
  uncork?: () => void;
  send(data: Buffer | string, cb?: (err?: Error) => void): void {
    this.sent.push(String(data));
    this.bufferedAmount += data.length;
    if (cb) this.callbacks.push(cb);
  }
  /** The client read everything: the buffer empties and pending write callbacks run. */
  drain(): void {
    this.bufferedAmount = 0;
    for (const cb of this.callbacks.splice(0)) cb();
  }
}

const options: OutboxOptions = { lowWaterBytes: 10, maxBytes: 20, maxMessages: 100, graceMs: 50 };

function outbox(o: Partial<OutboxOptions> = {}) {
  const sink = new FakeSink();
  const stats = { bytesOut: 0, messagesOut: 0, conflated: 0 };
  const over: string[] = [];
  const box = new Outbox(sink, { ...options, ...o }, (r) => over.push(r), stats);
  return { sink, stats, over, box };
}

afterEach(() => {
  vi.useRealTimers();
});

/** The outbox sends on the next turn of the event loop. */
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('Outbox', () => {
  it('sends on the next turn of the event loop while the socket is under the low-water mark, corked in one write', async () => {
    const { sink, box, stats } = outbox();
    const corks: string[] = [];
    sink.cork = () => corks.push('cork');
    sink.uncork = () => corks.push(`uncork after ${sink.sent.length}`);
    box.pushLossless('aaa');
    box.pushLossless('bbb');
    expect(sink.sent).toEqual([]);
    await tick();
    expect(sink.sent).toEqual(['aaa', 'bbb']);
    expect(corks).toEqual(['cork', 'uncork after 2']);
    expect(stats).toMatchObject({ bytesOut: 6, messagesOut: 2 });
  });

  it('stops at the mark and resumes when the write that crossed it completes', async () => {
    const { sink, box } = outbox();
    for (const m of ['aaaa', 'bbbb', 'cccc', 'dddd']) box.pushLossless(m);
    await tick();
    expect(sink.sent).toEqual(['aaaa', 'bbbb', 'cccc']);
    expect(box.pending).toBe(1);
    sink.drain();
    expect(sink.sent).toEqual(['aaaa', 'bbbb', 'cccc', 'dddd']);
    expect(box.empty).toBe(true);
  });

  it('conflates the latest-wins lane to the newest per key and sends lossless first', () => {
    const { sink, box, stats } = outbox();
    sink.bufferedAmount = 100; // a stalled client
    box.pushLatest('s/weights', 'w1');
    box.pushLossless('step1');
    box.pushLatest('s/weights', 'w2');
    box.pushLatest('s/gradients', 'g1');
    box.pushLatest('s/weights', 'w3');
    expect(stats.conflated).toBe(2);
    sink.bufferedAmount = 0;
    box.flush();
    expect(sink.sent).toEqual(['step1', 'g1', 'w3']);
  });

  it('promotes a session\'s waiting latest-wins messages into the lossless lane, so that what comes next goes after them', () => {
    const { sink, box } = outbox();
    sink.bufferedAmount = 100;
    box.pushLatest('s/weights', 'w1');
    box.pushLatest('t/weights', 'tw');
    box.pushLossless('step1');
    box.pushLatest('s/gradients', 'g1');
    box.promote(['s/weights', 's/gradients']);
    box.pushLossless('completed');
    sink.bufferedAmount = 0;
    box.flush();
    sink.drain();
    box.flush();
    expect(sink.sent).toEqual(['step1', 'w1', 'g1', 'completed', 'tw']);
  });

  it('closes a client that stays over its budget for the grace period', () => {
    vi.useFakeTimers();
    const { sink, box, over } = outbox();
    sink.bufferedAmount = 100;
    for (let i = 0; i < 3; i++) box.pushLossless('xxxxxxxx'); // 24 bytes > 20
    expect(over).toEqual([]);
    vi.advanceTimersByTime(60);
    expect(over).toHaveLength(1);
    expect(over[0]).toMatch(/^E_SLOW_CONSUMER: outbox over budget for 50 ms/);
    expect(box.bytes).toBe(0);
    box.pushLossless('more');
    expect(box.pending).toBe(0);
  });

  it('forgives a client that drains within the grace period', async () => {
    vi.useFakeTimers();
    const { sink, box, over } = outbox();
    sink.bufferedAmount = 100;
    for (let i = 0; i < 3; i++) box.pushLossless('xxxxxxxx');
    sink.drain();
    box.flush();
    vi.advanceTimersByTime(60);
    expect(over).toEqual([]);
  });

  it('closes at once a client over twice its budget', () => {
    const { sink, box, over } = outbox();
    sink.bufferedAmount = 100;
    for (let i = 0; i < 6; i++) box.pushLossless('xxxxxxxx');
    expect(over).toHaveLength(1);
    expect(over[0]).toMatch(/over twice its budget/);
  });

  it('counts messages against the budget as well as bytes', () => {
    const { sink, box, over } = outbox({ maxMessages: 2, maxBytes: 1e6 });
    sink.bufferedAmount = 100;
    for (let i = 0; i < 5; i++) box.pushLossless('x');
    expect(over).toHaveLength(1);
  });
});
