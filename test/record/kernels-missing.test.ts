/**
 * A log of the wasm kernels on a runtime that cannot run them (here: the kernels' module made
 * unavailable, as on a runtime without WebAssembly SIMD128 or shared memory): it opens and is
 * inspected as any log, and a replay fails with E_KERNELS naming the log and what to do, unless
 * it is asked for the js kernels (within float32 tolerance, never with verify).
 */
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { sgd, type Batch, type TrainConfig } from '../../src/index.js';
import { inspectSummary } from '../../src/cli-record.js';
import { createRecordedTrainer } from '../../src/record/recorder.js';
import { openLog } from '../../src/record/reader.js';
import { openRecording } from '../../src/record/recording.js';
import { replayToEnd } from '../../src/record/replay.js';
import { createLogWriter } from '../../src/record/writer.js';
import type { LogRecord } from '../../src/record/format.js';
import { resolveKernels } from '../../src/nn/step.js';
import { useTempDir } from './fixtures.js';

vi.mock('../../src/nn/wasm/module.js', async (original) => ({ ...(await original<typeof import('../../src/nn/wasm/module.js')>()), kernelModule: () => undefined }));

const SPEC = { inputSize: 4, layers: [{ units: 8, activation: 'tanh' }, { units: 3, activation: 'softmax' }], seed: 1 } as const;
const config: TrainConfig = { session: 'm', model: SPEC, loss: 'crossEntropy', optimizer: sgd({ lr: 0.1 }), batchSize: 4 };
const noop = { accepted: () => undefined, rejected: () => undefined, consumed: () => undefined };

function chunk(k: number): Batch {
  const x = new Float32Array(40).map((_, i) => Math.sin(k * 5 + i));
  const y = new Float32Array(10).map((_, i) => (k + i) % 3);
  return { x: { dtype: 'float32', shape: [10, 4], data: x }, y: { dtype: 'float32', shape: [10], data: y } };
}

async function record(dir: string): Promise<void> {
  const { trainer, recorder } = createRecordedTrainer(config, dir, { fsync: 'never', checkpointEvery: 3 });
  const done = new Promise<void>((resolve, reject) => trainer.events$.subscribe({ complete: resolve, error: reject }));
  trainer.start();
  for (let k = 0; k < 5; k++) trainer.offer(chunk(k), noop);
  trainer.end();
  await done;
  await recorder.close();
}

/** A copy of the one-segment log `src` at `dst` whose header's config says the wasm kernels on 2 threads. */
async function asWasm(src: string, dst: string): Promise<void> {
  const log = await openLog(src);
  const { type: _t, format: _f, livegrad: _l, segment: _s, created: _c, ...fields } = log.segments[0]!.header!;
  const records: LogRecord[] = [];
  for await (const e of log.records()) records.push(e.record);
  const [first, ...rest] = records;
  const writer = createLogWriter(dst, { fsync: 'never', header: { ...fields, config: { ...(fields['config'] as object), kernels: 'wasm', threads: 2 } }, checkpoint: () => first! });
  for (const r of rest) void writer.append(r);
  await writer.close();
}

describe('a log of the wasm kernels where they cannot run', () => {
  const tmp = useTempDir();

  it('opens and is inspected; a replay fails with E_KERNELS naming the log, and replays with kernels "js" when asked (not with verify)', async () => {
    expect(resolveKernels({ dtype: 'float32', inputSize: 4, layers: [] }, 'auto')).toBe('js');
    const src = join(tmp(), 'src');
    await record(src);
    const dir = join(tmp(), 'wasm');
    await asWasm(src, dir);
    const rec = await openRecording(dir);
    expect([rec.kernels, rec.threads]).toEqual(['wasm', 2]);
    expect(inspectSummary(rec).config).toMatchObject({ kernels: 'wasm', threads: 2 });
    const failed = replayToEnd(rec, { verify: true });
    await expect(failed).rejects.toMatchObject({ code: 'E_KERNELS' });
    await expect(failed).rejects.toThrow(
      `${rec.path}: recorded with the wasm kernels, which need WebAssembly SIMD128 and shared memory, and this runtime lacks one of them: replay it on a runtime that has them (Node 20 does) to reproduce it bit for bit, or with kernels "js" (livegrad replay --kernels js) to replay it within float32 tolerance (not with verify)`,
    );
    await expect(replayToEnd(rec, { verify: true, kernels: 'js' })).rejects.toThrow(TypeError);
    const js = await replayToEnd(rec, { kernels: 'js' });
    expect([js.kernels, js.steps]).toEqual(['js', rec.lastStep]);
    // and a log of the js kernels cannot be replayed with the wasm ones here
    const jsLog = await openRecording(src);
    await expect(replayToEnd(jsLog, { kernels: 'wasm' })).rejects.toMatchObject({
      code: 'E_KERNELS',
      message: `${jsLog.path}: asked to replay with the wasm kernels, which need WebAssembly SIMD128 and shared memory, and this runtime lacks one of them: replay it with its recorded kernels ("js")`,
    });
  });
});
