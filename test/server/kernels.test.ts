/**
 * The kernels of a server's sessions: `create` chooses them (`kernels`, checked like its
 * neighbours), the session trains with them on its thread or inline, and `created`, `list` and
 * `snapshot` say which; each session's wasm kernels use `kernelThreads` threads (default 1), which
 * a recorded session's log states with its kernels; a recovered session and a played recording
 * train with the kernels their log states.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServer, createTrainer, mlpShape, resolveKernels, sgd, type KernelChoice } from '../../src/index.js';
import { parseServe } from '../../src/cli.js';
import { openRecording } from '../../src/record/recording.js';
import { chunkBatch, createMessage, produce, TINY, TRAINING_MODES, useServers } from '../helpers/server.js';
import type { Msg } from '../helpers/ws-client.js';

// (registered before the servers' hooks: vitest runs after-hooks last-registered first, so servers close before their directory goes)
let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'livegrad-serve-kernels-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));
const { start, connect } = useServers();

const wasm = resolveKernels(mlpShape(TINY), 'auto') === 'wasm';

/** The weights of a `snapshot` reply, as bytes. */
function weightBytes(snap: Msg): Buffer[] {
  return (snap['model']['layers'] as Msg[]).flatMap((l) => [Buffer.from(l['w']['data'] as Uint8Array), Buffer.from(l['b']['data'] as Uint8Array)]);
}

/** The weights after training chunks 0 … n-1 of `rows` rows in process with `kernels` (TINY, sgd lr 0.1, batches of 4). */
function inProcess(n: number, rows: number, kernels: KernelChoice): Buffer[] {
  const t = createTrainer({ model: TINY, loss: 'crossEntropy', optimizer: sgd({ lr: 0.1 }), batchSize: 4, sliceMs: Infinity, kernels });
  for (let k = 0; k < n; k++) t.push(chunkBatch(k, rows));
  t.end();
  return t.model.layers.flatMap((l) => [Buffer.from(l.w.buffer, l.w.byteOffset, l.w.byteLength), Buffer.from(l.b.buffer, l.b.byteOffset, l.b.byteLength)]);
}

describe('create: kernels', () => {
  it.each([
    ['"bogus"', 'bogus', 'Expected kernels to be one of auto, wasm, js, got "bogus"'],
    ['a number', 1, 'Expected kernels to be one of auto, wasm, js, got 1'],
  ])('refuses kernels %s with E_BAD_FIELD naming the field', async (_what, kernels, says) => {
    const c = await connect(await start());
    expect(await c.request(createMessage('s', { kernels }))).toMatchObject({ type: 'error', code: 'E_BAD_FIELD', message: says });
  });

  it('refuses the wasm kernels for a float64 model with E_BAD_CONFIG', async () => {
    const c = await connect(await start());
    expect(await c.request(createMessage('s', { kernels: 'wasm', model: { ...TINY, dtype: 'float64' } }))).toMatchObject({
      type: 'error',
      code: 'E_BAD_CONFIG',
      message: 'Expected a float32 model for the wasm kernels (they compute in float32), got a float64 model: use kernels "js"',
    });
  });
});

describe.each(TRAINING_MODES)('sessions trained $mode', ({ trainingThreads }) => {
  it('train with the kernels create asked for; created, list and snapshot say which, on one thread by default', async () => {
    const server = await start({ trainingThreads });
    const c = await connect(server);
    const kinds: readonly (KernelChoice | 'auto')[] = wasm ? ['js', 'wasm', 'auto'] : ['js', 'auto'];
    for (const kernels of kinds) {
      const resolved = kernels === 'auto' ? resolveKernels(mlpShape(TINY)) : kernels;
      const name = `s-${kernels}`;
      expect(await c.ok(createMessage(name, { kernels }))).toMatchObject({ type: 'created', kernels: resolved, threads: 1 });
      await produce(c, name, 6, 8);
      const snap = await c.ok({ type: 'snapshot', session: name });
      expect(snap['kernels']).toBe(resolved);
      expect(weightBytes(snap)).toEqual(inProcess(6, 8, resolved));
    }
    const list = (await c.ok({ type: 'list' }))['sessions'] as Msg[];
    expect(list.map((s) => [s['session'], s['kernels'], s['threads']])).toEqual(kinds.map((k) => [`s-${k}`, k === 'auto' ? resolveKernels(mlpShape(TINY)) : k, 1]));
    if (wasm) expect(inProcess(6, 8, 'wasm')).not.toEqual(inProcess(6, 8, 'js')); // (the two kernels are told apart above)
  }, 30_000);
});

describe('kernelThreads', () => {
  it('is 1 or 2 (createServer and livegrad serve --kernel-threads)', async () => {
    await expect(createServer({ port: 0, kernelThreads: 3 })).rejects.toThrow(new RangeError('Expected kernelThreads to be 1 or 2, got 3'));
    await expect(createServer({ port: 0, kernelThreads: '2' as unknown as number })).rejects.toThrow(new RangeError('Expected kernelThreads to be 1 or 2, got "2"'));
    expect(parseServe(['--kernel-threads', '2'], {}).options.kernelThreads).toBe(2);
    expect(() => parseServe(['--kernel-threads', '0'], {})).toThrow(new RangeError('Expected --kernel-threads to be 1 or 2, got 0'));
  });

  it.skipIf(!wasm)('gives each wasm session that many threads (a js session one), which its log states', async () => {
    const server = await start({ kernelThreads: 2, record: root });
    const c = await connect(server);
    expect(await c.ok(createMessage('w', { kernels: 'wasm' }))).toMatchObject({ kernels: 'wasm', threads: 2 });
    expect(await c.ok(createMessage('j', { kernels: 'js' }))).toMatchObject({ kernels: 'js', threads: 1 });
    await produce(c, 'w', 6, 8);
    expect(weightBytes(await c.ok({ type: 'snapshot', session: 'w' }))).toEqual(inProcess(6, 8, 'wasm'));
    await server.close();
    const w = await openRecording(join(root, 'w'));
    expect([w.kernels, w.threads]).toEqual(['wasm', 2]);
    const j = await openRecording(join(root, 'j'));
    expect([j.kernels, j.threads]).toEqual(['js', 1]);
  }, 30_000);
});

describe('recorded sessions', () => {
  it('a recovered session trains on with the kernels its log states, not auto; a played recording with the recorded ones', async () => {
    const first = await start({ record: root });
    const c = await connect(first);
    await c.ok(createMessage('s', { kernels: 'js' }));
    await produce(c, 's', 3, 8);
    await first.close();
    // started again on its directory: the session comes back with the js kernels (auto would be wasm where it runs)
    const again = await start({ record: root });
    const c2 = await connect(again);
    const info = ((await c2.ok({ type: 'list' }))['sessions'] as Msg[]).find((s) => s['session'] === 's');
    expect(info).toMatchObject({ kernels: 'js', threads: 1 });
    await produce(c2, 's', 3, 8, { firstSeq: 3 });
    expect(weightBytes(await c2.ok({ type: 'snapshot', session: 's' }))).toEqual(inProcess(6, 8, 'js'));
    await again.close();
    const played = await start({ replays: [{ path: join(root, 's'), paused: true }] });
    const c3 = await connect(played);
    expect(((await c3.ok({ type: 'list' }))['sessions'] as Msg[])[0]).toMatchObject({ session: 's', kernels: 'js', threads: 1 });
  }, 30_000);
});
