/**
 * Recording in the server (`--record DIR`): a session driven over the wire replays to the same
 * events and weights; a server stopped or killed comes back with every acknowledged row; a log
 * that cannot be written stops its session with E_RECORD_WRITE and nothing else.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTrainer, sgd, type TrainEvent } from '../../src/index.js';
import { openRecording } from '../../src/record/recording.js';
import { replayToEnd } from '../../src/record/replay.js';
import { useCli } from '../helpers/cli.js';
import { chunkBatch, createMessage, samples, TINY, TRAINING_MODES, useServers } from '../helpers/server.js';
import { TestClient, type Msg } from '../helpers/ws-client.js';

// (registered before the servers' hooks: vitest runs after-hooks last-registered first, so servers close before their directory goes)
let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'livegrad-serve-record-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));
const { start, connect } = useServers();
const cli = useCli();

/** The weights of a `snapshot` reply, as bytes. */
function weightBytes(snap: Msg): Buffer[] {
  return (snap['model']['layers'] as Msg[]).flatMap((l) => [Buffer.from(l['w']['data'] as Uint8Array), Buffer.from(l['b']['data'] as Uint8Array)]);
}

function stepFacts(e: Msg | TrainEvent): unknown[] {
  const s = e as Extract<TrainEvent, { type: 'step' }>;
  return [s.step, s.batchSize, s.samples, s.lr, s.loss, [...s.gradNorms], s.applied];
}

/** The weights after training chunks 0 … n-1 of `rows` rows in process (TINY, sgd lr 0.1, batches of 4). */
function uninterrupted(n: number, rows: number): Buffer[] {
  const t = createTrainer({ model: TINY, loss: 'crossEntropy', optimizer: sgd({ lr: 0.1 }), batchSize: 4, sliceMs: Infinity });
  for (let k = 0; k < n; k++) t.push(chunkBatch(k, rows));
  t.end();
  return t.model.layers.flatMap((l) => [Buffer.from(l.w.buffer, l.w.byteOffset, l.w.byteLength), Buffer.from(l.b.buffer, l.b.byteOffset, l.b.byteLength)]);
}

/** Sends named chunks first … last-1 as producer `name`, within `credits`, resolving with the seqs acknowledged. */
async function stream(c: TestClient, name: string, first: number, last: number, rows: number, credits = 8): Promise<number[]> {
  const acked: number[] = [];
  c.listen((m) => {
    if (m['type'] === 'ack' && m['session'] === 's') acked.push(m['seq'] as number);
  });
  for (let k = first; k < last; k++) {
    if (k - first >= credits) await c.waitFor((m) => m['type'] === 'ack' && m['seq'] === k - credits, { timeoutMs: 20_000 });
    c.send({ ...samples('s', k, rows), producer: name });
  }
  await c.waitFor((m) => m['type'] === 'ack' && m['seq'] === last - 1, { timeoutMs: 20_000 });
  return acked;
}

