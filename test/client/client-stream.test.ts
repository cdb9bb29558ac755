/**
 * `session.stream()` against a real server: within the credits and the rate, every row trained
 * once, to the weights `createTrainer()` gives the same rows in-process, from every kind of
 * source; the server's errors as LivegradErrors naming the rows; a server that stops; a named
 * producer that resumes, across a recording server's restart too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { from, interval, lastValueFrom, map, take, tap, toArray } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LivegradError, type Batch, type StreamProgress } from '../../src/client/index.js';
import { tinyConfig, tinyData, tinyRows, trainedInProcess, useClients, weightBytes } from '../helpers/client.js';

// (registered before the clients' hooks: vitest runs after-hooks last-registered first, so servers close before their directory goes)
let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'livegrad-client-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));
const { start, connect, proxy } = useClients();

/** The first `n` rows as one batch of tensors. */
function dataset(n: number): Batch {
  const { x, y } = tinyData(n);
  return { x: { dtype: 'float32', shape: [n, 4], data: x }, y: { dtype: 'float32', shape: [n], data: y } };
}

/** The first `n` rows in batches of 1, 2, … 37 rows, over and over. */
function* batches(n: number): Generator<Batch> {
  const { x, y } = tinyData(n);
  for (let at = 0, k = 1; at < n; at += k, k = (k % 37) + 1) {
    const m = Math.min(k, n - at);
    yield { x: { dtype: 'float32', shape: [m, 4], data: x.slice(at * 4, (at + m) * 4) }, y: { dtype: 'float32', shape: [m], data: y.slice(at, at + m) } };
  }
}

async function metric(port: number, name: string): Promise<string[]> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(name));
}

