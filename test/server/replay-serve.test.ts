/**
 * A recording played as a session (`replays` in createServer, `livegrad replay --serve`): a
 * subscriber receives exactly the events a live subscriber received; `replay` plays, pauses,
 * seeks and sets the speed; what only a live session does is E_NOT_LIVE.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { useCli } from '../helpers/cli.js';
import { createMessage, samples, useServers } from '../helpers/server.js';
import { TestClient, type Msg } from '../helpers/ws-client.js';

// (registered before the servers' hooks: vitest runs after-hooks last-registered first, so servers close before their directory goes)
let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'livegrad-replay-serve-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));
const { start, connect } = useServers();
const cli = useCli();
// the lossless topics: weights and gradients conflate to the newest, as the socket allows
const TOPICS = ['step', 'metrics', 'control', 'lifecycle'];

/** An event as a subscriber saw it, without what describes the run's timing (time; a step's durationMs and queueDepth). */
function timeless(e: Msg): Msg {
  const { time: _t, durationMs: _d, queueDepth: _q, ...rest } = e;
  return rest;
}

/** Records session "s" over the wire (pipelined controls in the middle) and returns what a live subscriber received. */
async function recordSession(): Promise<Msg[]> {
  const server = await start({ record: root, checkpointEvery: 4 });
  const c = await connect(server);
  await c.ok(createMessage('s', { credits: 64, events: { metricsEvery: 3, weightsEvery: 5 } }));
  await c.ok({ type: 'subscribe', session: 's', topics: TOPICS });
  for (let k = 0; k < 8; k++) c.send(samples('s', k, 6));
  c.send({ type: 'control', id: 'lr', session: 's', control: { action: 'set', lr: 0.03 } });
  c.send({ type: 'control', id: 'p', session: 's', control: { action: 'pause' } });
  for (let k = 8; k < 14; k++) c.send(samples('s', k, 6));
  c.send({ type: 'control', id: 'r', session: 's', control: { action: 'resume' } });
  c.send({ type: 'control', id: 'z', session: 's', control: { action: 'reset' } });
  for (let k = 14; k < 20; k++) c.send(samples('s', k, 6));
  await c.ok({ type: 'close', id: 'c', session: 's', drain: true });
  await server.close();
  return c.messages.filter((m) => m['session'] === 's' && TOPICS.includes(m['type'] as string));
}

describe('a recording played as a session', () => {
  it('is received by a subscriber exactly as the live events were, at speed max', async () => {
    const live = await recordSession();
    const server = await start({ replays: [{ path: join(root, 's'), paused: true }] });
    const c = await connect(server);
    const info = ((await c.ok({ type: 'list' }))['sessions'] as Msg[])[0]!;
    expect(info).toMatchObject({ session: 's', paused: true, replay: { path: join(root, 's'), playing: false, speed: 'max', ended: false } });
    // (fromStep: 0 takes `started` from the ring: the replay began, paused, before this subscriber came)
    await c.ok({ type: 'subscribe', session: 's', topics: TOPICS, fromStep: 0 });
    expect(await c.ok({ type: 'replay', id: 'go', session: 's', action: 'play' })).toMatchObject({ type: 'replaying', playing: true, speed: 'max' });
    await c.waitFor((m) => m['type'] === 'lifecycle' && m['state'] === 'completed', { timeoutMs: 20_000 });
    const played = c.messages.filter((m) => m['session'] === 's' && TOPICS.includes(m['type'] as string));
    // the live subscriber came after `started` (it is emitted before `created`)
    const notStarted = (m: Msg) => !(m['type'] === 'lifecycle' && m['state'] === 'started');
    expect(played.filter(notStarted).map(timeless)).toEqual(live.filter(notStarted).map(timeless));
    expect(played[0]).toMatchObject({ type: 'lifecycle', state: 'started', step: 0 });
  });

  it('pauses, seeks to a step (its events from that step on, as recorded), plays at a set speed; live-only messages are E_NOT_LIVE', async () => {
    const live = await recordSession();
    const server = await start({ replays: [{ path: join(root, 's'), speed: 50 }] });
    const c = await connect(server);
    await c.ok({ type: 'subscribe', session: 's', topics: ['step'] });
    await c.waitFor((m) => m['type'] === 'step' && m['step'] >= 3);
    await c.ok({ type: 'replay', id: 'p', session: 's', action: 'pause' });
    // a step already on its way may still come; then none
    await new Promise((r) => setTimeout(r, 100));
    const paused = c.of('step', 's').length;
    await new Promise((r) => setTimeout(r, 200));
    expect(c.of('step', 's').length).toBe(paused);
    const from = c.messages.length;
    const seek = await c.ok({ type: 'replay', id: 'seek', session: 's', action: 'seek', step: 11 });
    expect(seek).toMatchObject({ step: 11, playing: false });
    await c.ok({ type: 'replay', id: 'fast', session: 's', action: 'speed', speed: 'max' });
    await c.ok({ type: 'replay', id: 'go', session: 's', action: 'play' });
    const at11 = await c.waitFor((m) => m['type'] === 'step', { from });
    expect(timeless(at11)).toEqual(timeless(live.find((m) => m['type'] === 'step' && m['step'] === 11)!));
    await c.waitFor((m) => m['type'] === 'step' && m['step'] === 30, { from, timeoutMs: 20_000 });
    const after = c.messages.slice(from).filter((m) => m['type'] === 'step');
    expect(after.map((m) => m['step'])).toEqual(Array.from({ length: 20 }, (_, i) => 11 + i));

    expect(await c.request({ type: 'replay', id: 'bad', session: 's', action: 'seek', step: 999 })).toMatchObject({ type: 'error', code: 'E_BAD_FIELD', message: expect.stringContaining('[0, 30]') });
    expect(await c.request({ type: 'control', id: 'x', session: 's', control: { action: 'pause' } })).toMatchObject({ type: 'error', code: 'E_NOT_LIVE' });
    c.send(samples('s', 0, 2));
    expect(await c.waitFor((m) => m['type'] === 'error' && m['ref'] === 0)).toMatchObject({ code: 'E_NOT_LIVE' });
    expect(await c.request(createMessage('s'))).toMatchObject({ type: 'error', code: 'E_SESSION_EXISTS' });
    await c.ok(createMessage('live'));
    expect(await c.request({ type: 'replay', id: 'y', session: 'live', action: 'play' })).toMatchObject({ type: 'error', code: 'E_NOT_LIVE' });
  });

  it('livegrad replay LOG --serve plays it on a server of its own until stopped', async () => {
    await recordSession();
    const served = await cli.replayServe([join(root, 's'), '--serve', '--port', '0', '--speed', 'max', '--paused']);
    const c = await TestClient.connect(`ws://127.0.0.1:${served.port}/ws`);
    try {
      await c.ok({ type: 'subscribe', session: 's', topics: ['step'] });
      await c.ok({ type: 'replay', id: 'go', session: 's', action: 'play' });
      await c.waitFor((m) => m['type'] === 'step' && m['step'] === 30, { timeoutMs: 20_000 });
    } finally {
      c.terminate();
    }
    served.child.kill('SIGTERM');
    expect(await new Promise((r) => served.child.once('exit', r))).toBe(0);
  });
});
