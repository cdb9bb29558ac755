/**
 * Graceful shutdown: SIGTERM to a `livegrad serve` child process stops accepting, ends sessions at
 * a batch boundary (subscribers see `completed` with reason "shutdown"), closes sockets with 1001
 * and exits 0. `close()` of an in-process server does the same.
 */
import { describe, expect, it } from 'vitest';
import { useCli } from '../helpers/cli.js';
import { createMessage, produce, useServers } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';

const { serve } = useCli();
const { start } = useServers();

describe('shutdown', () => {
  it('exits 0 on SIGTERM after closing sockets with 1001 and completing sessions', async () => {
    const { child, port, lines } = await serve();
    const c = await TestClient.connect(`ws://127.0.0.1:${port}/ws`);
    await c.ok(createMessage('s'));
    await c.ok({ type: 'subscribe', session: 's', topics: ['step', 'lifecycle'] });
    await produce(c, 's', 10, 4);
    await c.waitFor((m) => m['type'] === 'step' && m['step'] === 10);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    const closed = await c.closed;
    expect(closed).toEqual({ code: 1001, reason: 'E_SHUTTING_DOWN: server shutting down' });
    expect(c.of('lifecycle', 's').at(-1)).toMatchObject({ state: 'completed', reason: 'shutdown', step: 10 });
    expect(await exited).toBe(0);
    const msgs = lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(msgs).toEqual(expect.arrayContaining(['listening', 'signal', 'shutting down', 'stopped']));
  }, 30_000);

  it('exits 0 on SIGINT too', async () => {
    const { child } = await serve();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  }, 30_000);

  it('close() refuses new connections, reports shutting-down, and closes every socket with 1001', async () => {
    const server = await start();
    const a = await TestClient.connect(server.url);
    const b = await TestClient.connect(server.url);
    await a.ok(createMessage('s'));
    const closing = server.close();
    await expect(TestClient.connect(server.url)).rejects.toBeDefined();
    await closing;
    expect((await a.closed).code).toBe(1001);
    expect((await b.closed).code).toBe(1001);
    await server.close(); // idempotent
  });
});
