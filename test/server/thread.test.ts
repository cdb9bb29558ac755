/**
 * Each session trains on its own thread: the main thread's sockets stay served during a long
 * step. Threaded or inline, replies to a session's calls come back in the order they were asked,
 * and a session whose trainer fails ends cleanly while the server and the other sessions go on.
 */
import { describe, expect, it } from 'vitest';
import { createMessage, produce, samples, TRAINING_MODES, useServers } from '../helpers/server.js';
import { f32, type TestClient } from '../helpers/ws-client.js';

const { start, connect } = useServers();

/**
 * Creates session "big" (784-1024-10, batch `rows`), subscribes `c` to `topics`, sends one batch
 * of `rows` rows and waits for its ack: the thread then starts one long step (several GFLOP per
 * 1024 rows, far longer than a loopback round trip).
 */
async function startLongStep(c: TestClient, rows: number, topics: string[]): Promise<void> {
  await c.ok({
    type: 'create',
    session: 'big',
    model: { inputSize: 784, layers: [{ units: 1024, activation: 'relu' }, { units: 10, activation: 'softmax' }], seed: 1 },
    loss: 'crossEntropy',
    optimizer: { kind: 'sgd', lr: 0.01 },
    batchSize: rows,
  });
  await c.ok({ type: 'subscribe', session: 'big', topics });
  const x = new Float32Array(rows * 784).map((_, i) => (i % 255) / 255);
  const y = new Float32Array(rows).map((_, i) => i % 10);
  c.send({ type: 'samples', session: 'big', seq: 0, x: f32([rows, 784], x), y: f32([rows], y) });
  await c.waitFor((m) => m['type'] === 'ack' && m['seq'] === 0);
}

/**
 * Resolves once session "big"'s thread is inside its step: a prediction asked of it `now` gets no
 * answer for 300 ms. (Its ack comes before the step begins, and a message that reaches the thread
 * in between is taken first.)
 */
async function inStep(c: TestClient): Promise<void> {
  const x = f32([1, 784], new Float32Array(784));
  for (let k = 0; ; k++) {
    const id = `busy${k}`;
    c.send({ type: 'predict', id, session: 'big', x, now: true });
    try {
      await c.waitFor((m) => m['ref'] === id, { timeoutMs: 300 });
    } catch {
      return;
    }
  }
}

describe('training threads', () => {
  it('answers a ping while a long step trains: by default, on any machine, sessions train on threads of their own', async () => {
    const server = await start(); // no trainingThreads: the default must keep the socket thread free of training
    const c = await connect(server);
    await startLongStep(c, 1024, ['step']);
    // the thread starts the step right after taking the batch; the main thread answers meanwhile
    const pong = await c.ok({ type: 'ping' });
    expect(c.of('step', 'big')).toHaveLength(0);
    expect(pong['type']).toBe('pong');
    const step = await c.waitFor((m) => m['type'] === 'step', { timeoutMs: 60_000 });
    expect(c.messages.indexOf(pong)).toBeLessThan(c.messages.indexOf(step));
  }, 90_000);

  it('terminates a thread still in a step when shutdown has waited shutdownTimeoutMs, and the session fails', async () => {
    // one 4096-row batch: a step of seconds, far longer than the 200 ms allowed
    const server = await start({ trainingThreads: true, shutdownTimeoutMs: 200, maxPayload: 32 * 2 ** 20 });
    const c = await connect(server);
    await startLongStep(c, 4096, ['step', 'lifecycle']);
    await inStep(c);
    await server.close();
    expect((await c.closed).code).toBe(1001);
    expect(c.of('step', 'big')).toHaveLength(0);
    const lifecycle = c.of('lifecycle', 'big');
    expect(lifecycle.at(-1)).toMatchObject({ state: 'failed', step: 0 });
    expect(lifecycle.at(-1)!['reason']).toMatch(/^Expected session "big" to stop within 200 ms of shutdown, got a step still running/);
  }, 90_000);
});

