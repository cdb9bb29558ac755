/**
 * `livegrad watch URL --session NAME`: a terminal that follows a session, as lines or JSON lines,
 * until the session completes.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { createMessage, produce, useServers } from '../helpers/server.js';
import type { Msg, TestClient } from '../helpers/ws-client.js';

const { start, connect } = useServers();

/** Runs `livegrad watch …args` to its end: exit code, stdout, stderr. */
function watch(args: readonly string[], whileRunning: () => Promise<void> = async () => undefined): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'watch', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return whileRunning()
    .then(() => exited)
    .then((code) => ({ code, stdout, stderr }))
    .finally(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
}

/** Waits until the session has a subscriber (the watch has subscribed). */
async function subscribed(c: TestClient): Promise<void> {
  await expect.poll(async () => (((await c.ok({ type: 'list' }))['sessions'] as Msg[]).find((s) => s['session'] === 's')?.['subscribers'] as number) ?? 0, { timeout: 20_000 }).toBeGreaterThan(0);
}

describe('livegrad watch', () => {
  it('--jsonl writes every event as a JSON line, steps in order, and ends when the session completes', async () => {
    const server = await start();
    const c = await connect(server);
    await c.ok(createMessage('s', { events: { metricsEvery: 5, weightsEvery: 10 } }));
    const r = await watch([server.url, '--session', 's', '--jsonl'], async () => {
      await subscribed(c);
      await produce(c, 's', 10, 8);
      await c.ok({ type: 'close', session: 's', drain: true });
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Msg);
    expect(events.filter((e) => e['type'] === 'step').map((e) => e['step'])).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(events.filter((e) => e['type'] === 'metrics').map((e) => e['step'])).toEqual([5, 10, 15, 20]);
    // (weights conflate to the newest and may still be on their way when `completed` ends the watch)
    for (const w of events.filter((e) => e['type'] === 'weights')) expect(Array.isArray(w['layers'][0]['w']['data'])).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: 'lifecycle', state: 'completed' });
  });

  it('prints one line per metrics event, then how the session ended; an unknown session is exit 1 naming it', async () => {
    const server = await start();
    const c = await connect(server);
    await c.ok(createMessage('s', { events: { metricsEvery: 10 } }));
    const r = await watch([server.url, '--session', 's'], async () => {
      await subscribed(c);
      await produce(c, 's', 10, 8);
      await c.ok({ type: 'close', session: 's', drain: true });
    });
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^step 10 {2}loss \d+\.\d{4} {2}accuracy \d+\.\d%$/);
    expect(lines[1]).toMatch(/^step 20 {2}loss \d+\.\d{4} {2}accuracy \d+\.\d% {2}\d+ steps\/s$/);
    expect(lines.at(-1)).toBe('step 20  completed');

    const missing = await watch([server.url, '--session', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/E_UNKNOWN_SESSION|nope/);
    const bad = await watch([server.url]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Expected --session NAME');
  });
});
