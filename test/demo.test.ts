/**
 * `npm start` (scripts/demo.ts): the server comes up with its dashboard and three sessions, trains
 * what the producer streams, and stops cleanly on SIGINT.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('the demo (npm start)', () => {
  it('serves the dashboard, trains its sessions and exits 0 on SIGINT', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', '--port', '0', '--epochs', '3', '--rate', '400'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const lines = createInterface({ input: child.stdout });
      const page = await new Promise<string>((resolve, reject) => {
        lines.on('line', (line) => {
          const m = /dashboard at (http:\/\/\S+)/.exec(line);
          if (m) resolve(m[1]!);
        });
        child.once('exit', () => reject(new Error(`demo exited before serving: ${stderr}`)));
      });
      const html = await (await fetch(page)).text();
      expect(html).toContain('<script type="module" src="/dashboard/dashboard.js">');
      expect((await fetch(new URL('/dashboard/dashboard.css', page))).headers.get('content-type')).toContain('css');
      const js = await fetch(new URL('/dashboard/dashboard.js', page));
      expect(js.headers.get('content-type')).toContain('javascript');
      await expect
        .poll(async () => (await (await fetch(new URL('/healthz', page))).json()) as { sessions: number }, { timeout: 20_000 })
        .toMatchObject({ sessions: 3 });
      // the digits session trains: its step count shows in /metrics
      await expect
        .poll(async () => {
          const text = await (await fetch(new URL('/metrics', page))).text();
          const m = /livegrad_session_steps\{session="digits"\} (\d+)/.exec(text);
          return m ? Number(m[1]) : 0;
        }, { timeout: 20_000 })
        .toBeGreaterThan(10);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('exits 0 on a SIGTERM that comes while it is still creating its sessions', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', '--port', '0', '--epochs', '1'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const lines = createInterface({ input: child.stdout });
      // the signal goes the moment the server is up: before (or while) the producer creates its sessions
      await new Promise<void>((resolve) => lines.on('line', (line) => line.includes('dashboard at') && resolve()));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stderr).not.toMatch(/demo: /);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
