/**
 * The server end to end, over real `ws` clients on port 0: HTTP routes, sessions, streaming with
 * acks and credits, events to subscribers, predict, snapshot and resume, controls, JSON text
 * frames, fromStep replay, per-topic rates, closing, several sessions, float64.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { createServer, createTrainer, sgd, type Mlp } from '../../src/index.js';
import { expectSameBits } from '../helpers/bits.js';
import { chunkValues, createMessage, produce, samples, TINY, TRAINING_MODES, useServers } from '../helpers/server.js';
import { f32, numbers, TestClient, type Msg } from '../helpers/ws-client.js';

const { start, connect } = useServers();

/** What in-process training on the same chunks gives. */
function trainLocally(chunks: number, rows: number, batchSize = 4): Mlp {
  const t = createTrainer({ model: { ...TINY, layers: [...TINY.layers] }, loss: 'crossEntropy', optimizer: sgd({ lr: 0.1 }), batchSize, sliceMs: Infinity });
  for (let seq = 0; seq < chunks; seq++) {
    const { x, y } = chunkValues(seq, rows);
    t.push({ x: { dtype: 'float32', shape: [rows, 4], data: x }, y: { dtype: 'float32', shape: [rows], data: y } });
  }
  return t.model;
}

function stepsOf(c: TestClient, session: string): number[] {
  return c.of('step', session).map((m) => m['step'] as number);
}

async function stepReached(c: TestClient, session: string, step: number): Promise<void> {
  await c.waitFor((m) => m['type'] === 'step' && m['session'] === session && m['step'] === step, { timeoutMs: 20_000 });
}

/**
 * Creates session "s" (batches of 4, room for one), pauses it and sends `samples` seq 0-3 of 4
 * rows: one is accepted (ack), three wait for room.
 */
async function pauseWithThreeWaiting(c: TestClient): Promise<void> {
  await c.ok(createMessage('s', { credits: 4, queueCapacity: 1 }));
  await c.ok({ type: 'control', session: 's', control: { action: 'pause' } });
  for (let seq = 0; seq < 4; seq++) c.send(samples('s', seq, 4)); // one fits, three wait for room
  await c.waitFor((m) => m['type'] === 'ack' && m['seq'] === 0);
  await expect.poll(async () => ((await c.ok({ type: 'list' }))['sessions'] as { queueDepth: number }[])[0]!.queueDepth).toBe(4);
}

describe('options', () => {
  it('refuses bad server options with an error naming the option', async () => {
    await expect(createServer({ port: -1 })).rejects.toThrow('Expected port to be an integer in [0, 65535], got -1');
    await expect(createServer({ credits: 0 })).rejects.toThrow('Expected credits to be a number ≥ 1, got 0');
    await expect(createServer({ trainingThreads: 'yes' as unknown as boolean })).rejects.toThrow('Expected trainingThreads to be a boolean, got "yes"');
  });
});

