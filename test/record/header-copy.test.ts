/**
 * Every segment's header says how the session began, whatever the caller does afterwards with
 * the model, eval set and optimizer state it created the session from (a reset in a replay from
 * a later segment goes back to those weights).
 */
import { describe, expect, it } from 'vitest';
import { cloneModel, mlp, sgd, type Batch } from '../../src/index.js';
import { createRecordedTrainer } from '../../src/record/recorder.js';
import { openLog } from '../../src/record/reader.js';
import { useTempDir } from './fixtures.js';

const noop = { accepted: () => undefined, rejected: () => undefined, consumed: () => undefined };

function batch(k: number): Batch {
  const x = new Float32Array(8 * 4).map((_, i) => Math.sin(k * 31 + i));
  const y = new Float32Array(8).map((_, i) => (k + i) % 3);
  return { x: { dtype: 'float32', shape: [8, 4], data: x }, y: { dtype: 'float32', shape: [8], data: y } };
}

describe('a recorded session\'s header', () => {
  const tmp = useTempDir();

  it('keeps the initial weights and eval set in every segment, though the caller changes its arrays after creating the recorder', async () => {
    const model = mlp({ inputSize: 4, layers: [{ units: 5, activation: 'tanh' }, { units: 3, activation: 'softmax' }], seed: 3 });
    const initial = cloneModel(model);
    const evalSet = batch(99);
    const evalX = evalSet.x.data.slice();
    const dir = `${tmp()}/log`;
    const { trainer, recorder } = createRecordedTrainer(
      { session: 'h', model, loss: 'crossEntropy', optimizer: sgd({ lr: 0.1 }), batchSize: 8, evalSet, events: { evalEvery: 0 } },
      dir,
      { fsync: 'never', segmentBytes: 4096, checkpointEvery: 4 },
    );
    // the caller reuses its arrays
    for (const l of model.layers) {
      l.w.fill(7);
      l.b.fill(7);
    }
    (evalSet.x.data as Float32Array).fill(7);
    const done = new Promise<void>((resolve, reject) => trainer.events$.subscribe({ complete: resolve, error: reject }));
    trainer.start();
    for (let k = 0; k < 40; k++) trainer.offer(batch(k), noop, { tag: { producer: 1, seq: k } });
    trainer.end();
    await done;
    await recorder.close();

    const log = await openLog(dir);
    expect(log.segments.length).toBeGreaterThan(2);
    for (const s of log.segments) {
      const config = (s.header as unknown as { config: { model: { layers: { w: { data: Uint8Array }; b: { data: Uint8Array } }[] }; evalSet: { x: { data: Uint8Array } } } }).config;
      config.model.layers.forEach((l, i) => {
        expect(Buffer.from(l.w.data).equals(Buffer.from(initial.layers[i]!.w.buffer))).toBe(true);
        expect(Buffer.from(l.b.data).equals(Buffer.from(initial.layers[i]!.b.buffer))).toBe(true);
      });
      expect(Buffer.from(config.evalSet.x.data).equals(Buffer.from(evalX.buffer))).toBe(true);
    }
  });
});
