/**
 * `session.events()` against a real server: typed events with tensors decoded; a subscriber
 * whose socket is cut in the middle reconnects and resumes with no lost and no repeated event;
 * an explicit `gap` when the ring no longer holds what it missed; the end of the session.
 */
import { firstValueFrom, interval, lastValueFrom, map, take, takeWhile, toArray, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { LivegradError, type Batch, type SessionEvent } from '../../src/client/index.js';
import { tinyConfig, tinyData, useClients } from '../helpers/client.js';
import { flakyWebSocket } from '../helpers/flaky-websocket.js';

const { start, connect, proxy } = useClients();

/** Rows `from` … `from + n - 1` of the tiny data as one batch. */
function rows(from: number, n: number): Batch {
  const { x, y } = tinyData(from + n);
  return { x: { dtype: 'float32', shape: [n, 4], data: x.subarray(from * 4) }, y: { dtype: 'float32', shape: [n], data: y.subarray(from) } };
}

/** Batches of 8 rows (2 steps of 4) every 4 ms: a producer that is still at work when the socket is cut. */
function paced(batches: number): Observable<Batch> {
  return interval(4).pipe(take(batches), map((k) => rows(k * 8, 8)));
}

describe('session.events', () => {
  it('emits the events of its topics, typed, with tensors decoded', async () => {
    const server = await start();
    const client = await connect(server.url);
    await client.create({ ...tinyConfig('s', 4), events: { metricsEvery: 5, weightsEvery: 10 } });
    const s = client.session('s');
    const seen = lastValueFrom(s.events(['step', 'metrics', 'weights']).pipe(takeWhile((e) => !(e.type === 'weights' && e.step === 20), true), toArray()));
    await new Promise((r) => setTimeout(r, 50)); // subscribed
    await lastValueFrom(s.stream(rows(0, 80)));
    const events = await seen;
    expect(events.filter((e) => e.type === 'step').map((e) => e.step)).toEqual([...Array(20).keys()].map((i) => i + 1));
    expect(events.filter((e) => e.type === 'metrics').map((e) => e.step)).toEqual([5, 10, 15, 20]);
    const w = events.find((e) => e.type === 'weights' && e.step === 20);
    if (w?.type !== 'weights') throw new Error('Expected a weights event at step 20');
    expect(w.layers[0]!.w.data).toBeInstanceOf(Float32Array);
    expect(w.layers[0]!.w.shape).toEqual([4, 8]);
    expect(w.layers[1]!.b.shape).toEqual([3]);
    // the weights event's tensors are the snapshot's, bit for bit
    const snap = await s.snapshot();
    expect(Buffer.from(w.layers[1]!.w.data.buffer)).toEqual(Buffer.from(snap.model.layers[1]!.w.buffer));
    const step = events.find((e) => e.type === 'step')!;
    if (step.type !== 'step') throw new Error('Expected a step event');
    expect(step).toMatchObject({ session: 's', batchSize: 4, applied: true, samples: 4 });
    expect(typeof step.loss).toBe('number');
  });

  it('reconnects after its socket is cut in the middle and resumes: every step and metrics event once, in order', async () => {
    const server = await start();
    const producer = await connect(server.url);
    await producer.create({ ...tinyConfig('s', 4), events: { metricsEvery: 3 } });
    const link = await proxy(server);
    const watcher = await connect(link.url);
    const seen: SessionEvent<'step' | 'metrics'>[] = [];
    let cut = false;
    const done = lastValueFrom(
      watcher.session('s').events(['step', 'metrics'], { reconnect: { minDelayMs: 20 } }).pipe(
        takeWhile((e) => e.step < 300 || e.type !== 'metrics', true), // 150 batches of 8 rows: 300 steps, metrics at 300
        map((e) => {
          seen.push(e);
          if (!cut && e.step >= 60) {
            cut = true;
            link.cut(); // the server's side drops, with no close frame
          }
          return e;
        }),
      ),
    );
    await new Promise((r) => setTimeout(r, 50));
    await lastValueFrom(producer.session('s').stream(paced(150)));
    await done;
    expect(link.accepted).toBeGreaterThanOrEqual(3); // the client's requests, the subscription, the subscription again
    expect(seen.filter((e) => e.type === 'gap')).toEqual([]);
    expect(seen.filter((e) => e.type === 'step').map((e) => e.step)).toEqual([...Array(300).keys()].map((i) => i + 1));
    expect(seen.filter((e) => e.type === 'metrics').map((e) => e.step)).toEqual([...Array(100).keys()].map((i) => 3 * (i + 1)));
  });

  it('cut between two events of one step, it gets the rest of that step from the ring, and nothing twice', async () => {
    const server = await start();
    const producer = await connect(server.url);
    await producer.create({ ...tinyConfig('s', 4), events: { metricsEvery: 5 } });
    // the connection drops right after the step event of step 20, before the metrics event of step 20
    const flaky = flakyWebSocket((m) => m['type'] === 'step' && m['step'] === 20);
    const watcher = await connect(server.url, { WebSocket: flaky.WebSocket });
    const done = lastValueFrom(watcher.session('s').events(['step', 'metrics'], { reconnect: { minDelayMs: 20 } }).pipe(takeWhile((e) => e.type !== 'metrics' || e.step < 40, true), toArray()));
    await new Promise((r) => setTimeout(r, 50));
    await lastValueFrom(producer.session('s').stream(rows(0, 160)));
    const seen = await done;
    expect(flaky.cuts).toBe(1);
    expect(seen.filter((e) => e.type === 'step').map((e) => e.step)).toEqual([...Array(40).keys()].map((i) => i + 1));
    expect(seen.filter((e) => e.type === 'metrics').map((e) => e.step)).toEqual([5, 10, 15, 20, 25, 30, 35, 40]);
  });

  it('says gap when the server’s ring no longer holds the events it missed, and goes on', async () => {
    const server = await start({ replayEvents: 8 });
    const producer = await connect(server.url);
    await producer.create(tinyConfig('s', 4));
    const link = await proxy(server);
    const watcher = await connect(link.url);
    const seen: SessionEvent<'step'>[] = [];
    const done = lastValueFrom(
      watcher.session('s').events(['step'], { reconnect: { minDelayMs: 400 } }).pipe(
        takeWhile((e) => e.step < 150, true),
        map((e) => void seen.push(e)),
      ),
    );
    await new Promise((r) => setTimeout(r, 50));
    await lastValueFrom(producer.session('s').stream(rows(0, 40))); // steps 1-10
    await expect.poll(() => seen.length).toBe(10);
    link.cut();
    await lastValueFrom(producer.session('s').stream(rows(40, 400))); // steps 11-110, while it is away: the ring keeps 8
    await new Promise((r) => setTimeout(r, 600));
    await lastValueFrom(producer.session('s').stream(rows(440, 160))); // steps 111-150
    await done;
    const gap = seen.find((e) => e.type === 'gap');
    expect(gap).toMatchObject({ type: 'gap', session: 's', fromStep: 10, step: 110 });
    // the ring's 8 lossless events hold the last step events (and the metrics of step 110): those, then live
    const k = (gap as { replayed: number }).replayed;
    expect(k).toBeGreaterThanOrEqual(6);
    expect(seen.slice(0, seen.indexOf(gap!)).map((e) => e.step)).toEqual([...Array(10).keys()].map((i) => i + 1));
    expect(seen.slice(seen.indexOf(gap!) + 1).map((e) => e.step)).toEqual([...Array(40 + k).keys()].map((i) => i + 111 - k));
  });

  it('begins with the ring’s events from fromStep, and completes when the session ends', async () => {
    const server = await start();
    const client = await connect(server.url);
    await client.create(tinyConfig('s', 4));
    const s = client.session('s');
    await lastValueFrom(s.stream(rows(0, 40)));
    const all = lastValueFrom(s.events(['step', 'lifecycle'], { fromStep: 0 }).pipe(toArray()));
    await new Promise((r) => setTimeout(r, 50));
    await s.close({ drain: true });
    const events = await all;
    expect(events.map((e) => (e.type === 'lifecycle' ? e.state : e.step))).toEqual(['started', ...[...Array(10).keys()].map((i) => i + 1), 'completed']);
  });

  it('errors with E_UNKNOWN_SESSION for a session that does not exist, and checks its arguments at once', async () => {
    const server = await start();
    const client = await connect(server.url);
    const failed = firstValueFrom(client.session('nope').events());
    await expect(failed).rejects.toBeInstanceOf(LivegradError);
    await expect(failed).rejects.toMatchObject({ code: 'E_UNKNOWN_SESSION' });
    expect(() => client.session('s').events(['steps' as 'step'])).toThrow(TypeError);
    expect(() => client.session('s').events(['step'], { rate: 0 })).toThrow(RangeError);
  });
});
