/**
 * `connect()` and a session's requests against a real server: create and list, predict, a
 * snapshot that the library's own `predict()` runs offline and that `create` resumes from bit for
 * bit, controls, close; tokens; JSON frames; errors as LivegradErrors with the protocol's codes;
 * a request connection that comes back; and `client.close()`, which leaves nothing behind.
 */
import { lastValueFrom, takeWhile, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { connect, LivegradError, type Batch } from '../../src/client/index.js';
import { mlpShape, predict, resolveKernels } from '../../src/index.js';
import { tinyConfig, tinyData, useClients, weightBytes } from '../helpers/client.js';

const { start, connect: open, proxy } = useClients();

function rows(from: number, n: number): Batch {
  const { x, y } = tinyData(from + n);
  return { x: { dtype: 'float32', shape: [n, 4], data: x.subarray(from * 4) }, y: { dtype: 'float32', shape: [n], data: y.subarray(from) } };
}

const X = [[0.1, -0.2, 0.3, 0.5], [-1, 1, 0, 0.25]];

/** Resources of this process by kind (timers, sockets), as Node counts them. */
function resources(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) out[r] = (out[r] ?? 0) + 1;
  return out;
}

describe('connect', () => {
  it('creates sessions and lists them; refusals are LivegradErrors with the protocol’s code', async () => {
    const server = await start();
    const client = await open(server.url);
    expect(client.welcome).toMatchObject({ type: 'welcome', protocol: 1, permissions: { produce: true, read: true } });
    const created = await client.create(tinyConfig('a', 8, 4));
    expect(created).toEqual({ session: 'a', step: 0, samples: 0, dtype: 'float32', inputSize: 4, outputSize: 3, parameters: 67, loss: 'crossEntropy', batchSize: 8, credits: 4, recording: false, producers: {}, kernels: resolveKernels(mlpShape(tinyConfig('a').model)), threads: 1 });
    await client.create(tinyConfig('b'));
    expect((await client.sessions()).map((s) => s.session).sort()).toEqual(['a', 'b']);
    const exists = client.create(tinyConfig('a'));
    await expect(exists).rejects.toBeInstanceOf(LivegradError);
    await expect(exists).rejects.toMatchObject({ code: 'E_SESSION_EXISTS' });
    // the protocol's own check, before anything is sent: names the field
    await expect(client.create({ ...tinyConfig('c'), batchSize: 0 })).rejects.toMatchObject({ code: 'E_BAD_FIELD', message: expect.stringContaining('batchSize') });
    // the server's: a softmax output with a regression loss
    await expect(client.create({ ...tinyConfig('c'), loss: 'bce' })).rejects.toMatchObject({ code: 'E_BAD_CONFIG' });
    await expect(client.session('nope').predict(X)).rejects.toMatchObject({ code: 'E_UNKNOWN_SESSION' });
    expect(() => client.session('no spaces')).toThrow(TypeError);
  });

  it('predicts with the step it used; a snapshot is a model the library’s predict() runs offline to the same bits, and one create resumes from', async () => {
    const server = await start();
    const client = await open(server.url);
    await client.create(tinyConfig('s', 8));
    const s = client.session('s');
    await lastValueFrom(s.stream(rows(0, 400)));
    const { output, step } = await s.predict(X);
    expect(step).toBe(50);
    expect(output.shape).toEqual([2, 3]);
    const snap = await s.snapshot();
    expect([snap.step, snap.samples, snap.batchSize, snap.loss, snap.optimizer.kind]).toEqual([50, 400, 8, 'crossEntropy', 'sgd']);
    expect(Buffer.from(predict(snap.model, X).data.buffer)).toEqual(Buffer.from(output.data.buffer));
    // a session created from the snapshot, fed the same rows as the original, keeps the same weights
    await client.create({ session: 'copy', model: snap.model, loss: snap.loss, optimizer: snap.optimizer, optimizerState: snap.optimizerState, startStep: snap.step, startSamples: snap.samples, batchSize: snap.batchSize });
    await lastValueFrom(s.stream(rows(400, 200)));
    await lastValueFrom(client.session('copy').stream(rows(400, 200)));
    const [a, b] = [await s.snapshot(), await client.session('copy').snapshot()];
    expect([a.step, b.step]).toEqual([75, 75]);
    expect(weightBytes(b.model)).toEqual(weightBytes(a.model));
  });

  it('steers a session with controls, and closes it', async () => {
    const server = await start();
    const client = await open(server.url);
    await client.create(tinyConfig('s', 4));
    const s = client.session('s');
    const events = lastValueFrom(s.events(['control', 'lifecycle']).pipe(toArray()));
    await new Promise((r) => setTimeout(r, 50));
    expect(await s.control({ action: 'set', lr: 0.05 }, { atStep: 10 })).toEqual({ action: 'set', step: 10, atStep: 10 });
    await lastValueFrom(s.stream(rows(0, 80)));
    expect(await s.control({ action: 'pause' })).toEqual({ action: 'pause', step: 20, atStep: null });
    expect((await s.info()).paused).toBe(true);
    await s.control({ action: 'resume' });
    await expect(s.control({ action: 'set' } as never)).rejects.toMatchObject({ code: 'E_BAD_CONTROL' });
    expect(await s.close({ drain: true })).toEqual({ step: 20, samples: 80 });
    const seen = await events; // completes with the session
    expect(seen.map((e) => (e.type === 'control' ? `${e.control.action}@${e.step}` : `${e.type === 'lifecycle' ? e.state : ''}@${e.step}`))).toEqual(['set@10', 'paused@20', 'pause@20', 'resumed@20', 'resume@20', 'completed@20']);
    await expect(s.info()).rejects.toMatchObject({ code: 'E_UNKNOWN_SESSION' });
  });

  it('sends its token; a wrong one is E_UNAUTHORIZED, a read token’s create E_FORBIDDEN', async () => {
    const server = await start({ producerToken: 'p-secret', readToken: 'r-secret' });
    await expect(connect(server.url)).rejects.toMatchObject({ code: 'E_UNAUTHORIZED' });
    await expect(connect(server.url, { token: 'wrong' })).rejects.toBeInstanceOf(LivegradError);
    const producer = await open(server.url, { token: 'p-secret' });
    await producer.create(tinyConfig('s', 4));
    const reader = await open(server.url, { token: 'r-secret' });
    expect(reader.welcome.permissions).toEqual({ produce: false, read: true });
    expect((await reader.sessions()).map((s) => s.session)).toEqual(['s']);
    await expect(reader.create(tinyConfig('t'))).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
    await expect(lastValueFrom(reader.session('s').stream(rows(0, 8)))).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
  });

  it('speaks JSON text frames as well, to the same weights', async () => {
    const server = await start();
    const json = await open(server.url, { format: 'json' });
    const binary = await open(server.url);
    await json.create(tinyConfig('j', 8));
    await binary.create(tinyConfig('b', 8));
    const steps = lastValueFrom(json.session('j').events(['step']).pipe(takeWhile((e) => e.step < 25, true), toArray()));
    await new Promise((r) => setTimeout(r, 50));
    await lastValueFrom(json.session('j').stream(rows(0, 200)));
    await lastValueFrom(binary.session('b').stream(rows(0, 200)));
    const seen = await steps;
    expect(seen.map((e) => e.step)).toEqual([...Array(25).keys()].map((i) => i + 1));
    expect(seen.every((e) => e.type === 'step' && Number.isFinite(e.loss))).toBe(true);
    const [j, b] = [await json.session('j').snapshot(), await binary.session('b').snapshot()];
    expect(weightBytes(j.model)).toEqual(weightBytes(b.model));
    expect(Buffer.from((await json.session('j').predict(X)).output.data.buffer)).toEqual(Buffer.from((await binary.session('b').predict(X)).output.data.buffer));
  });

  it('opens its request connection again after a drop', async () => {
    const server = await start();
    const link = await proxy(server);
    const client = await open(link.url);
    await client.create(tinyConfig('s'));
    link.cut();
    await expect.poll(async () => (await client.sessions().catch((e: LivegradError) => [e.code])).length).toBe(1);
    expect((await client.sessions()).map((s) => s.session)).toEqual(['s']);
    expect(link.accepted).toBe(2);
  });

  it('rejects a server it cannot reach, and a path that is not /ws, with what happened', async () => {
    const server = await start();
    await expect(connect(server.url.replace('/ws', '/nope'))).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    const link = await proxy(server);
    link.retarget(1); // nothing listens on port 1
    const refused = connect(link.url);
    await expect(refused).rejects.toBeInstanceOf(LivegradError);
    await expect(refused).rejects.toMatchObject({ message: expect.stringContaining(`Expected ${link.url} to accept a WebSocket`) });
    await expect(connect('http://127.0.0.1:1/ws')).rejects.toThrow(TypeError);
  });

  it('close() errors its streams, completes its subscriptions, and leaves no timer or socket behind', async () => {
    const server = await start();
    const before = resources();
    const client = await connect(server.url);
    await client.create(tinyConfig('s', 4, 1));
    const s = client.session('s');
    await s.control({ action: 'pause' }); // the stream waits for credits that never come back
    const streamed = lastValueFrom(s.stream(rows(0, 4000), { rowsPerMessage: 4 }));
    const followed = lastValueFrom(s.events(['step']).pipe(toArray()));
    await expect.poll(() => server.stats().connections).toBe(3);
    await client.close();
    await expect(streamed).rejects.toMatchObject({ message: expect.stringContaining('got it stopped') });
    expect(await followed).toEqual([]);
    await expect(client.sessions()).rejects.toMatchObject({ message: expect.stringContaining('got one closed') });
    await expect.poll(() => server.stats().connections).toBe(0);
    // the client's timers (watchdogs, backoff, rate) and sockets are gone: what is left is the server's and the test runner's
    const left = (r: Record<string, number>): number[] => [r['Timeout'] ?? 0, r['TCPSocketWrap'] ?? 0];
    await expect.poll(() => left(resources()).every((n, i) => n <= left(before)[i]!)).toBe(true);
  });
});
