/**
 * The trainer's order rule (src/pipeline/trainer/inbox.ts): what it is given takes effect in the
 * order it was given, however training and arrival interleave. The trainer runs asynchronously
 * here (the default sliceMs), so everything given in one go is still waiting when the next thing
 * comes: exactly what a server session sees from a pipelining client.
 */
import { describe, expect, it } from 'vitest';
import { createTrainer, LivegradError, sgd, type Batch, type Trainer, type TrainConfig } from '../../src/index.js';
import { expectSameModel } from '../helpers/bits.js';
import { chunk, randomChunk, record, settled, TINY } from '../helpers/pipeline.js';

const QUIET = { metricsEvery: 0, gradientsEvery: 0, weightsEvery: 0 };

function trainer(overrides: Partial<TrainConfig> = {}): Trainer {
  return createTrainer({ model: TINY, loss: 'crossEntropy', optimizer: sgd({ lr: 0.5 }), batchSize: 2, events: QUIET, queue: { capacity: 64 }, ...overrides });
}

const quietly = { accepted: () => undefined, rejected: (e: LivegradError) => expect.fail(e.message), consumed: () => undefined };

describe('the order rule', () => {
  it('applies each pipelined set after the rows given before it and before the rows after it', async () => {
    const t = trainer();
    const rec = record(t);
    const applied: number[] = [];
    for (let i = 1; i <= 6; i++) {
      t.control({ action: 'set', lr: i / 10 }, undefined, { applied: (step) => applied.push(step), refused: (e) => expect.fail(e.message) });
      t.offer(randomChunk(i, 2), quietly);
    }
    t.end();
    await settled(t);
    expect(rec.of('step').map((e) => e.lr)).toEqual([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
    expect(rec.of('control').map((e) => e.step)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(applied).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('cuts the rows held back before a set or a reset into a shorter batch, and not before a pause or a snapshot', async () => {
    const t = trainer({ batchSize: 4 });
    const rec = record(t);
    t.offer(randomChunk(1, 6), quietly); // one batch of 4, 2 rows held back
    t.control({ action: 'snapshot' }); // an observation: no cut
    t.offer(randomChunk(2, 3), quietly); // completes a batch of 4, 1 held back
    t.control({ action: 'set', lr: 0.1 }); // the 1 row trains alone, at lr 0.5
    t.offer(randomChunk(3, 4), quietly);
    t.control({ action: 'reset' });
    t.offer(randomChunk(4, 2), quietly);
    t.end();
    await settled(t);
    expect(rec.of('step').map((e) => [e.batchSize, e.lr])).toEqual([
      [4, 0.5],
      [4, 0.5],
      [1, 0.5],
      [4, 0.1],
      [2, 0.1],
    ]);
    expect(rec.tags().filter((x) => x.startsWith('control'))).toEqual(['control:snapshot@1', 'control:set@3', 'control:reset@4']);
  });

  it('answers a call at its turn: after every whole batch of the rows given before it', async () => {
    const t = trainer();
    const seen: number[] = [];
    for (let i = 0; i < 10; i++) {
      t.offer(randomChunk(i, 2), quietly);
      t.inOrder({ run: () => seen.push(t.steps), refused: (e) => expect.fail(e.message) });
    }
    t.offer(randomChunk(99, 1), quietly); // held back: a call after it does not wait for a batch that is not whole
    t.inOrder({ run: () => seen.push(t.steps), refused: (e) => expect.fail(e.message) });
    await new Promise((r) => setTimeout(r, 50));
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10]);
    t.close();
  });

  it('holds what comes after a pause until a resume, which reaches the paused trainer wherever it stands', async () => {
    const run = async (withPause: boolean) => {
      const t = trainer();
      const rec = record(t);
      t.offer(randomChunk(1, 2), quietly);
      if (withPause) t.control({ action: 'pause' });
      for (let i = 2; i < 6; i++) t.offer(randomChunk(i, 2), quietly);
      t.control({ action: 'set', lr: 0.2 });
      t.offer(randomChunk(6, 2), quietly);
      if (withPause) {
        await new Promise((r) => setTimeout(r, 20));
        expect([t.steps, t.paused]).toEqual([1, true]); // the row before the pause trained, none after it
        t.control({ action: 'resume' }); // behind four batches and a set that a paused trainer cannot reach
      }
      t.end();
      await settled(t);
      return { model: t.model, lrs: rec.of('step').map((e) => e.lr) };
    };
    const paused = await run(true);
    const straight = await run(false);
    expect(paused.lrs).toEqual([0.5, 0.5, 0.5, 0.5, 0.5, 0.2]);
    expect(straight.lrs).toEqual(paused.lrs);
    expectSameModel(paused.model, straight.model);
  });

  it('trains a one-step offer as one step of its own rows, whatever the batch size', async () => {
    const t = trainer({ batchSize: 4 });
    const rec = record(t);
    t.offer(randomChunk(1, 3), quietly);
    t.offer(randomChunk(2, 5), quietly, { step: true });
    t.offer(randomChunk(3, 4), quietly);
    t.end();
    await settled(t);
    expect(rec.of('step').map((e) => e.batchSize)).toEqual([3, 5, 4]);
  });

  it('fixes the layout of y at the first chunk: one of the other layout is refused, the good ones after it train', async () => {
    const t = trainer();
    const log: string[] = [];
    const handlers = (name: string) => ({ accepted: () => log.push(`accepted ${name}`), rejected: (e: LivegradError) => log.push(`rejected ${name}: ${e.code} ${e.message}`), consumed: () => undefined });
    t.offer(randomChunk(1, 2), handlers('labels'));
    const oneHot: Batch = chunk([[0, 1], [1, 0]], [[1, 0, 0], [0, 1, 0]]);
    t.offer(oneHot, handlers('one-hot'));
    t.offer(randomChunk(2, 3), handlers('labels again'));
    t.end();
    await settled(t);
    expect(log).toEqual([
      'accepted labels',
      "rejected one-hot: E_SHAPE Expected y as this session's targets, class indices [m] (fixed by its first samples), got [2, 3]",
      'accepted labels again',
    ]);
    expect(t.samples).toBe(5);
  });

  it('gives the same weights trained asynchronously as synchronously, for the same things in the same order', async () => {
    const script = (t: Trainer) => {
      t.offer(randomChunk(1, 5), quietly);
      t.control({ action: 'set', lr: 0.1, momentum: 0.9 });
      t.offer(randomChunk(2, 3), quietly);
      t.control({ action: 'set', batchSize: 3 });
      t.offer(randomChunk(3, 7), quietly, { step: true });
      t.offer(randomChunk(4, 7), quietly);
      t.control({ action: 'reset' });
      t.offer(randomChunk(5, 4), quietly);
      t.end();
    };
    const sync = trainer({ sliceMs: Infinity });
    const sequence = record(sync);
    script(sync);
    const async = trainer();
    const asyncSequence = record(async);
    script(async);
    await settled(async);
    expect(asyncSequence.tags()).toEqual(sequence.tags());
    expectSameModel(async.model, sync.model);
  });
});
