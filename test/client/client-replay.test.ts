/**
 * `session.replay()`: a script steers a recording the server plays (`replays` in createServer)
 * through the client — pause, seek, speed, play — and follows it with `events()` exactly as a
 * live session; a live session refuses it with E_NOT_LIVE.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filter, firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tinyConfig, tinyRows, useClients } from '../helpers/client.js';

// (registered before the servers' hooks: vitest runs after-hooks last-registered first, so servers close before their directory goes)
let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'livegrad-client-replay-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));
const { start, connect } = useClients();

/** Records session "r": 40 steps of 4 rows, checkpoints every 8; returns each step's loss as trained live. */
async function record(): Promise<Map<number, number>> {
  const server = await start({ record: root, checkpointEvery: 8 });
  const client = await connect(server.url);
  await client.create(tinyConfig('r', 4));
  const r = client.session('r');
  const losses = new Map<number, number>();
  const steps = r.events(['step']).subscribe((e) => e.type === 'step' && losses.set(e.step, e.loss));
  await lastValueFrom(r.stream(tinyRows(160)));
  await r.close({ drain: true });
  steps.unsubscribe();
  await server.close();
  return losses;
}

describe('session.replay()', () => {
  it('pauses, seeks, sets the speed and plays a recording the server plays; events() follows it as it would a live session', async () => {
    const live = await record();
    expect(live.size).toBe(40);
    const server = await start({ replays: [{ path: join(root, 'r'), paused: true }] });
    const client = await connect(server.url);
    const r = client.session('r');
    expect((await r.info()).replay).toMatchObject({ path: join(root, 'r'), playing: false, ended: false });

    const seeked = await r.replay({ action: 'seek', step: 21 });
    expect(seeked).toEqual({ session: 'r', step: 21, playing: false, speed: 'max', lastStep: 40, ended: false });
    // from the seek on, the recorded steps, with the losses they had live
    const next = firstValueFrom(r.events(['step'], { fromStep: 21 }).pipe(take(20), toArray()));
    expect(await r.replay({ action: 'speed', speed: 200 })).toMatchObject({ playing: false, speed: 200 });
    expect(await r.replay({ action: 'play' })).toMatchObject({ playing: true, speed: 200 });
    const played = await next;
    expect(played.map((e) => e.step)).toEqual([...Array(20).keys()].map((i) => 21 + i));
    for (const e of played) expect(e.type === 'step' && e.loss).toBe(live.get(e.step));
    await firstValueFrom(r.events(['lifecycle'], { fromStep: 40 }).pipe(filter((e) => e.type === 'lifecycle' && e.state === 'completed')));
    expect(await r.replay({ action: 'pause' })).toMatchObject({ playing: false, ended: true, lastStep: 40 });
  });

  it('forks a played recording at a step with a new learning rate into a played session of its own', async () => {
    const live = await record();
    const server = await start({ replays: [{ path: join(root, 'r'), paused: true }] });
    const client = await connect(server.url);
    const forked = await client.session('r').replay({ action: 'fork', step: 20, lr: 0.5, as: 'r-fork' });
    expect(forked).toMatchObject({ session: 'r-fork', step: 20, lastStep: 40 });
    const f = client.session('r-fork');
    expect((await f.info()).replay).toMatchObject({ fork: { from: 'r', step: 20, lr: 0.5 } });
    const after = firstValueFrom(f.events(['step'], { fromStep: 20 }).pipe(take(21), toArray()));
    await f.replay({ action: 'play' });
    const steps = await after;
    expect(steps.map((e) => e.step)).toEqual([...Array(21).keys()].map((i) => 20 + i));
    // the same up to the fork, another learning rate after it
    expect(steps[0]!.type === 'step' && steps[0]!.loss).toBe(live.get(20));
    expect(steps.slice(1).every((e) => e.type === 'step' && e.lr === 0.5)).toBe(true);
    expect(steps.slice(1).some((e) => e.type === 'step' && e.loss !== live.get(e.step))).toBe(true);
  });

  it('is E_NOT_LIVE for a live session, E_BAD_FIELD for a step the recording does not hold, a TypeError for no command; stream() into it is E_NOT_LIVE at once', async () => {
    await record();
    const server = await start({ replays: [{ path: join(root, 'r'), paused: true }] });
    const client = await connect(server.url);
    await client.create(tinyConfig('live'));
    await expect(client.session('live').replay({ action: 'play' })).rejects.toMatchObject({ code: 'E_NOT_LIVE' });
    await expect(client.session('r').replay({ action: 'seek', step: 41 })).rejects.toMatchObject({ code: 'E_BAD_FIELD' });
    // a played recording takes no rows
    await expect(lastValueFrom(client.session('r').stream(tinyRows(4)))).rejects.toMatchObject({ code: 'E_NOT_LIVE', message: expect.stringContaining('a played recording') });
    await expect(client.session('r').replay(undefined as never)).rejects.toThrow(TypeError);
  });
});
