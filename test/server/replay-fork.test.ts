/**
 * `replay` `fork`: a played recording forked at a step with another learning rate plays as a new
 * session — listed, subscribed to like any other, its events those of `replayToEnd` with the same
 * fork (`livegrad replay LOG --at N --lr X`), from the fork step on; the original plays on as it was.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openRecording, replayToEnd, type TrainEvent } from '../../src/index.js';
import { createMessage, samples, useServers } from '../helpers/server.js';
import type { Msg } from '../helpers/ws-client.js';

// (registered before the servers' hooks: vitest runs after-hooks last-registered first, so servers close before their directory goes)
let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'livegrad-replay-fork-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));
const { start, connect } = useServers();

async function record(): Promise<void> {
  const server = await start({ record: root, checkpointEvery: 4 });
  const c = await connect(server);
  await c.ok(createMessage('s', { credits: 64, events: { metricsEvery: 3 } }));
  for (let k = 0; k < 20; k++) c.send(samples('s', k, 6));
  await c.ok({ type: 'close', id: 'c', session: 's', drain: true });
  await server.close();
}

/** A step event as a subscriber compares it: without what describes the run's timing. */
function timeless(e: Msg | TrainEvent): Msg {
  const { time: _t, durationMs: _d, queueDepth: _q, session: _s, ...rest } = e as Msg;
  return rest;
}

describe('replay fork', () => {
  it('plays the log forked at a step with a new learning rate as a new session, the events of replayToEnd’s fork', async () => {
    await record();
    const recording = await openRecording(join(root, 's'));
    const expected: TrainEvent[] = [];
    await replayToEnd(recording, { at: 9, change: { lr: 0.5 } }, (e) => e.type === 'step' && e.step >= 9 && expected.push(e));
    const original: TrainEvent[] = [];
    await replayToEnd(recording, {}, (e) => e.type === 'step' && original.push(e));

    const server = await start({ replays: [{ path: join(root, 's'), paused: true }] });
    const c = await connect(server);
    const reply = await c.ok({ type: 'replay', id: 'f', session: 's', action: 'fork', step: 9, lr: 0.5, as: 's-lr0.5' });
    expect(reply).toMatchObject({ type: 'replaying', session: 's-lr0.5', step: 9, playing: true, speed: 'max' });
    const sessions = (await c.ok({ type: 'list' }))['sessions'] as Msg[];
    expect(sessions.map((s) => s['session']).sort()).toEqual(['s', 's-lr0.5']);
    expect(sessions.find((s) => s['session'] === 's-lr0.5')).toMatchObject({ replay: { path: join(root, 's'), fork: { from: 's', step: 9, lr: 0.5 } } });
    await c.ok({ type: 'subscribe', session: 's-lr0.5', topics: ['step', 'lifecycle'], fromStep: 0 });
    await c.waitFor((m) => m['session'] === 's-lr0.5' && m['type'] === 'lifecycle' && m['state'] === 'completed', { timeoutMs: 20_000 });
    const steps = c.messages.filter((m) => m['session'] === 's-lr0.5' && m['type'] === 'step');
    expect(steps.map(timeless)).toEqual(expected.map(timeless));
    expect(steps[0]).toMatchObject({ step: 9 });
    // the fork is another run: from step 10 on its losses are not the recorded ones
    const recordedAt = (n: number): number => (original.find((e) => e.step === n) as { loss: number }).loss;
    expect(steps.find((e) => e['step'] === 15)!['loss']).not.toBe(recordedAt(15));
    // the original still plays from its start, paused as it was
    expect(sessions.find((s) => s['session'] === 's')).toMatchObject({ replay: { playing: false } });
  });

  it('refuses a taken name, a step the log does not hold, a bad lr, and a live session', async () => {
    await record();
    const server = await start({ replays: [{ path: join(root, 's'), paused: true }] });
    const c = await connect(server);
    expect(await c.request({ type: 'replay', id: 1, session: 's', action: 'fork', step: 9, lr: 0.5, as: 's' })).toMatchObject({ code: 'E_SESSION_EXISTS' });
    expect(await c.request({ type: 'replay', id: 2, session: 's', action: 'fork', step: 10_000, lr: 0.5, as: 'f' })).toMatchObject({ code: 'E_BAD_FIELD' });
    expect(await c.request({ type: 'replay', id: 3, session: 's', action: 'fork', step: 9, lr: -1, as: 'f' })).toMatchObject({ code: 'E_BAD_FIELD' });
    expect(await c.request({ type: 'replay', id: 4, session: 's', action: 'fork', step: 9, lr: 0.1 })).toMatchObject({ code: 'E_BAD_FIELD' });
    await c.ok(createMessage('live'));
    expect(await c.request({ type: 'replay', id: 5, session: 'live', action: 'fork', step: 0, lr: 0.1, as: 'f' })).toMatchObject({ code: 'E_NOT_LIVE' });
    // a fork of a fork seeks only from its own fork step on
    await c.ok({ type: 'replay', id: 6, session: 's', action: 'fork', step: 9, lr: 0.5, as: 'f' });
    expect(await c.request({ type: 'replay', id: 7, session: 'f', action: 'seek', step: 3 })).toMatchObject({ code: 'E_BAD_FIELD' });
    expect(await c.ok({ type: 'replay', id: 8, session: 'f', action: 'seek', step: 12 })).toMatchObject({ session: 'f', step: 12 });
  });
});
