/**
 * Tokens and origins, decided in the HTTP upgrade: 401 / 403 before any WebSocket opens; a read
 * token reads but cannot produce; the producer token does both.
 */
import { describe, expect, it } from 'vitest';
import { createMessage, samples, useServers } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';

const { start, connect } = useServers();
const tokens = { producerToken: 'p-token', readToken: 'r-token' };

describe('auth', () => {
  it('answers 401 with a JSON error, without opening a WebSocket, when no token is given', async () => {
    const server = await start(tokens);
    const refused = TestClient.connect(server.url);
    await expect(refused).rejects.toMatchObject({ status: 401 });
    const body = JSON.parse(((await refused.catch((e: unknown) => e)) as { body: string }).body) as Record<string, unknown>;
    expect(body).toMatchObject({ type: 'error', code: 'E_UNAUTHORIZED' });
    const health = (await (await fetch(`http://127.0.0.1:${server.port}/healthz`)).json()) as { connections: number };
    expect(health.connections).toBe(0);
  });

  it('answers 401 to a token that matches neither', async () => {
    const server = await start(tokens);
    await expect(TestClient.connect(server.url, { token: 'guess' })).rejects.toMatchObject({ status: 401 });
  });

  it('lets a read token subscribe but not send samples, create or control', async () => {
    const server = await start(tokens);
    const producer = await connect(server, { token: 'p-token' });
    await producer.ok(createMessage('s'));
    const reader = await connect(server, { token: 'r-token' });
    expect((await reader.waitFor((m) => m['type'] === 'welcome'))['permissions']).toEqual({ produce: false, read: true });
    await reader.ok({ type: 'subscribe', session: 's', topics: ['step'] });
    reader.send(samples('s', 0, 4));
    expect(await reader.waitFor((m) => m['type'] === 'error')).toMatchObject({ code: 'E_FORBIDDEN', ref: 0, session: 's' });
    expect((await reader.request(createMessage('t')))['code']).toBe('E_FORBIDDEN');
    expect((await reader.request({ type: 'control', session: 's', control: { action: 'pause' } }))['code']).toBe('E_FORBIDDEN');
    expect((await reader.request({ type: 'close', session: 's' }))['code']).toBe('E_FORBIDDEN');
    expect((await reader.ok({ type: 'predict', session: 's', x: [[0, 0, 0, 0]] }))['type']).toBe('prediction');
    producer.send(samples('s', 0, 4));
    await reader.waitFor((m) => m['type'] === 'step' && m['step'] === 1);
  });

  it('takes the token from the query string too (browsers cannot set headers)', async () => {
    const server = await start(tokens);
    const c = await connect(server, { query: '?token=p-token' });
    expect((await c.waitFor((m) => m['type'] === 'welcome'))['permissions']).toEqual({ produce: true, read: true });
    await c.ok(createMessage('s'));
  });

  it('leaves an action class open when its token is not set', async () => {
    const server = await start({ producerToken: 'p-token' });
    const anyone = await connect(server);
    expect((await anyone.waitFor((m) => m['type'] === 'welcome'))['permissions']).toEqual({ produce: false, read: true });
    expect((await anyone.request(createMessage('s')))['code']).toBe('E_FORBIDDEN');
    expect((await anyone.ok({ type: 'list' }))['sessions']).toEqual([]);
  });

  it('answers 403 to an Origin outside the allow-list, and admits listed or absent ones', async () => {
    const server = await start({ origins: ['http://dash.example'] });
    await expect(TestClient.connect(server.url, { headers: { origin: 'http://evil.example' } })).rejects.toMatchObject({ status: 403 });
    await connect(server, { headers: { origin: 'http://dash.example' } });
    await connect(server);
  });
});