describe('HTTP', () => {
  it('serves /healthz, /metrics and /, and 404s anything else', async () => {
    const server = await start();
    const base = `http://127.0.0.1:${server.port}`;
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', protocol: 1, sessions: 0, connections: 0 });
    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/);
    const text = await metrics.text();
    for (const name of ['livegrad_sessions', 'livegrad_steps_total', 'livegrad_samples_total', 'livegrad_queue_depth', 'livegrad_subscribers', 'livegrad_bytes_out_total', 'livegrad_events_dropped_total', 'livegrad_errors_total']) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    expect((await fetch(`${base}/`)).status).toBe(200);
    const missing = await fetch(`${base}/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: 'E_NOT_FOUND' });
    expect((await fetch(`${base}/ws`)).status).toBe(426);
  });

  it('refuses a WebSocket upgrade off /ws with 404 before any socket opens', async () => {
    const server = await start();
    await expect(TestClient.connect(server.url.replace('/ws', '/other'))).rejects.toMatchObject({ status: 404 });
  });

  it('welcomes a connection with the protocol version, permissions and limits', async () => {
    const server = await start({ maxPayload: 1000, maxSessions: 5, sessionIdleMs: 60_000 });
    const c = await connect(server);
    const welcome = await c.waitFor((m) => m['type'] === 'welcome');
    expect(welcome).toEqual({
      type: 'welcome',
      protocol: 1,
      server: 'livegrad',
      permissions: { produce: true, read: true },
      limits: { maxPayload: 1000, messagesPerSecond: 10000, burst: 20000, maxSessions: 5, sessionIdleMs: 60_000, maxBacklogMessages: 4096, maxBacklogBytes: 64 * 2 ** 20 },
      heartbeatMs: 15000,
    });
  });
});

describe('heartbeat', () => {
  it('terminates a peer that misses a pong, and keeps one that answers', async () => {
    const server = await start({ heartbeatMs: 100 });
    const silent = new WebSocket(server.url, { autoPong: false });
    const silentClosed = new Promise<number>((resolve) => silent.on('close', (code) => resolve(code)));
    await new Promise((resolve) => silent.once('open', resolve));
    const polite = await connect(server);
    expect(await silentClosed).toBe(1006); // terminated: no close handshake
    expect((await polite.ok({ type: 'ping' }))['type']).toBe('pong');
  });
});

describe.each(TRAINING_MODES)('sessions, trained $mode', ({ trainingThreads }) => {
  it('creates, lists, and refuses a duplicate name', async () => {
    const server = await start({ trainingThreads });
    const c = await connect(server);
    const created = await c.ok(createMessage('a'));
    expect(created).toMatchObject({ type: 'created', session: 'a', step: 0, dtype: 'float32', inputSize: 4, outputSize: 3, parameters: 67, batchSize: 4, credits: 8 });
    const dup = await c.request(createMessage('a'));
    expect(dup).toMatchObject({ type: 'error', code: 'E_SESSION_EXISTS', ref: dup['ref'] });
    const list = await c.ok({ type: 'list' });
    expect(list['sessions']).toEqual([expect.objectContaining({ session: 'a', step: 0, paused: false, subscribers: 0, queueDepth: 0 })]);
  });

  it('trains streamed samples to the same weights as in-process training, bit for bit, acking each with credits and the consuming step', async () => {
    const server = await start({ trainingThreads });
    const p = await connect(server);
    await p.ok(createMessage('s'));
    await produce(p, 's', 30, 8); // 60 steps of 4 rows
    await p.waitFor((m) => m['type'] === 'consumed' && m['seq'] === 29);
    const acks = p.of('ack', 's');
    expect(acks.map((m) => m['seq'])).toEqual([...Array(30).keys()]);
    for (const a of acks) expect(a['credits']).toBeGreaterThan(0);
    expect(p.of('consumed', 's').map((m) => [m['seq'], m['step']])).toEqual([...Array(30).keys()].map((k) => [k, 2 * k + 2]));
    const snap = await p.ok({ type: 'snapshot', session: 's' });
    expect(snap).toMatchObject({ step: 60, samples: 240, loss: 'crossEntropy', batchSize: 4, optimizer: { kind: 'sgd', lr: 0.1 } });
    const local = trainLocally(30, 8);
    snap['model']['layers'].forEach((l: Msg, i: number) => {
      expectSameBits(Float32Array.from(numbers(l['w'])), local.layers[i]!.w as Float32Array, `layers[${i}].w`);
      expectSameBits(Float32Array.from(numbers(l['b'])), local.layers[i]!.b as Float32Array, `layers[${i}].b`);
    });
  });

  it('delivers every step event in order to a subscriber, and weights as the latest snapshot', async () => {
    const server = await start({ trainingThreads });
    const p = await connect(server);
    const s = await connect(server);
    await p.ok(createMessage('s', { events: { weightsEvery: 10 } }));
    const sub = await s.ok({ type: 'subscribe', session: 's', topics: ['step', 'weights', 'lifecycle'] });
    expect(sub).toMatchObject({ type: 'subscribed', session: 's', topics: ['step', 'weights', 'lifecycle'], step: 0, replayed: 0, complete: true });
    await produce(p, 's', 20, 4);
    await stepReached(s, 's', 20);
    expect(stepsOf(s, 's')).toEqual([...Array(20).keys()].map((i) => i + 1));
    const step = s.of('step', 's')[0]!;
    expect(Object.keys(step).sort()).toEqual(['applied', 'batchSize', 'dropped', 'durationMs', 'gradNorms', 'loss', 'lr', 'queueDepth', 'samples', 'session', 'step', 'time', 'type']);
    const weights = s.of('weights', 's');
    expect(weights.at(-1)!['step']).toBe(20);
    const snap = await p.ok({ type: 'snapshot', session: 's' });
    expect(numbers(weights.at(-1)!['layers'][1]['w'])).toEqual(numbers(snap['model']['layers'][1]['w']));
  });

  it('answers predict with the step it used and the output of the current weights', async () => {
    const server = await start({ trainingThreads });
    const c = await connect(server);
    await c.ok(createMessage('s'));
    await produce(c, 's', 3, 4);
    await c.waitFor((m) => m['type'] === 'consumed' && m['seq'] === 2);
    const local = trainLocally(3, 4);
    const x = [[0.1, -0.2, 0.3, 0.4], [1, 0, -1, 0]];
    const p = await c.ok({ type: 'predict', session: 's', x });
    expect(p).toMatchObject({ type: 'prediction', session: 's', step: 3, output: { dtype: 'float32', shape: [2, 3] } });
    const t = createTrainer({ model: local, loss: 'crossEntropy', optimizer: sgd({ lr: 0.1 }) });
    expect(numbers(p['output'])).toEqual(Array.from(t.predict({ dtype: 'float32', shape: [2, 4], data: Float32Array.from(x.flat()) }).output.data));
  });

  it('resumes a snapshot in a new session: same weights, optimizer state and step', async () => {
    const server = await start({ trainingThreads });
    const c = await connect(server);
    await c.ok(createMessage('a', { optimizer: { kind: 'adam', lr: 0.01 } }));
    await produce(c, 'a', 5, 4);
    await c.waitFor((m) => m['type'] === 'consumed' && m['seq'] === 4);
    const snap = await c.ok({ type: 'snapshot', session: 'a' });
    expect(snap['optimizerState']).toMatchObject({ kind: 'adam', t: 5 });
    const { model, optimizer, optimizerState, step, samples: n } = snap;
    const created = await c.ok({ ...createMessage('b'), model, optimizer, optimizerState, startStep: step, startSamples: n });
    expect(created).toMatchObject({ step: 5, samples: 20 });
    // the same next chunk to both: the same weights after it
    c.send(samples('a', 5, 4));
    c.send(samples('b', 5, 4));
    await c.waitFor((m) => m['type'] === 'consumed' && m['session'] === 'b');
    await c.waitFor((m) => m['type'] === 'consumed' && m['session'] === 'a' && m['seq'] === 5);
    const [sa, sb] = [await c.ok({ type: 'snapshot', session: 'a' }), await c.ok({ type: 'snapshot', session: 'b' })];
    expect(sb['step']).toBe(6);
    expect(numbers(sb['model']['layers'][0]['w'])).toEqual(numbers(sa['model']['layers'][0]['w']));
  });

  it('applies controls: pause holds training and credits, step trains one batch, set and atStep take effect', async () => {
    const server = await start({ trainingThreads });
    const c = await connect(server);
    await c.ok(createMessage('s', { credits: 2, queueCapacity: 1 }));
    await c.ok({ type: 'subscribe', session: 's', topics: ['step', 'control', 'lifecycle'] });
    const paused = await c.ok({ type: 'control', session: 's', control: { action: 'pause' } });
    expect(paused).toMatchObject({ type: 'controlled', action: 'pause', step: 0, atStep: null });
    c.send(samples('s', 0, 4));
    await c.waitFor((m) => m['type'] === 'ack' && m['seq'] === 0);
    for (let seq = 1; seq < 4; seq++) c.send(samples('s', seq, 4));
    await c.waitFor((m) => m['type'] === 'error' && m['code'] === 'E_NO_CREDIT' && m['ref'] === 3);
    expect(c.of('ack', 's').map((m) => m['seq'])).toEqual([0]); // room for one batch; seq 1 and 2 wait, holding both credits
    await c.ok({ type: 'control', session: 's', control: { action: 'step' } });
    await stepReached(c, 's', 1);
    await c.waitFor((m) => m['type'] === 'ack' && m['seq'] === 1);
    expect(c.of('step', 's')).toHaveLength(1);
    await c.ok({ type: 'control', session: 's', control: { action: 'set', lr: 0.5 }, atStep: 2 });
    await c.ok({ type: 'control', session: 's', control: { action: 'resume' } });
    await stepReached(c, 's', 3);
    expect(c.of('step', 's').map((m) => m['lr'])).toEqual([0.1, 0.1, 0.5]);
    const controls = c.of('control', 's').map((m) => m['control']['action']);
    expect(controls).toEqual(['pause', 'step', 'resume', 'set']);
    expect(c.of('lifecycle', 's').map((m) => m['state'])).toEqual(['paused', 'resumed']);
  });

  it('speaks JSON in text frames end to end, tensors as numbers', async () => {
    const server = await start({ trainingThreads });
    const c = await connect(server, { query: '?format=json' });
    const welcome = await c.waitFor((m) => m['type'] === 'welcome');
    expect(welcome['protocol']).toBe(1);
    expect(c.ws.binaryType).toBe('nodebuffer');
    await c.ok(createMessage('j', { events: { weightsEvery: 1 } }), 'json');
    await c.ok({ type: 'subscribe', session: 'j', topics: ['step', 'weights'] }, 'json');
    c.send({ type: 'samples', session: 'j', seq: 0, x: [[0, 1, 0, 1], [1, 0, 1, 0], [0, 0, 1, 1], [1, 1, 0, 0]], y: [0, 1, 2, 0] }, 'json');
    const ack = await c.waitFor((m) => m['type'] === 'ack');
    expect(ack).toEqual({ type: 'ack', session: 'j', seq: 0, rows: 4, credits: 8 });
    const w = await c.waitFor((m) => m['type'] === 'weights');
    expect(w['layers'][0]['w']).toMatchObject({ dtype: 'float32', shape: [4, 8] });
    expect(w['layers'][0]['w']['data']).toHaveLength(32);
    const p = await c.ok({ type: 'predict', session: 'j', x: { dtype: 'float32', shape: [1, 4], data: [0, 1, 0, 1] } }, 'json');
    expect(p['output']['data']).toHaveLength(3);
    c.send({ type: 'samples', session: 'j', seq: 1, x: [[0, 1, 0]], y: [0] }, 'json');
    const bad = await c.waitFor((m) => m['type'] === 'error' && m['ref'] === 1); // samples errors echo the seq
    expect(bad).toMatchObject({ code: 'E_SHAPE', session: 'j', message: 'Expected x of shape [m ≥ 1, 4], got [1, 3]' });
  });

  it('replays missed lossless events with fromStep after a reconnect', async () => {
    const server = await start({ trainingThreads });
    const p = await connect(server);
    await p.ok(createMessage('s'));
    const s1 = await connect(server);
    await s1.ok({ type: 'subscribe', session: 's', topics: ['step'] });
    await produce(p, 's', 3, 4);
    await stepReached(s1, 's', 3);
    s1.terminate();
    await produce(p, 's', 4, 4, { firstSeq: 3 });
    await p.waitFor((m) => m['type'] === 'consumed' && m['seq'] === 6);
    const s2 = await connect(server);
    const sub = await s2.ok({ type: 'subscribe', session: 's', topics: ['step', 'lifecycle'], fromStep: 4 });
    expect(sub).toMatchObject({ replayed: 4, complete: true, step: 7 });
    await stepReached(s2, 's', 7);
    expect(stepsOf(s2, 's')).toEqual([4, 5, 6, 7]);
    const all = await connect(server);
    const everything = await all.ok({ type: 'subscribe', session: 's', fromStep: 0 });
    expect(everything['replayed']).toBeGreaterThan(7);
    await all.waitFor((m) => m['type'] === 'lifecycle' && m['state'] === 'started' && m['step'] === 0);
  });

  it('rate-limits a topic per subscriber and conflates the latest-wins ones', async () => {
    const server = await start({ trainingThreads });
    const p = await connect(server);
    await p.ok(createMessage('s', { events: { weightsEvery: 1 } }));
    const slow = await connect(server);
    const fast = await connect(server);
    await slow.ok({ type: 'subscribe', session: 's', topics: ['step', 'weights'], rates: { step: 2, weights: 2 } });
    await fast.ok({ type: 'subscribe', session: 's', topics: ['step'] });
    await produce(p, 's', 50, 8); // 100 steps in well under a second
    await stepReached(fast, 's', 100);
    await slow.waitFor((m) => m['type'] === 'weights' && m['step'] === 100, { timeoutMs: 3000 });
    expect(slow.of('step', 's').length).toBeLessThan(5);
    expect(slow.of('weights', 's').length).toBeLessThan(5);
    const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    expect(Number(/livegrad_events_dropped_total\{reason="rate"\} (\d+)/.exec(metrics)![1])).toBeGreaterThan(90);
    expect(Number(/livegrad_events_dropped_total\{reason="conflated"\} (\d+)/.exec(metrics)![1])).toBeGreaterThan(90);
  });

  it('sends a session\'s last event last: the newest weights held back by a rate go out before lifecycle completed', async () => {
    const server = await start({ trainingThreads });
    const p = await connect(server);
    await p.ok(createMessage('s', { events: { weightsEvery: 1, gradientsEvery: 1 } }));
    const slow = await connect(server);
    await slow.ok({ type: 'subscribe', session: 's', topics: ['weights', 'gradients', 'lifecycle'], rates: { weights: 0.5, gradients: 0.5 } });
    await produce(p, 's', 20, 8); // 40 steps, far faster than one weights event every 2 s
    await p.ok({ type: 'close', session: 's', drain: true });
    const last = await slow.waitFor((m) => m['type'] === 'lifecycle' && m['state'] === 'completed');
    const events = slow.messages.filter((m) => m['session'] === 's');
    expect(events.at(-1)).toBe(last);
    // the step's weights and gradients, the newest, came before it: none is left to follow
    expect(events.filter((m) => m['type'] === 'weights').at(-1)).toMatchObject({ step: 40 });
    expect(events.filter((m) => m['type'] === 'gradients').at(-1)).toMatchObject({ step: 40 });
    await new Promise((r) => setTimeout(r, 2100)); // past the rate's interval: nothing more comes
    expect(slow.messages.filter((m) => m['session'] === 's').at(-1)).toBe(last);
  });

  it('closes with drain: the partial batch trains, subscribers see completed, the name is free again', async () => {
    const server = await start({ trainingThreads });
    const c = await connect(server);
    await c.ok(createMessage('s'));
    await c.ok({ type: 'subscribe', session: 's', topics: ['step', 'lifecycle'] });
    await produce(c, 's', 2, 3); // 6 rows: one batch of 4, 2 rows held back
    await stepReached(c, 's', 1);
    expect(c.of('consumed', 's').map((m) => m['seq'])).toEqual([0]);
    const closed = await c.ok({ type: 'close', session: 's', drain: true });
    expect(closed).toMatchObject({ type: 'closed', session: 's', step: 2, samples: 6 });
    expect(c.of('consumed', 's').map((m) => [m['seq'], m['step']])).toEqual([[0, 1], [1, 2]]);
    expect(c.of('lifecycle', 's').map((m) => m['state'])).toEqual(['completed']);
    expect((await c.ok({ type: 'list' }))['sessions']).toEqual([]);
    expect((await c.request({ type: 'snapshot', session: 's' }))['code']).toBe('E_UNKNOWN_SESSION');
    await c.ok(createMessage('s'));
    c.send(samples('s', 0, 4)); // sequence numbers start over with the new session
    await c.waitFor((m) => m['type'] === 'ack' && m['session'] === 's' && m['seq'] === 0 && c.of('ack', 's').length === 3);
  });

  it('closes a paused session with drain: it resumes, takes the messages waiting for room (ack) and trains them all', async () => {
    const c = await connect(await start({ trainingThreads }));
    await pauseWithThreeWaiting(c);
    expect(c.of('ack', 's').map((m) => m['seq'])).toEqual([0]);
    const closed = await c.ok({ type: 'close', session: 's', drain: true });
    expect(closed).toMatchObject({ type: 'closed', session: 's', step: 4, samples: 16 });
    expect(c.of('ack', 's').map((m) => m['seq'])).toEqual([0, 1, 2, 3]);
    expect(c.of('consumed', 's').map((m) => [m['seq'], m['step']])).toEqual([[0, 1], [1, 2], [2, 3], [3, 4]]);
    expect(c.of('error', 's')).toEqual([]);
  });

  it('stops a drain that cannot finish when closed again without drain', async () => {
    const server = await start({ trainingThreads });
    const c = await connect(server);
    // a linear regression at this learning rate overflows float32 at once; the guard pauses on every such step
    const model = { inputSize: 4, layers: [{ units: 3, activation: 'linear' }], seed: 1 };
    await c.ok(createMessage('s', { model, loss: 'sse', optimizer: { kind: 'sgd', lr: 1e30 }, onNonFinite: 'pause', credits: 8 }));
    await c.ok({ type: 'subscribe', session: 's', topics: ['lifecycle'] });
    const x = f32([4, 4], [1, 2, 3, 4, 4, 3, 2, 1, 1, 0, 1, 0, 0, 1, 0, 1]);
    const y = f32([4, 3], [1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1]);
    for (let seq = 0; seq < 6; seq++) c.send({ type: 'samples', session: 's', seq, x, y });
    await c.waitFor((m) => m['type'] === 'lifecycle' && m['state'] === 'paused');
    // the drain resumes it, and the guard pauses it again at the next step: it cannot finish
    c.send({ type: 'close', id: 'drain', session: 's', drain: true });
    await c.waitFor(() => c.of('lifecycle', 's').filter((m) => m['state'] === 'paused').length === 2);
    expect(c.of('closed')).toEqual([]);
    // a close without drain stops it at the batch boundary: both closes are answered
    const stop = await c.ok({ type: 'close', session: 's' });
    expect(stop).toMatchObject({ type: 'closed', session: 's' });
    await c.waitFor(() => c.of('closed').length === 2);
    expect(c.of('closed').map((m) => m['ref'])).toContain('drain');
    expect(c.of('lifecycle', 's').at(-1)).toMatchObject({ state: 'completed' });
    expect((await c.ok({ type: 'list' }))['sessions']).toEqual([]);
  });

  it('closes without drain: messages waiting for room are refused with E_SESSION_CLOSED', async () => {
    const c = await connect(await start({ trainingThreads }));
    await pauseWithThreeWaiting(c);
    const closed = await c.ok({ type: 'close', session: 's' });
    expect(closed).toMatchObject({ type: 'closed', session: 's', step: 0, samples: 0 });
    await c.waitFor(() => c.of('error', 's').length === 3);
    expect(c.of('error', 's').map((m) => [m['code'], m['ref']])).toEqual([
      ['E_SESSION_CLOSED', 1],
      ['E_SESSION_CLOSED', 2],
      ['E_SESSION_CLOSED', 3],
    ]);
    expect(c.of('ack', 's').map((m) => m['seq'])).toEqual([0]);
    expect(c.of('consumed', 's')).toEqual([]);
  });

  it.each([false, true])('refuses messages waiting in a session when the server stops with E_SHUTTING_DOWN, saying whether it comes back (recorded: %s)', async (recorded) => {
    const dir = recorded ? mkdtempSync(join(tmpdir(), 'livegrad-shutdown-')) : undefined;
    try {
      const server = await start({ trainingThreads, ...(dir ? { record: dir } : {}) });
      const c = await connect(server);
      await pauseWithThreeWaiting(c);
      await server.close();
      expect((await c.closed).code).toBe(1001);
      const refused = c.of('error', 's');
      expect(refused.map((m) => [m['code'], m['ref']])).toEqual([
        ['E_SHUTTING_DOWN', 1],
        ['E_SHUTTING_DOWN', 2],
        ['E_SHUTTING_DOWN', 3],
      ]);
      const then = recorded ? 'it is recorded: it comes back when the server restarts on its record directory' : 'it ends with the server';
      expect(refused[0]!['message']).toBe(`Expected a running server, got one shutting down: session "s" stopped (${then}${recorded ? '; a named producer resumes from the last seq list reports' : ''})`);
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs several sessions at once, each with its own model', async () => {
    const server = await start({ trainingThreads });
    const c = await connect(server);
    await c.ok(createMessage('one'));
    await c.ok(createMessage('two', { model: { inputSize: 4, layers: [{ units: 3, activation: 'softmax' }], seed: 2 }, batchSize: 2 }));
    await c.ok({ type: 'subscribe', session: 'one', topics: ['step'] });
    await c.ok({ type: 'subscribe', session: 'two', topics: ['step'] });
    await Promise.all([produce(c, 'one', 10, 4), produce(c, 'two', 10, 4)]);
    await stepReached(c, 'one', 10);
    await stepReached(c, 'two', 20);
    const list = (await c.ok({ type: 'list' }))['sessions'] as Msg[];
    expect(list.map((s) => [s['session'], s['step'], s['parameters']])).toEqual([['one', 10, 67], ['two', 20, 15]]);
  });

  it('trains float64 sessions on float64 tensors and refuses float32 ones', async () => {
    const server = await start({ trainingThreads });
    const c = await connect(server);
    await c.ok(createMessage('d', { model: { ...TINY, dtype: 'float64' } }));
    const x = new Float64Array([0.1, 0.2, 0.3, 0.4]);
    c.send({ type: 'samples', session: 'd', seq: 0, x: { dtype: 'float64', shape: [1, 4], data: new Uint8Array(x.buffer) }, y: [2] });
    await c.waitFor((m) => m['type'] === 'ack' && m['seq'] === 0);
    c.send({ ...samples('d', 1, 4) });
    const err = await c.waitFor((m) => m['type'] === 'error' && m['ref'] === 1);
    expect(err).toMatchObject({ code: 'E_DTYPE', session: 'd', message: 'Expected x.dtype float64 (the session\'s), got float32' });
    const p = await c.ok({ type: 'predict', session: 'd', x: [[0.1, 0.2, 0.3, 0.4]] });
    expect(p['output']['dtype']).toBe('float64');
    expect(numbers(p['output'])).toHaveLength(3);
  });

  it('sends samples as arrays of numbers in MessagePack too', async () => {
    const server = await start({ trainingThreads });
    const c = await connect(server);
    await c.ok(createMessage('s'));
    c.send({ type: 'samples', session: 's', seq: 0, x: { dtype: 'float32', shape: [4, 4], data: [...Array(16).keys()].map((i) => i / 16) }, y: f32([4], [0, 1, 2, 0]) });
    const consumed = await c.waitFor((m) => m['type'] === 'consumed');
    expect(consumed).toEqual({ type: 'consumed', session: 's', seq: 0, step: 1 });
  });
});

describe('frames to a session thread', () => {
  it('takes a large frame to the thread as it is (transferred, not copied) and trains it to the same weights', async () => {
    const server = await start({ trainingThreads: true });
    const p = await connect(server);
    await p.ok(createMessage('s', { credits: 2 }));
    const post = vi.spyOn(Worker.prototype, 'postMessage');
    try {
      // 8192 rows: a 160 KB frame, which arrives in several reads and fills a buffer of its own
      await produce(p, 's', 3, 8192, { credits: 2 });
      await p.waitFor((m) => m['type'] === 'consumed' && m['seq'] === 2, { timeoutMs: 20_000 });
      const offers = post.mock.calls.filter(([m]) => (m as { op?: string }).op === 'offer');
      expect(offers).toHaveLength(3);
      for (const [m, transfer] of offers) {
        const { x, y } = (m as { batch: { x: { data: Float32Array }; y: { data: Float32Array } } }).batch;
        // one buffer moved: the whole frame, header and all, x and y views into it (not copies of their own)
        expect(transfer as ArrayBuffer[]).toHaveLength(1);
        expect(x.data.buffer.byteLength).toBe(0); // detached here: it was transferred
        expect(y.data.buffer).toBe(x.data.buffer);
      }
    } finally {
      post.mockRestore();
    }
    const snap = await p.ok({ type: 'snapshot', session: 's' });
    expect(snap).toMatchObject({ step: (3 * 8192) / 4, samples: 3 * 8192 });
    const local = trainLocally(3, 8192);
    snap['model']['layers'].forEach((l: Msg, i: number) => {
      expectSameBits(Float32Array.from(numbers(l['w'])), local.layers[i]!.w as Float32Array, `layers[${i}].w`);
      expectSameBits(Float32Array.from(numbers(l['b'])), local.layers[i]!.b as Float32Array, `layers[${i}].b`);
    });
  });
});