describe.each(TRAINING_MODES)('recording, sessions trained $mode', ({ trainingThreads }) => {
  it('replays a session driven over the wire (pause, step, set lr, reset) to the events a subscriber saw and the same weights', async () => {
    const server = await start({ trainingThreads, record: root, checkpointEvery: 5 });
    const c = await connect(server);
    const created = await c.ok(createMessage('s', { credits: 64 }));
    expect(created['recording']).toBe(true);
    await c.ok({ type: 'subscribe', session: 's', topics: ['step', 'control', 'lifecycle'] });
    for (let k = 0; k < 10; k++) c.send(samples('s', k, 6));
    c.send({ type: 'control', id: 'p', session: 's', control: { action: 'pause' } });
    for (let k = 10; k < 16; k++) c.send(samples('s', k, 6));
    c.send({ type: 'control', id: 'st', session: 's', control: { action: 'step' } });
    c.send({ type: 'control', id: 'lr', session: 's', control: { action: 'set', lr: 0.02 } });
    c.send({ type: 'control', id: 'r', session: 's', control: { action: 'resume' } });
    for (let k = 16; k < 22; k++) c.send(samples('s', k, 6));
    c.send({ type: 'control', id: 'reset', session: 's', control: { action: 'reset' } });
    for (let k = 22; k < 30; k++) c.send(samples('s', k, 6));
    const snap = await c.ok({ type: 'snapshot', id: 'final', session: 's' });
    await c.ok({ type: 'close', id: 'c', session: 's', drain: true });
    const rec = await openRecording(join(root, 's'));
    expect(rec.finished).toBe(true);
    expect(rec.counts.samples).toBe(30);
    const events: TrainEvent[] = [];
    const r = await replayToEnd(rec, { verify: true }, (e) => events.push(e));
    expect(r.verified).toBeGreaterThan(5);
    expect(events.filter((e) => e.type === 'step').map(stepFacts)).toEqual(c.of('step', 's').map(stepFacts));
    expect(events.filter((e) => e.type === 'control').map((e) => [e.step, (e as Msg)['control']])).toEqual(c.of('control', 's').map((e) => [e['step'], e['control']]));
    expect(r.model.layers.flatMap((l) => [Buffer.from(l.w.buffer, l.w.byteOffset, l.w.byteLength), Buffer.from(l.b.buffer, l.b.byteOffset, l.b.byteLength)])).toEqual(weightBytes(snap));
  });

  it('a server stopped and started again on its record directory brings the session back: every acknowledged row, the named producer resumes after its last seq', async () => {
    const a = await start({ trainingThreads, record: root });
    const c1 = await connect(a);
    await c1.ok(createMessage('s', { credits: 8 }));
    await stream(c1, 'p1', 0, 25, 6);
    await a.close();
    const b = await start({ trainingThreads, record: root });
    const c2 = await connect(b);
    const info = ((await c2.ok({ type: 'list' }))['sessions'] as Msg[]).find((s) => s['session'] === 's')!;
    expect(info).toMatchObject({ recording: true, producers: { p1: 24 } });
    // what it holds already is refused by name, with where to resume
    c2.send({ ...samples('s', 24, 6), producer: 'p1' });
    expect(await c2.waitFor((m) => m['type'] === 'error' && m['ref'] === 24)).toMatchObject({ code: 'E_BAD_SEQ', message: expect.stringContaining('resume from 25') });
    await stream(c2, 'p1', 25, 40, 6);
    const snap = await c2.ok({ type: 'snapshot', id: 'final', session: 's' });
    expect(snap['step']).toBe(60);
    expect(weightBytes(snap)).toEqual(uninterrupted(40, 6));
    // the log, continued across the restart, replays and verifies as one run
    await c2.ok({ type: 'close', id: 'c', session: 's', drain: true });
    const rec = await openRecording(join(root, 's'));
    expect(rec.segments.length).toBe(2);
    expect(rec.producers.get('p1')).toBe(39);
    const r = await replayToEnd(rec, { verify: true });
    expect(r.model.layers.flatMap((l) => [Buffer.from(l.w.buffer, l.w.byteOffset, l.w.byteLength), Buffer.from(l.b.buffer, l.b.byteOffset, l.b.byteLength)])).toEqual(weightBytes(snap));
  });

  it('create: record: false opts a session out; record: true on a server that does not record is E_BAD_CONFIG; a finished recording keeps its name taken', async () => {
    const plain = await start({ trainingThreads });
    const c0 = await connect(plain);
    expect(await c0.request(createMessage('x', { record: true }))).toMatchObject({ type: 'error', code: 'E_BAD_CONFIG', message: expect.stringContaining('--record') });
    const server = await start({ trainingThreads, record: root });
    const c = await connect(server);
    expect((await c.ok(createMessage('off', { record: false })))['recording']).toBe(false);
    expect((await c.ok(createMessage('on')))['recording']).toBe(true);
    await c.ok({ type: 'close', id: 'c1', session: 'on', drain: true });
    await c.ok({ type: 'close', id: 'c2', session: 'off', drain: true });
    expect(await c.request(createMessage('on'))).toMatchObject({ type: 'error', code: 'E_SESSION_EXISTS', message: expect.stringContaining(join(root, 'on')) });
    expect((await c.ok(createMessage('off')))['recording']).toBe(true);
  });

  it('a log that cannot be written stops its session with E_RECORD_WRITE naming the path; the server and another session go on', async () => {
    const server = await start({ trainingThreads, record: root, fsync: 'always' });
    const c = await connect(server);
    await c.ok(createMessage('s', { credits: 8 }));
    await c.ok(createMessage('t', { credits: 8 }));
    await stream(c, 'p1', 0, 4, 6);
    rmSync(join(root, 's'), { recursive: true, force: true });
    for (let k = 4; k < 12; k++) c.send({ ...samples('s', k, 6), producer: 'p1' });
    const err = await c.waitFor((m) => m['type'] === 'error' && m['session'] === 's' && m['code'] === 'E_RECORD_WRITE', { timeoutMs: 20_000 });
    expect(err['message']).toContain(join(root, 's'));
    await expect.poll(async () => ((await c.ok({ type: 'list' }))['sessions'] as Msg[]).map((s) => s['session'])).toEqual(['t']);
    for (let k = 0; k < 6; k++) c.send(samples('t', k, 4));
    await c.waitFor((m) => m['type'] === 'ack' && m['session'] === 't' && m['seq'] === 5);
  });
});

describe('recording, a server killed with SIGKILL', () => {
  for (const fsync of ['always', 'batch'] as const) {
    it(`--fsync ${fsync}: restarted on the same directory, it holds every batch the producer saw acknowledged, and the resumed run equals an uninterrupted one`, async () => {
      const first = await cli.serve(['--record', root, '--fsync', fsync]);
      const c1 = await TestClient.connect(`ws://127.0.0.1:${first.port}/ws`);
      await c1.ok(createMessage('s', { credits: 8 }));
      const acked: number[] = [];
      c1.listen((m) => {
        if (m['type'] === 'ack') acked.push(m['seq'] as number);
      });
      // stream until some are acknowledged, then kill the server in the middle of the stream
      let k = 0;
      for (; k < 200; k++) {
        if (k >= 8) await c1.waitFor((m) => m['type'] === 'ack' && m['seq'] === k - 8, { timeoutMs: 20_000 });
        c1.send({ ...samples('s', k, 6), producer: 'p1' });
        if (acked.length >= 30) break;
      }
      first.child.kill('SIGKILL');
      await new Promise((r) => first.child.once('exit', r));
      c1.terminate();
      const lastAcked = Math.max(...acked);

      const second = await cli.serve(['--record', root, '--fsync', fsync]);
      const c2 = await TestClient.connect(`ws://127.0.0.1:${second.port}/ws`);
      try {
        const info = ((await c2.ok({ type: 'list' }))['sessions'] as Msg[]).find((s) => s['session'] === 's')!;
        const held = (info['producers'] as Record<string, number>)['p1']!;
        expect(held).toBeGreaterThanOrEqual(lastAcked);
        await stream(c2, 'p1', held + 1, 60, 6);
        const snap = await c2.ok({ type: 'snapshot', id: 'final', session: 's' });
        expect(snap['step']).toBe(90);
        expect(weightBytes(snap)).toEqual(uninterrupted(60, 6));
      } finally {
        c2.terminate();
      }
    });
  }
});
