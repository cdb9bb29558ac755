/**
 * openRecording's entries: every record read back and checked, its tensors the values that were
 * recorded, bit for bit, and never changed by what is read after them.
 */
import { describe, expect, it } from 'vitest';
import { sgd, type Batch, type DType, type TrainConfig } from '../../src/index.js';
import type { FloatArray } from '../../src/nn/tensor.js';
import { createRecordedTrainer } from '../../src/record/recorder.js';
import { openLog } from '../../src/record/reader.js';
import { openRecording, readEntry, type RecordingEntry } from '../../src/record/recording.js';
import { useTempDir } from './fixtures.js';

const tmp = useTempDir();

const bytesOf = (a: FloatArray): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Chunks of 1 to 13 rows of 3 inputs (so their tensors land at every alignment in the log), values that tell them apart. */
function chunks(dtype: DType, count: number): Batch[] {
  const make = dtype === 'float64' ? (n: number) => new Float64Array(n) : (n: number) => new Float32Array(n);
  return Array.from({ length: count }, (_, k) => {
    const m = 1 + ((k * 7) % 13);
    const x = make(m * 3).map((_, i) => k + i / 1000 - 0.5);
    const y = make(m).map((_, i) => (k + i) % 2);
    return { x: { dtype, shape: [m, 3], data: x }, y: { dtype, shape: [m], data: y } };
  });
}

async function recordChunks(dir: string, dtype: DType, given: readonly Batch[], checkpointEvery = 5): Promise<void> {
  const config: TrainConfig = { session: 'e', model: { inputSize: 3, dtype, layers: [{ units: 4, activation: 'tanh' }, { units: 2, activation: 'softmax' }], seed: 2 }, loss: 'crossEntropy', optimizer: sgd({ lr: 0.1, momentum: 0.9 }), batchSize: 4 };
  const { trainer, recorder } = createRecordedTrainer(config, dir, { fsync: 'never', checkpointEvery, segmentBytes: 3000 });
  const done = new Promise<void>((resolve, reject) => trainer.events$.subscribe({ complete: resolve, error: reject }));
  trainer.start();
  for (const b of given) trainer.offer(b, { accepted: () => undefined, rejected: () => undefined, consumed: () => undefined }, { step: false, tag: { producer: 'p', seq: 2 ** 33 + given.indexOf(b) } });
  trainer.end();
  await done;
  await recorder.close();
}

async function readAll(dir: string, chunkBytes?: number): Promise<RecordingEntry[]> {
  const rec = await openRecording(dir, chunkBytes === undefined ? {} : { chunkBytes });
  const out: RecordingEntry[] = [];
  for await (const e of rec.entries()) out.push(e);
  return out;
}

describe('openRecording entries()', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    it(`gives every recorded chunk back bit for bit (${dtype}), with any chunk size, all of them held to the end`, async () => {
      const dir = `${tmp()}/log`;
      const given = chunks(dtype, 60);
      await recordChunks(dir, dtype, given);
      for (const chunkBytes of [64, 1000, undefined]) {
        const entries = await readAll(dir, chunkBytes);
        const samples = entries.flatMap((e) => (e.kind === 'input' && e.record.type === 'samples' ? [e.record] : []));
        expect(samples).toHaveLength(given.length);
        samples.forEach((r, k) => {
          expect(r.batch.x.data).toBeInstanceOf(dtype === 'float64' ? Float64Array : Float32Array);
          expect(bytesOf(r.batch.x.data).equals(bytesOf(given[k]!.x.data))).toBe(true);
          expect(bytesOf(r.batch.y.data).equals(bytesOf(given[k]!.y.data))).toBe(true);
        });
        expect(entries.filter((e) => e.kind === 'checkpoint').length).toBeGreaterThan(3);
      }
    });
  }

  for (const dtype of ['float32', 'float64'] as const) {
    it(`every array of every entry (${dtype}: inputs, and checkpoints' weights, optimizer state, queue, window) equals a copy read alone, all held to the end and while the log is read again`, async () => {
      const dir = `${tmp()}/log`;
      await recordChunks(dir, dtype, chunks(dtype, 60), 1); // a checkpoint after every step: their arrays land at every alignment
      const rec = await openRecording(dir);
      const reference: Buffer[][] = [];
      for await (const e of (await openLog(dir)).records()) reference.push(floatsOf(readEntry(e, rec.config, rec.shape, 'copy')).map((a) => Buffer.from(bytesOf(a))));
      const held = await readAll(dir, 200);
      await readAll(dir, 200);
      expect(held.map((e) => floatsOf(e).map(bytesOf))).toEqual(reference);
      expect(held.filter((e) => e.kind === 'checkpoint' && e.record.state.queue.length > 0).length).toBeGreaterThan(0);
    });
  }
});

/** Every float array an entry holds. */
function floatsOf(e: RecordingEntry): FloatArray[] {
  const batch = (b: Batch | undefined): FloatArray[] => (b === undefined ? [] : [b.x.data, b.y.data]);
  if (e.kind === 'input') return e.record.type === 'samples' ? batch(e.record.batch) : [];
  if (e.kind === 'event') return [];
  const s = e.record.state;
  return [
    ...s.layers.flatMap((l) => [l.w, l.b]),
    ...s.optimizerState.buffers.flat(),
    ...s.queue.flatMap((q) => (q.kind === 'batch' ? batch(q.batch) : [])),
    ...batch(s.held),
    s.window.loss,
    s.window.correct,
    s.window.rows,
  ];
}