describe('session.stream', () => {
  it('streams 20,000 rows within 2 credits: never E_NO_CREDIT, every row trained once, the weights of createTrainer() on the same rows', async () => {
    const server = await start();
    const client = await connect(server.url);
    await client.create(tinyConfig('s', 32, 2));
    const s = client.session('s');
    const seen: StreamProgress[] = [];
    const last = await lastValueFrom(s.stream(dataset(20_000), { rowsPerMessage: 64 }).pipe(tap((p) => seen.push(p))));
    expect(last).toEqual({ sent: 20_000, acked: 20_000, consumed: 20_000, step: 625, skipped: 0 });
    // never more than 2 messages of 64 rows unacknowledged; counters only go up, in order
    expect(Math.max(...seen.map((p) => p.sent - p.acked))).toBeLessThanOrEqual(2 * 64);
    for (let i = 1; i < seen.length; i++) {
      const [a, b] = [seen[i - 1]!, seen[i]!];
      expect(b.sent >= a.sent && b.acked >= a.acked && b.consumed >= a.consumed && b.step >= a.step).toBe(true);
      expect(b.consumed <= b.acked && b.acked <= b.sent).toBe(true);
    }
    expect(seen.length).toBeGreaterThanOrEqual(3 * 313); // each message sent, accepted and trained
    const info = await s.info();
    expect([info.step, info.samples]).toEqual([625, 20_000]);
    expect(await metric(server.port, 'livegrad_errors_total{')).toEqual([]);
    const snap = await s.snapshot();
    expect(snap.step).toBe(625);
    expect(weightBytes(snap.model)).toEqual(weightBytes(trainedInProcess(20_000, 32)));
  });

  it('reads rows, an Iterable, an AsyncIterable and an Observable of batches of any size to the same weights, the last partial batch trained as one step', async () => {
    const server = await start({ trainingThreads: false }); // four sessions: no thread to start for each
    const client = await connect(server.url);
    const n = 403; // 50 batches of 8 and 3 rows
    const expected = weightBytes(trainedInProcess(n, 8));
    async function* slowly(): AsyncGenerator<Batch> {
      for (const b of batches(n)) {
        await new Promise((r) => setImmediate(r));
        yield b;
      }
    }
    const sources = { rows: tinyRows(n), iterable: batches(n), asyncIterable: slowly(), observable: from([...batches(n)]) };
    for (const [name, source] of Object.entries(sources)) {
      await client.create(tinyConfig(name, 8, 3));
      const last = await lastValueFrom(client.session(name).stream(source, { rowsPerMessage: 24 }));
      expect(last, name).toEqual({ sent: n, acked: n, consumed: n, step: 51, skipped: 0 });
      expect(weightBytes((await client.session(name).snapshot()).model), name).toEqual(expected);
    }
  });

  it('keeps under the server’s message rate (no E_RATE_LIMIT, which would lose the rows in flight)', async () => {
    const server = await start({ messagesPerSecond: 200, burst: 20 });
    const client = await connect(server.url);
    await client.create(tinyConfig('s', 4, 64));
    const started = performance.now();
    const last = await lastValueFrom(client.session('s').stream(dataset(480), { rowsPerMessage: 4 }));
    expect(last.consumed).toBe(480);
    // 120 messages at most 160 a second after a burst of 16: at least 0.6 s
    expect(performance.now() - started).toBeGreaterThan(550);
    expect(await metric(server.port, 'livegrad_errors_total{')).toEqual([]);
  });

  it('errors with the server’s code, naming the rows of the refused message', async () => {
    const server = await start();
    const client = await connect(server.url);
    await client.create(tinyConfig('s', 32));
    const rows = tinyRows(400);
    rows[150] = { x: [0, NaN, 0, 0], y: 1 };
    const failed = lastValueFrom(client.session('s').stream(rows, { rowsPerMessage: 64 }));
    await expect(failed).rejects.toBeInstanceOf(LivegradError);
    await expect(failed).rejects.toMatchObject({ code: 'E_NON_FINITE', message: expect.stringContaining('rows 128 to 191 of the stream') });
    // a bad argument fails at once, before anything is sent
    expect(() => client.session('s').stream(rows, { rowsPerMessage: 0 })).toThrow(RangeError);
    await expect(lastValueFrom(client.session('nope').stream(rows))).rejects.toMatchObject({ code: 'E_UNKNOWN_SESSION' });
    await expect(lastValueFrom(client.session('s').stream([{ x: [1, 2], y: 0 }]))).rejects.toMatchObject({ code: 'E_SHAPE', message: 'Expected rows[0].x to have 4 numbers, got an array of length 2' });
  });

  it('a server that stops mid-stream errors the stream at once with E_SHUTTING_DOWN and what was accepted', async () => {
    const server = await start();
    const client = await connect(server.url);
    await client.create(tinyConfig('s', 32, 2));
    let stopping: Promise<void> | undefined;
    const streamed = lastValueFrom(
      client.session('s').stream(dataset(20_000), { rowsPerMessage: 64 }).pipe(
        tap((p) => {
          if (p.acked >= 5000) stopping ??= server.close();
        }),
      ),
    );
    const started = performance.now();
    const error = await streamed.then(
      () => undefined,
      (e: unknown) => e as LivegradError,
    );
    expect(error).toBeInstanceOf(LivegradError);
    expect(error!.code).toBe('E_SHUTTING_DOWN');
    expect(error!.message).toMatch(/closed with 1001.*streaming to session "s", \d+ rows accepted, \d+ in flight/);
    expect(performance.now() - started).toBeLessThan(5000);
    await stopping;
  });

  it('a server that goes silent (no close, no answer) errors the stream after three heartbeats, not a hang', async () => {
    const server = await start({ heartbeatMs: 100 });
    const link = await proxy(server);
    const client = await connect(link.url);
    await client.create(tinyConfig('s', 4, 1));
    await client.session('s').control({ action: 'pause' }); // nothing comes back while it waits for its credit
    const streamed = lastValueFrom(client.session('s').stream(dataset(4000), { rowsPerMessage: 4 }));
    await expect.poll(() => server.stats().connections).toBe(2);
    const started = performance.now();
    link.freeze();
    const error = await streamed.then(
      () => undefined,
      (e: unknown) => e as LivegradError,
    );
    expect(error).toBeInstanceOf(LivegradError);
    expect(error!.message).toMatch(/Expected an answer from ws:\/\/127\.0\.0\.1:\d+\/ws within 300 ms, got nothing for \d+ ms: streaming to session "s"/);
    expect(performance.now() - started).toBeLessThan(1500);
  });

  it('tail: "hold" leaves the last partial batch in the session, for a close with drain', async () => {
    const server = await start();
    const client = await connect(server.url);
    await client.create(tinyConfig('s', 8));
    const last = await lastValueFrom(client.session('s').stream(dataset(1003), { tail: 'hold' }));
    expect(last).toMatchObject({ sent: 1003, acked: 1003, consumed: 1000, step: 125 });
    expect(await client.session('s').close({ drain: true })).toEqual({ step: 126, samples: 1003 });
  });

  it('unsubscribing stops the stream and closes its connection', async () => {
    const server = await start();
    const client = await connect(server.url);
    await client.create(tinyConfig('s', 4));
    const endless = interval(5).pipe(map(() => dataset(4)));
    const progress = await lastValueFrom(client.session('s').stream(endless).pipe(take(3), toArray()));
    expect(progress).toHaveLength(3);
    await expect.poll(() => server.stats().connections).toBe(1); // the client's request connection only
  });
});

