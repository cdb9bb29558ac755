/**
 * The kernels in a recording: the header states the kernels a session trained with and its
 * stepper's threads; a replay computes with the recorded kernels, so `verify` reproduces a log of
 * either kernels bit for bit (on any number of threads); another choice replays only without
 * `verify`; a log written before the choice reads as the `js` kernels on one thread; the header
 * states the wasm kernels' build, and a difference found replaying a log of another build says so;
 * a header whose `kernels`, `threads` or `kernelsBuild` is wrong is E_RECORD_CORRUPT naming the
 * file, offset and field.
 */
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { mlpShape, resolveKernels, sgd, type Batch, type TrainConfig } from '../../src/index.js';
import { runRecordCommand, type InspectSummary, type RecordCommand, type ReplaySummary } from '../../src/cli-record.js';
import { defaultThreads } from '../../src/nn/wasm/pool.js';
import { createRecordedTrainer } from '../../src/record/recorder.js';
import { openLog } from '../../src/record/reader.js';
import { openRecording } from '../../src/record/recording.js';
import { buildNote, replayToEnd } from '../../src/record/replay.js';
import { KERNELS_WASM_SHA256 } from '../../src/nn/wasm/kernels-wasm.js';
import { createLogWriter } from '../../src/record/writer.js';
import type { LogRecord } from '../../src/record/format.js';
import { expectSameModel, firstBitDifference } from '../helpers/bits.js';
import { useTempDir } from './fixtures.js';

/** Large enough that the wasm kernels split its products between two threads (pool.ts, SPLIT_MIN_WORK). */
const SPEC = { inputSize: 64, layers: [{ units: 256, activation: 'tanh' }, { units: 10, activation: 'softmax' }], seed: 7 } as const;
const wasm = resolveKernels(mlpShape(SPEC), 'auto') === 'wasm';

const base: TrainConfig = { session: 'k', model: SPEC, loss: 'crossEntropy', optimizer: sgd({ lr: 0.1, momentum: 0.9 }), batchSize: 64 };
const noop = { accepted: () => undefined, rejected: () => undefined, consumed: () => undefined };

function chunk(k: number, rows: number): Batch {
  const x = new Float32Array(rows * 64).map((_, i) => Math.sin(k * 17 + i * 0.37));
  const y = new Float32Array(rows).map((_, i) => (k + i) % 10);
  return { x: { dtype: 'float32', shape: [rows, 64], data: x }, y: { dtype: 'float32', shape: [rows], data: y } };
}

/** Records about 20 steps of `config` into `dir` (one segment, a checkpoint every 4 steps); resolves with the live trainer's model. */
async function record(dir: string, config: Partial<TrainConfig>) {
  const { trainer, recorder } = createRecordedTrainer({ ...base, ...config }, dir, { fsync: 'never', checkpointEvery: 4 });
  const done = new Promise<void>((resolve, reject) => trainer.events$.subscribe({ complete: resolve, error: reject }));
  trainer.start();
  for (let k = 0; k < 10; k++) trainer.offer(chunk(k, 100 + k * 7), noop, { tag: { producer: 1, seq: k } });
  trainer.end();
  await done;
  await recorder.close();
  return trainer.model;
}

/** The config record of the log's first header. */
async function headerConfig(dir: string): Promise<Record<string, unknown>> {
  const log = await openLog(dir);
  return log.segments[0]!.header!['config'] as Record<string, unknown>;
}

/** A copy of the one-segment log `src` at `dst` whose header's config is `edit` of the original: how a log of another writer looks. */
async function rewrite(src: string, dst: string, edit: (config: Record<string, unknown>) => Record<string, unknown>): Promise<void> {
  const log = await openLog(src);
  expect(log.segments.length).toBe(1);
  const { type: _t, format: _f, livegrad: _l, segment: _s, created: _c, ...fields } = log.segments[0]!.header!;
  const records: LogRecord[] = [];
  for await (const e of log.records()) records.push(e.record);
  const [first, ...rest] = records;
  const writer = createLogWriter(dst, { fsync: 'never', header: { ...fields, config: edit(fields['config'] as Record<string, unknown>) }, checkpoint: () => first! });
  for (const r of rest) void writer.append(r);
  await writer.close();
}