describe.each(TRAINING_MODES)('sessions trained $mode', ({ trainingThreads }) => {

  it('replies to a session’s controls, predictions and snapshots in the order they were sent', async () => {
    const server = await start({ trainingThreads });
    const c = await connect(server);
    await c.ok(createMessage('s'));
    await produce(c, 's', 3, 4);
    const ids = ['a', 'b', 'c', 'd', 'e'];
    c.send({ id: 'a', type: 'control', session: 's', control: { action: 'set', lr: 0.2 } });
    c.send({ id: 'b', type: 'predict', session: 's', x: f32([1, 4], [0, 1, 0, 1]) });
    c.send({ id: 'c', type: 'control', session: 's', control: { action: 'set', momentum: 0.9 } });
    c.send({ id: 'd', type: 'snapshot', session: 's' });
    c.send({ id: 'e', type: 'predict', session: 's', x: f32([2, 4], [1, 0, 1, 0, 0, 0, 1, 1]) });
    await c.waitFor((m) => m['ref'] === 'e');
    const replies = c.messages.filter((m) => ids.includes(m['ref'] as string));
    expect(replies.map((m) => [m['ref'], m['type']])).toEqual([
      ['a', 'controlled'],
      ['b', 'prediction'],
      ['c', 'controlled'],
      ['d', 'snapshot'],
      ['e', 'prediction'],
    ]);
    // the snapshot was taken after both sets were taken (they apply at the next batch boundary: no batch is queued)
    expect(replies[3]!['optimizer']).toMatchObject({ kind: 'sgd', lr: 0.2, momentum: 0.9 });
    expect(replies[4]!['output']).toMatchObject({ shape: [2, 3] });
  });

  it('keeps the order of a session’s replies to messages sent back to back, create first', async () => {
    const server = await start({ trainingThreads });
    const c = await connect(server);
    c.send({ ...createMessage('s'), id: 'create' });
    c.send({ id: 'pause', type: 'control', session: 's', control: { action: 'pause' } });
    c.send(samples('s', 0, 4));
    // `now`: answered with the weights as they are (in order, the predict would wait for seq 0 to train, and it cannot while paused)
    c.send({ id: 'predict', type: 'predict', session: 's', x: f32([1, 4], [0, 1, 0, 1]), now: true });
    c.send(samples('s', 1, 4));
    c.send({ id: 'snapshot', type: 'snapshot', session: 's', now: true });
    await c.waitFor((m) => m['ref'] === 'snapshot');
    const order = c.messages.filter((m) => m['type'] !== 'welcome').map((m) => (m['type'] === 'ack' ? `ack ${String(m['seq'])}` : m['type']));
    expect(order).toEqual(['created', 'controlled', 'ack 0', 'prediction', 'ack 1', 'snapshot']);
  });

  it('ends a session whose trainer fails, and the server and another session go on', async () => {
    const server = await start({ trainingThreads });
    const c = await connect(server);
    const watcher = await connect(server);
    await c.ok(createMessage('healthy'));
    // a linear regression at this learning rate: the weights, then the squared error, overflow float32
    const model = { inputSize: 4, layers: [{ units: 3, activation: 'linear' }], seed: 1 };
    await c.ok(createMessage('doomed', { model, loss: 'sse', optimizer: { kind: 'sgd', lr: 1e30 }, onNonFinite: 'fail' }));
    await watcher.ok({ type: 'subscribe', session: 'doomed', topics: ['lifecycle', 'error'], fromStep: 0 });
    const x = f32([4, 4], [1, 2, 3, 4, 4, 3, 2, 1, 1, 0, 1, 0, 0, 1, 0, 1]);
    const y = f32([4, 3], [1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1]);
    for (let seq = 0; seq < 8; seq++) c.send({ type: 'samples', session: 'doomed', seq, x, y });
    const failed = await watcher.waitFor((m) => m['type'] === 'lifecycle' && m['state'] === 'failed');
    expect(failed['reason']).toMatch(/non-finite|not finite/i);
    expect(watcher.of('error', 'doomed').map((m) => m['code'])).toContain('E_NON_FINITE');
    // gone: its name is free, calls to it are refused, the other session trains on
    await expect.poll(async () => ((await c.ok({ type: 'list' }))['sessions'] as { session: string }[]).map((s) => s.session)).toEqual(['healthy']);
    const refused = await c.request({ type: 'snapshot', session: 'doomed' });
    expect(refused).toMatchObject({ type: 'error', code: 'E_UNKNOWN_SESSION' });
    await produce(c, 'healthy', 3, 4);
    await c.waitFor((m) => m['type'] === 'consumed' && m['session'] === 'healthy' && m['seq'] === 2);
    const health = (await (await fetch(`http://127.0.0.1:${server.port}/healthz`)).json()) as { status: string; sessions: number };
    expect(health).toMatchObject({ status: 'ok', sessions: 1 });
  });
});