describe('session.stream with a producer name', () => {

  it('resume: true skips the rows of the source the session already holds', async () => {
    const server = await start();
    const client = await connect(server.url);
    await client.create(tinyConfig('s', 20));
    const s = client.session('s');
    await lastValueFrom(s.stream(dataset(500), { producer: 'p', rowsPerMessage: 60 }));
    expect((await s.info()).producers).toEqual({ p: 499 });
    const last = await lastValueFrom(s.stream(dataset(1000), { producer: 'p', resume: true, rowsPerMessage: 60 }));
    expect(last).toEqual({ sent: 500, acked: 500, consumed: 500, step: 50, skipped: 500 });
    expect(weightBytes((await s.snapshot()).model)).toEqual(weightBytes(trainedInProcess(1000, 20)));
    // without resume, the name's rows are refused, saying where to resume
    await expect(lastValueFrom(s.stream(dataset(1000), { producer: 'p' }))).rejects.toMatchObject({ code: 'E_BAD_SEQ', message: expect.stringContaining('resume from 1000') });
  });

  it('goes on across a recording server’s restart: every row once, the weights of an uninterrupted run', async () => {
    const first = await start({ record: root });
    const link = await proxy(first);
    const client = await connect(link.url);
    expect((await client.create(tinyConfig('s', 32, 2))).recording).toBe(true);
    let restarted: Promise<void> | undefined;
    const restart = async (): Promise<void> => {
      await first.close(); // the session is suspended in its log
      const second = await start({ record: root });
      link.retarget(second.port);
    };
    const last = await lastValueFrom(
      client.session('s').stream(dataset(10_000), { producer: 'p1', rowsPerMessage: 64, reconnect: { minDelayMs: 50, maxDelayMs: 200, attempts: 50 } }).pipe(
        tap((p) => {
          if (p.acked >= 4000) restarted ??= restart();
        }),
      ),
    );
    await restarted;
    expect(last).toMatchObject({ sent: 10_000, acked: 10_000, consumed: 10_000, step: 313 });
    expect(link.accepted).toBeGreaterThanOrEqual(3); // requests, the stream, the stream again
    const s = client.session('s');
    const info = await s.info();
    expect([info.step, info.samples, info.producers]).toEqual([313, 10_000, { p1: 9999 }]);
    expect(weightBytes((await s.snapshot()).model)).toEqual(weightBytes(trainedInProcess(10_000, 32)));
  });
});
