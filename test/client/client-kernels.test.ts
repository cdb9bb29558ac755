/**
 * The client's `create` takes `kernels` as the wire's `create` does (checked before it is sent),
 * `created` and `sessions()` say which kernels a session trains with, and a `snapshot` says so too,
 * for a `create` that goes on from it bit for bit.
 */
import { describe, expect, it } from 'vitest';
import { LivegradError } from '../../src/client/index.js';
import { tinyConfig, useClients } from '../helpers/client.js';

const { start, connect } = useClients();

describe('client: kernels', () => {
  it('creates a session with the kernels asked for; created, sessions() and snapshot() say which', async () => {
    const server = await start();
    const client = await connect(server.url);
    expect(await client.create({ ...tinyConfig('j'), kernels: 'js' })).toMatchObject({ session: 'j', kernels: 'js', threads: 1 });
    expect((await client.sessions()).find((s) => s.session === 'j')).toMatchObject({ kernels: 'js', threads: 1 });
    expect((await client.session('j').snapshot()).kernels).toBe('js');
    const bad = client.create({ ...tinyConfig('b'), kernels: 'gpu' as 'js' });
    await expect(bad).rejects.toThrow(LivegradError);
    await expect(bad).rejects.toMatchObject({ code: 'E_BAD_FIELD', message: 'Expected kernels to be one of auto, wasm, js, got "gpu"' });
  });
});
