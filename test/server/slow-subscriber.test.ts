/**
 * Slow subscribers never slow training: a subscriber that stops reading while the session trains
 * 20,000 steps gets its weights and gradients conflated and, once its lossless lane stays over
 * budget, is closed with 1013 and a reason; the heap stays bounded; a healthy subscriber receives
 * every step event; and the slow one can come back with `fromStep` and get what it missed from the
 * replay ring.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { createMessage, produce, useServers } from '../helpers/server.js';

const { start, connect } = useServers();

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  gc();
  return process.memoryUsage().heapUsed;
}

const STEPS = 20_000;

describe('a subscriber that stops reading', () => {
  it('is conflated, then closed with 1013, while training and a healthy subscriber go on', async () => {
    const server = await start({
      // inline: the test's clients share the server's event loop; a training thread would produce these
      // 4 events a step faster than the in-process healthy client reads them, under this tiny outbox budget
      trainingThreads: false,
      outbox: { lowWaterBytes: 16 * 1024, maxBytes: 256 * 1024, maxMessages: 2000, graceMs: 200 },
    });
    const producer = await connect(server);
    // A deep but tiny model (48 layers of 4 units, 859 parameters): its step events carry 48 gradient
    // norms, so 20,000 steps of lossless events (~15 MB) are far more than the kernel's socket
    // buffers can hide from the server.
    const model = { inputSize: 4, layers: [...Array<unknown>(47).fill({ units: 4, activation: 'tanh' }), { units: 3, activation: 'softmax' }], seed: 1 };
    await producer.ok(createMessage('s', { model, events: { weightsEvery: 1, gradientsEvery: 1, metricsEvery: 1 } }));
    const healthy = await connect(server, { store: false });
    const steps: number[] = [];
    // the listener, not a waiter: this client keeps no messages, and its last step may arrive before the
    // producer's last ack is read (two sockets, no order between them)
    let allSteps!: () => void;
    const allStepsIn = new Promise<void>((resolve) => (allSteps = resolve));
    healthy.listen((m) => {
      if (m['type'] !== 'step') return;
      steps.push(m['step'] as number);
      if (m['step'] === STEPS) allSteps();
    });
    healthy.send({ type: 'subscribe', session: 's', topics: ['step'] });
    await healthy.waitFor((m) => m['type'] === 'subscribed');
    const slow = await connect(server);
    slow.send({ type: 'subscribe', session: 's' });
    slow.ws.pause(); // stops reading from its socket: the kernel buffers fill, then the server's outbox
    while ((await producer.ok({ type: 'list' }))['sessions'][0]['subscribers'] < 2) await new Promise((r) => setTimeout(r, 5));

    const before = heapAfterGc();
    let maxHeap = 0;
    let maxOutbox = 0;
    const sampler = setInterval(() => {
      maxHeap = Math.max(maxHeap, process.memoryUsage().heapUsed);
      // the fullest outbox: the slow subscriber's (the healthy one's may hold some too on a busy host)
      maxOutbox = Math.max(maxOutbox, server.stats().largestOutboxBytes);
    }, 20);
    await produce(producer, 's', STEPS / 100, 400); // 200 messages of 100 batches
    await allStepsIn;
    clearInterval(sampler);
    const after = heapAfterGc();

    // the healthy subscriber got every step, in order
    expect(steps.length).toBe(STEPS);
    expect(steps.every((s, i) => s === i + 1)).toBe(true);

    // memory stayed bounded: the slow subscriber's outbox under the budget's hard cap, the heap flat
    expect(maxOutbox).toBeGreaterThan(64 * 1024); // it did fill (the sampler saw it)
    expect(maxOutbox).toBeLessThan(2 * 256 * 1024 + 64 * 1024);
    expect(after - before).toBeLessThan(16 * 2 ** 20);
    // the peak holds garbage not yet collected: every step's weights event (96 tensors) is decoded
    // anew on the main thread from the training thread's message, far more over 20,000 steps than this bound
    expect(maxHeap - before).toBeLessThan(128 * 2 ** 20);

    // the slow one: reading again, it finds what the kernel had buffered, then the 1013 close
    slow.ws.resume();
    const closed = await slow.closed;
    expect(closed.code).toBe(1013);
    expect(closed.reason).toMatch(/^E_SLOW_CONSUMER: outbox over/);
    const received = slow.messages.filter((m) => m['session'] === 's');
    expect(received.filter((m) => m['type'] === 'step').length).toBeLessThan(STEPS);
    // only this subscriber takes weights and gradients (one each per step): thousands were replaced by newer ones in its outbox
    const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    expect(metrics).toMatch(/livegrad_slow_consumers_closed_total 1\n/);
    expect(Number(/livegrad_events_dropped_total\{reason="conflated"\} (\d+)/.exec(metrics)![1])).toBeGreaterThan(1000);

    // back with fromStep: what it missed, as far as the bounded ring (4096 lossless events) still holds it
    // and half the outbox budget takes at once
    const lastSeen = Math.max(0, ...received.filter((m) => m['type'] === 'step').map((m) => m['step'] as number));
    const again = await connect(server);
    const gap = await again.ok({ type: 'subscribe', session: 's', topics: ['step'], fromStep: lastSeen + 1 });
    expect(gap).toMatchObject({ complete: false });
    expect(gap['replayed']).toBeGreaterThan(100); // as much as half an outbox budget (128 KiB) holds
    const recent = await again.ok({ type: 'subscribe', session: 's', topics: ['step'], fromStep: STEPS - 99 });
    expect(recent).toMatchObject({ complete: true, replayed: 100 });
    const from = again.messages.indexOf(recent);
    await again.waitFor((m) => m['type'] === 'step' && m['step'] === STEPS, { from });
    expect(again.messages.slice(from + 1).map((m) => m['step'])).toEqual([...Array(100).keys()].map((i) => STEPS - 99 + i));
  });
});
