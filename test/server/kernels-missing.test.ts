/**
 * A server on a runtime that cannot run the wasm kernels (here: their module made unavailable, as
 * without WebAssembly SIMD128 or shared memory): a `create` asking for them is answered with
 * E_KERNELS, and `auto` trains with the js kernels — on the session's thread too, where the module
 * is not made unavailable: the thread trains with the kernels the main thread resolved.
 */
import { describe, expect, it, vi } from 'vitest';
import { createTrainer, sgd } from '../../src/index.js';
import { chunkBatch, createMessage, produce, TINY, TRAINING_MODES, useServers } from '../helpers/server.js';
import type { Msg } from '../helpers/ws-client.js';

vi.mock('../../src/nn/wasm/module.js', async (original) => ({ ...(await original<typeof import('../../src/nn/wasm/module.js')>()), kernelModule: () => undefined }));

const { start, connect } = useServers();

describe.each(TRAINING_MODES)('where the wasm kernels cannot run, sessions trained $mode', ({ trainingThreads }) => {
  it('answer kernels "wasm" with E_KERNELS, and train auto with the js kernels', async () => {
    const c = await connect(await start({ trainingThreads }));
    expect(await c.request(createMessage('w', { kernels: 'wasm' }))).toMatchObject({
      type: 'error',
      code: 'E_KERNELS',
      message: 'Expected WebAssembly SIMD128 and shared memory for the wasm kernels, but this runtime lacks one of them: use kernels "js"',
    });
    expect(await c.ok(createMessage('a'))).toMatchObject({ kernels: 'js', threads: 1 });
    await produce(c, 'a', 4, 8);
    const snap = await c.ok({ type: 'snapshot', session: 'a' });
    const t = createTrainer({ model: TINY, loss: 'crossEntropy', optimizer: sgd({ lr: 0.1 }), batchSize: 4, sliceMs: Infinity, kernels: 'js' });
    for (let k = 0; k < 4; k++) t.push(chunkBatch(k, 8));
    t.end();
    expect((snap['model']['layers'] as Msg[]).flatMap((l) => [Buffer.from(l['w']['data'] as Uint8Array), Buffer.from(l['b']['data'] as Uint8Array)])).toEqual(
      t.model.layers.flatMap((l) => [Buffer.from(l.w.buffer, l.w.byteOffset, l.w.byteLength), Buffer.from(l.b.buffer, l.b.byteOffset, l.b.byteLength)]),
    );
  }, 30_000);
});
