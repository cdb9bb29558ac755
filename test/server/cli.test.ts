/** The `livegrad` command line: tokens from flags or the environment, usage errors, the version. */
import { describe, expect, it } from 'vitest';
import { parseServe } from '../../src/cli.js';
import { useCli } from '../helpers/cli.js';
import { TestClient } from '../helpers/ws-client.js';

const { serve, run } = useCli();

describe('livegrad serve', () => {
  it('takes tokens from the environment: 401 without one, the read token reads but may not produce', async () => {
    const { port } = await serve([], { LIVEGRAD_PRODUCER_TOKEN: 'env-p', LIVEGRAD_READ_TOKEN: 'env-r' });
    const url = `ws://127.0.0.1:${port}/ws`;
    await expect(TestClient.connect(url)).rejects.toMatchObject({ status: 401 });
    const reader = await TestClient.connect(url, { token: 'env-r' });
    try {
      expect((await reader.waitFor((m) => m['type'] === 'welcome'))['permissions']).toEqual({ produce: false, read: true });
    } finally {
      reader.terminate();
    }
  }, 30_000);

  it('takes tokens from flags, over the environment', async () => {
    const { port } = await serve(['--producer-token', 'flag-p'], { LIVEGRAD_PRODUCER_TOKEN: 'env-p' });
    const url = `ws://127.0.0.1:${port}/ws`;
    await expect(TestClient.connect(url, { token: 'env-p' })).rejects.toMatchObject({ status: 401 });
    const producer = await TestClient.connect(url, { token: 'flag-p' });
    producer.terminate();
  }, 30_000);

  it('parses every serve option into server options', () => {
    const { options, level } = parseServe(
      ['--host', '0.0.0.0', '--port', '0', '--origin', 'http://a', '--origin', 'http://b', '--max-payload', '1000', '--max-sessions', '3', '--max-connections', '9', '--heartbeat', '500', '--inline-training', '--log-level', 'warn'],
      { LIVEGRAD_READ_TOKEN: 'r' },
    );
    expect(options).toMatchObject({ host: '0.0.0.0', port: 0, origins: ['http://a', 'http://b'], maxPayload: 1000, maxSessions: 3, maxConnections: 9, heartbeatMs: 500, trainingThreads: false, readToken: 'r' });
    expect(level).toBe('warn');
    expect(parseServe(['--training-threads'], {}).options.trainingThreads).toBe(true);
    expect(parseServe([], {}).options.trainingThreads).toBeUndefined(); // the server's default, by the number of CPUs
  });

  it('answers a bad option with the usage and exit code 2, and --version with the version', () => {
    const bad = run(['serve', '--prot', '1']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('Expected an option of serve (see --help), got --prot');
    expect(bad.stderr).toContain('Usage: livegrad serve');
    const help = run(['serve', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: livegrad serve');
    const v = run(['--version']);
    expect(v.status).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  }, 30_000);
});