/** Runs a record command in this process, with what it writes to stdout. */
async function inProcess(command: RecordCommand, args: readonly string[]): Promise<{ code: number; stdout: string }> {
  const writes: string[] = [];
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => (writes.push(String(c)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    return { code: await runRecordCommand(command, args), stdout: writes.join('') };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

describe('the kernels of a recording', () => {
  const tmp = useTempDir();

  it('the js kernels: the header says kernels "js" on 1 thread, a replay uses them and verifies bit for bit, inspect and replay say so', async () => {
    const dir = join(tmp(), 'js');
    const live = await record(dir, { kernels: 'js', threads: 2 });
    expect(await headerConfig(dir)).toMatchObject({ kernels: 'js', threads: 1 });
    const rec = await openRecording(dir);
    expect([rec.kernels, rec.threads, rec.config.kernels]).toEqual(['js', 1, 'js']);
    const r = await replayToEnd(rec, { verify: true });
    expect(r.kernels).toBe('js');
    expect(r.verified).toBeGreaterThan(3);
    expectSameModel(r.model, live);

    const inspect = await inProcess('inspect', [dir, '--json']);
    expect((JSON.parse(inspect.stdout) as InspectSummary).config).toMatchObject({ kernels: 'js', threads: 1 });
    expect((await inProcess('inspect', [dir])).stdout).toMatch(/^kernels +js, 1 thread$/m);
    const replayed = await inProcess('replay', [dir, '--verify']);
    expect(replayed.code).toBe(0);
    expect(replayed.stdout).toMatch(/^kernels +js, as recorded; 1 thread$/m); // (the js kernels are one thread, whatever the default)
  }, 30_000);

  it.skipIf(!wasm)('the wasm kernels: the header says kernels "wasm" and the threads; a replay on one thread verifies bit for bit', async () => {
    const two = join(tmp(), 'wasm2');
    const live = await record(two, { kernels: 'wasm', threads: 2 });
    expect(await headerConfig(two)).toMatchObject({ kernels: 'wasm', threads: 2 });
    const rec = await openRecording(two);
    expect([rec.kernels, rec.threads, rec.config.kernels]).toEqual(['wasm', 2, 'wasm']);
    // the replay's own thread count (1 by default, 2 asked for) changes no bit
    for (const threads of [undefined, 2]) {
      const r = await replayToEnd(rec, { verify: true, ...(threads === undefined ? {} : { threads }) });
      expect([r.kernels, r.threads]).toEqual(['wasm', threads ?? 1]);
      expect(r.verified).toBeGreaterThan(3);
      expectSameModel(r.model, live);
    }
    // auto, threads by default: what the stepper made of them
    const auto = join(tmp(), 'auto');
    await record(auto, {});
    expect(await headerConfig(auto)).toMatchObject({ kernels: 'wasm', threads: defaultThreads() });
    const json = JSON.parse((await inProcess('replay', [auto, '--verify', '--json'])).stdout) as ReplaySummary;
    // the command computes on the machine's default threads (the API on 1, as above), and verifies either way
    expect(json).toMatchObject({ kernels: 'wasm', recordedKernels: 'wasm', threads: defaultThreads(), verified: expect.any(Number) as number });
    const one = JSON.parse((await inProcess('replay', [auto, '--verify', '--json', '--threads', '1'])).stdout) as ReplaySummary;
    expect(one).toMatchObject({ threads: 1, verified: json.verified, weightsSha256: json.weightsSha256 });
    expect((await inProcess('replay', [auto])).stdout).toMatch(new RegExp(`^kernels +wasm, as recorded; ${defaultThreads()} threads?$`, 'm'));
  }, 60_000);

  it.skipIf(!wasm)('replays with the other kernels only without verify, within float32 tolerance of the log; a fork records the kernels it used', async () => {
    const dir = join(tmp(), 'wasm');
    const live = await record(dir, { kernels: 'wasm' });
    const rec = await openRecording(dir);
    await expect(replayToEnd(rec, { verify: true, kernels: 'js' })).rejects.toThrow(new TypeError(`Expected verify with the recorded kernels ("wasm"), got kernels "js": the two kernels agree within float32 tolerance, not bit for bit, so only the recorded ones can reproduce ${rec.path}`));
    const bad = await inProcess('replay', [dir, '--verify', '--kernels', 'js']);
    expect(bad.code).toBe(2);
    const js = await replayToEnd(rec, { kernels: 'js' });
    expect([js.kernels, js.threads]).toEqual(['js', 1]);
    expect(js.steps).toBe(rec.lastStep);
    live.layers.forEach((l, i) => {
      const w = js.model.layers[i]!.w;
      expect(firstBitDifference(w, l.w)).not.toBe(-1); // not the same bits …
      for (let j = 0; j < w.length; j++) expect(Math.abs(w[j]! - l.w[j]!)).toBeLessThan(1e-3); // … but close
    });
    // a fork with the js kernels: its log says so, and replays with them bit for bit
    const forkDir = join(tmp(), 'fork');
    const fork = await replayToEnd(rec, { at: 8, change: { lr: 0.05 }, kernels: 'js', record: { dir: forkDir, fsync: 'never' } });
    expect(await headerConfig(forkDir)).toMatchObject({ kernels: 'js', threads: 1 });
    const again = await replayToEnd(await openRecording(forkDir), { verify: true });
    expectSameModel(again.model, fork.model);
    const summary = await inProcess('replay', [dir, '--kernels', 'js']);
    expect(summary.stdout).toMatch(/^kernels +js \(recorded with wasm: within float32 tolerance of the log, not bit for bit\); 1 thread$/m);
  }, 60_000);

  it.skipIf(!wasm)('states the build of the wasm kernels (null with js); a replay that differs names a build that differs from this livegrad\'s', async () => {
    const js = join(tmp(), 'js');
    await record(js, { kernels: 'js' });
    expect(await headerConfig(js)).toMatchObject({ kernelsBuild: null });
    expect((await openRecording(js)).kernelsBuild).toBeNull();
    const dir = join(tmp(), 'wasm');
    await record(dir, { kernels: 'wasm', threads: 1 });
    expect(await headerConfig(dir)).toMatchObject({ kernelsBuild: KERNELS_WASM_SHA256 });
    expect((await inProcess('inspect', [dir])).stdout).toMatch(new RegExp(`^kernels +wasm, 1 thread, build ${KERNELS_WASM_SHA256.slice(0, 12)}$`, 'm'));
    // the same build: a difference says nothing of builds; another build: the message says which
    expect(buildNote({ kernels: 'wasm', kernelsBuild: KERNELS_WASM_SHA256 }, 'wasm')).toBe('');
    expect(buildNote({ kernels: 'wasm', kernelsBuild: null }, 'wasm')).toBe('');
    expect(buildNote({ kernels: 'wasm', kernelsBuild: 'ab'.repeat(32) }, 'js')).toBe('');
    // a log of another build (forged: its lr too, so that the replay differs at the first checkpoint)
    const other = join(tmp(), 'other');
    await rewrite(dir, other, (config) => ({ ...config, kernelsBuild: 'ab'.repeat(32), optimizer: { ...(config['optimizer'] as object), lr: 0.2 } }));
    const rec = await openRecording(other);
    expect(rec.kernelsBuild).toBe('ab'.repeat(32));
    const failed = replayToEnd(rec, { verify: true });
    await expect(failed).rejects.toMatchObject({ code: 'E_REPLAY_DIVERGED' });
    await expect(failed).rejects.toThrow(`(the log was trained by the wasm kernels of build abababababab…, this livegrad's are build ${KERNELS_WASM_SHA256.slice(0, 12)}…: another build can differ in the last bits; replay with the livegrad that recorded it to reproduce it)`);
  }, 60_000);

  it('reads a log written before the choice (no kernels, no threads) as the js kernels on one thread, and verifies it bit for bit', async () => {
    const src = join(tmp(), 'src');
    const live = await record(src, { kernels: 'js' });
    const old = join(tmp(), 'old');
    await rewrite(src, old, ({ kernels: _k, threads: _t, kernelsBuild: _b, ...config }) => config);
    expect(Object.keys(await headerConfig(old))).not.toContain('kernels');
    const rec = await openRecording(old);
    expect([rec.kernels, rec.threads, rec.config.kernels, rec.kernelsBuild]).toEqual(['js', 1, 'js', null]);
    const r = await replayToEnd(rec, { verify: true });
    expect(r.kernels).toBe('js');
    expectSameModel(r.model, live);
  }, 30_000);

  it.each([
    ['kernels "gpu"', { kernels: 'gpu' }, 'header.config.kernels: expected "js" or "wasm", got "gpu"'],
    ['kernels nil', { kernels: null }, 'header.config.kernels: expected "js" or "wasm", got null'],
    ['threads 0', { threads: 0 }, `header.config.threads: expected an integer in [1, ${Number.MAX_SAFE_INTEGER}], got 0`],
    ['threads 1.5', { threads: 1.5 }, `header.config.threads: expected an integer in [1, ${Number.MAX_SAFE_INTEGER}], got 1.5`],
    ['kernelsBuild "v2"', { kernelsBuild: 'v2' }, 'header.config.kernelsBuild: expected null or a SHA-256 in hex, got "v2"'],
    ['the wasm kernels for a float64 model', { kernels: 'wasm', model: { ...SPEC, dtype: 'float64' } }, 'header.config.kernels: expected "js" for a float64 model (the wasm kernels compute in float32), got "wasm"'],
  ] as const)('a header config with %s is E_RECORD_CORRUPT naming the file, offset and field', async (_what, change, says) => {
    const src = join(tmp(), 'src');
    // (a float64 model's log, for the float64 case: its checkpoints must fit the header's model)
    await record(src, { kernels: 'js', ...('model' in change ? { model: change.model } : {}) });
    const bad = join(tmp(), 'bad');
    await rewrite(src, bad, (config) => ({ ...config, ...change }));
    const rec = openRecording(bad);
    await expect(rec).rejects.toMatchObject({ code: 'E_RECORD_CORRUPT' });
    await expect(rec).rejects.toThrow(`${join(bad, '000001.lgr')} at byte 10: the header's config is not a session config: ${says}`);
  });
});
