/**
 * Recording a trainer and replaying it: the same inputs at the same steps give the same events
 * and the same bits, from the start or from any checkpoint, and verify catches a difference.
 */
import { readdirSync } from 'node:fs';
import { firstValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { mlp, sgd, type Batch, type TrainConfig, type TrainEvent } from '../../src/index.js';
import type { Trainer } from '../../src/pipeline/trainer/trainer.js';
import { createRecordedTrainer } from '../../src/record/recorder.js';
import { openRecording } from '../../src/record/recording.js';
import { replay, replayToEnd } from '../../src/record/replay.js';
import { expectSameModel, firstBitDifference } from '../helpers/bits.js';
import { digits, rows, W2 } from '../helpers/pipeline.js';
import { useTempDir } from './fixtures.js';

const config: TrainConfig = {
  session: 'r',
  model: W2,
  loss: 'crossEntropy',
  optimizer: sgd({ lr: 0.5, momentum: 0.9 }),
  batchSize: 32,
  events: { metricsEvery: 5, weightsEvery: 20, gradientsEvery: 5, metricsWindow: 10 },
};

/** Events without the fields that describe the live run's timing (time, durationMs, queueDepth). */
function timeless(events: readonly TrainEvent[]): unknown[] {
  return events.map((e) => {
    const { time: _t, ...rest } = e as TrainEvent & { durationMs?: number; queueDepth?: number };
    if (rest.type === 'step') {
      const { durationMs: _d, queueDepth: _q, ...step } = rest as typeof rest & { durationMs: number; queueDepth: number };
      return step;
    }
    return rest;
  });
}

const noop = { accepted: () => undefined, rejected: () => undefined, consumed: () => undefined };
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Feeds a live trainer a scripted session: chunks of odd sizes with pipelined controls and pauses between turns of the loop. */
async function drive(t: Trainer): Promise<void> {
  const d = digits();
  let at = 0;
  const next = (m: number): Batch => {
    const b = rows(d, at, at + m);
    at = (at + m) % 1500;
    return b;
  };
  const offer = (m: number, step = false): void => t.offer(next(m), noop, { step, tag: { producer: 1, seq: at } });
  // scheduled before anything trains: the same steps in every run
  t.control({ action: 'set', lr: 0.3 }, 12);
  t.control({ action: 'set', clipNorm: 1 }, 40);
  for (let i = 0; i < 6; i++) offer(45);
  t.control({ action: 'set', lr: 0.1 });
  offer(70);
  await tick();
  offer(33, true);
  t.control({ action: 'pause' });
  for (let i = 0; i < 4; i++) offer(40);
  await tick();
  t.control({ action: 'step' });
  t.control({ action: 'step' });
  await tick();
  t.control({ action: 'resume' });
  t.control({ action: 'set', batchSize: 20 });
  for (let i = 0; i < 5; i++) offer(27);
  await tick();
  t.control({ action: 'reset' });
  t.control({ action: 'snapshot' });
  for (let i = 0; i < 8; i++) {
    offer(31);
    if (i % 3 === 0) await tick();
  }
  for (let i = 0; i < 6; i++) offer(50);
  t.end();
}

async function live(dir: string, options: Parameters<typeof createRecordedTrainer>[2] = {}): Promise<{ events: TrainEvent[]; trainer: Trainer }> {
  const { trainer, recorder } = createRecordedTrainer(config, dir, { fsync: 'never', ...options });
  const events: TrainEvent[] = [];
  const done = new Promise<void>((resolve, reject) => trainer.events$.subscribe({ next: (e) => events.push(e), complete: resolve, error: reject }));
  trainer.start();
  await drive(trainer);
  await done;
  await recorder.close();
  return { events, trainer };
}

describe('replay', () => {
  const tmp = useTempDir();

  it('gives the live events and weights bit for bit, every checkpoint verified, across segments', async () => {
    const dir = `${tmp()}/log`;
    const run = await live(dir, { checkpointEvery: 7, segmentBytes: 40_000, events: true });
    expect(readdirSync(dir).length).toBeGreaterThan(3);
    const rec = await openRecording(dir);
    expect(rec.ended).toBe('end');
    expect(rec.counts.samples).toBeGreaterThan(30);
    const events: TrainEvent[] = [];
    const result = await replayToEnd(rec, { verify: true }, (e) => events.push(e));
    expect(result.verified).toBe(rec.counts.checkpoint - 1); // all but the one it starts from
    expect(result.steps).toBe(run.trainer.steps);
    expect(timeless(events)).toEqual(timeless(run.events));
    expectSameModel(result.model, run.trainer.model);
  });

  it('as an Observable, from a checkpoint in the middle: the live events from that step on', async () => {
    const dir = `${tmp()}/log`;
    const run = await live(dir, { checkpointEvery: 10 });
    const rec = await openRecording(dir);
    const from = rec.checkpoints.find((c) => c.step >= 30 && c.at === 'step')!;
    const events = await firstValueFrom(replay(rec, { from: from.step + 3 }).pipe(toArray()));
    const steps = (es: readonly TrainEvent[]) => timeless(es.filter((e) => e.type === 'step' || e.type === 'metrics'));
    expect(steps(events)).toEqual(steps(run.events.filter((e) => e.step > from.step)));
    expect(events[0]!.step).toBe(from.step + 1);
  });

  it('stops at until, with the weights the live session had after that step', async () => {
    const dir = `${tmp()}/log`;
    const run = await live(dir, { events: true });
    const rec = await openRecording(dir);
    const at20 = run.events.find((e) => e.type === 'weights' && e.step === 20);
    expect(at20).toBeDefined();
    const r = await replayToEnd(rec, { until: 20 });
    expect(r.steps).toBe(20);
    const w = (at20 as TrainEvent & { type: 'weights' }).layers;
    w.forEach((l, i) => expect(Array.from(r.model.layers[i]!.w)).toEqual(Array.from(l.w.data)));
  });

  it('verify names the step and the array of the first difference', async () => {
    const dir = `${tmp()}/log`;
    await live(dir, { checkpointEvery: 5 });
    const rec = await openRecording(dir);
    // the same log, replayed under another learning rate: the first checkpoint after step 0 differs
    const other = { ...rec, config: { ...rec.config, optimizer: sgd({ lr: 0.25, momentum: 0.9 }) } };
    await expect(replayToEnd(other, { verify: true })).rejects.toMatchObject({ code: 'E_REPLAY_DIVERGED', message: expect.stringMatching(/checkpoint at step 5 .*layers\[\d\]\.[wb]\[\d+\]: recorded/) });
  });

  it('fork: replay to step N with a new lr equals a live session whose lr changed at step N', async () => {
    const dir = `${tmp()}/log`;
    await live(dir, { checkpointEvery: 9 });
    const rec = await openRecording(dir);
    const forked = await replayToEnd(rec, { at: 25, change: { lr: 0.05 } });
    // live: the same script, with the change scheduled for step 25 from the start
    const { trainer, recorder } = createRecordedTrainer(config, `${tmp()}/live2`, { fsync: 'never' });
    const done = new Promise<void>((resolve) => trainer.events$.subscribe({ complete: resolve }));
    trainer.start();
    trainer.control({ action: 'set', lr: 0.05 }, 25);
    await drive(trainer);
    await done;
    await recorder.close();
    expect(forked.steps).toBe(trainer.steps);
    expectSameModel(forked.model, trainer.model);
    // and differs from the recording
    const plain = await replayToEnd(rec);
    expect(firstBitDifference(plain.model.layers[0]!.w, forked.model.layers[0]!.w)).not.toBe(-1);
  });

  it('replays a session created from explicit initial weights (float64), which the header holds', async () => {
    const dir = `${tmp()}/log`;
    const model = mlp({ ...W2, dtype: 'float64', seed: 5 });
    const { trainer, recorder } = createRecordedTrainer({ ...config, model }, dir, { fsync: 'never' });
    const done = new Promise<void>((resolve) => trainer.events$.subscribe({ complete: resolve }));
    trainer.start();
    const d = digits();
    for (let k = 0; k < 5; k++) {
      const b = rows(d, k * 50, k * 50 + 50);
      trainer.offer({ x: { ...b.x, dtype: 'float64', data: Float64Array.from(b.x.data) }, y: { ...b.y, dtype: 'float64', data: Float64Array.from(b.y.data) } }, noop);
    }
    trainer.end();
    await done;
    await recorder.close();
    const r = await replayToEnd(await openRecording(dir), { verify: true });
    expect(r.model.dtype).toBe('float64');
    expectSameModel(r.model, trainer.model);
  });

  it('a fork can itself be recorded: its log says where it came from, and replays and verifies to the fork', async () => {
    const dir = `${tmp()}/log`;
    await live(dir, { checkpointEvery: 9 });
    const rec = await openRecording(dir);
    const forkDir = `${tmp()}/fork`;
    const forked = await replayToEnd(rec, { at: 25, change: { lr: 0.05 }, record: { dir: forkDir, fsync: 'never', checkpointEvery: 6 } });
    const frec = await openRecording(forkDir);
    expect(frec.header['fork']).toEqual({ from: rec.path, at: 25 });
    const again = await replayToEnd(frec, { verify: true });
    expect(again.verified).toBeGreaterThan(2);
    expect(again.steps).toBe(forked.steps);
    expectSameModel(again.model, forked.model);
  });
});
