/**
 * Graceful shutdown: SIGTERM to a `livegrad serve` child process stops accepting, ends sessions at
 * a batch boundary (subscribers see `completed` with reason "shutdown"), closes sockets with 1001
 * and exits 0. `close()` of an in-process server does the same. So do `npm run serve` and
 * `npm start` when the signal goes to npm, as process managers send it, or to the whole process
 * group, as a terminal's Ctrl-C does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect as tcpConnect } from 'node:net';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, useCli } from '../helpers/cli.js';
import { createMessage, produce, useServers } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';

const { serve } = useCli();
const { start } = useServers();

/** `npm …` in a process group of its own (so that the group can be signalled, and killed after each test). */
const groups: ChildProcess[] = [];
afterEach(() => {
  for (const g of groups.splice(0)) {
    try {
      process.kill(-g.pid!, 'SIGKILL');
    } catch {
      // the group has already exited: nothing left to kill
    }
  }
});

interface NpmRun {
  readonly npm: ChildProcess;
  readonly port: number;
  readonly lines: string[];
  readonly exited: Promise<number | null>;
}

/** Runs `npm <args>` and resolves once a stdout line gives the port (`pattern`'s first group). */
function npmRun(args: readonly string[], pattern: RegExp): Promise<NpmRun> {
  const npm = spawn('npm', args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, LIVEGRAD_PRODUCER_TOKEN: '', LIVEGRAD_READ_TOKEN: '' } });
  groups.push(npm);
  const lines: string[] = [];
  const exited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
  npm.stderr!.on('data', (d: Buffer) => lines.push(d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm ${args.join(' ')} did not start within 20 s: ${lines.join('\n')}`)), 20_000);
    void exited.then((code) => reject(new Error(`npm ${args.join(' ')} exited early with ${code}: ${lines.join('\n')}`)));
    createInterface({ input: npm.stdout! }).on('line', (line) => {
      lines.push(line);
      const m = pattern.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve({ npm, port: Number(m[1]), lines, exited });
      }
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** `p`, or a rejection naming `what` after `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: still running after ${ms} ms`)), ms))]);
}

/** True once no process of the group is left. */
function groupGone(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return false;
  } catch {
    return true;
  }
}

const SERVE = ['run', 'serve', '--', '--port', '0', '--log-level', 'info'];
const LISTENING = /"msg":"listening".*"port":(\d+)/;

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

  it.each(['SIGTERM', 'SIGINT'] as const)('npm run serve: %s to npm stops the server, and npm exits 0', async (signal) => {
    const { npm, port, lines, exited } = await npmRun(SERVE, LISTENING);
    const c = await TestClient.connect(`ws://127.0.0.1:${port}/ws`);
    await c.ok(createMessage('s'));
    await produce(c, 's', 5, 4);
    npm.kill(signal); // what systemd (KillMode=mixed) and docker stop do: signal the process they started
    expect((await within(c.closed, 10_000, 'the socket')).code).toBe(1001);
    expect(await within(exited, 10_000, 'npm')).toBe(0);
    expect(await accepts(port)).toBe(false);
    await expect.poll(() => groupGone(npm.pid!), { timeout: 5000 }).toBe(true);
    expect(lines.join('\n')).toContain('"msg":"stopped"');
  }, 40_000);

  it.each(['SIGINT', 'SIGTERM'] as const)('npm run serve: %s to the whole process group (Ctrl-C, systemd\'s control-group stop) is one request to stop, not two', async (signal) => {
    const { npm, port, lines, exited } = await npmRun(SERVE, LISTENING);
    const c = await TestClient.connect(`ws://127.0.0.1:${port}/ws`);
    await c.ok(createMessage('s'));
    await c.ok({ type: 'subscribe', session: 's', topics: ['lifecycle'] });
    await produce(c, 's', 5, 4);
    // the server gets the signal from the kernel, and npm relays its own copy a few ms later
    process.kill(-npm.pid!, signal);
    expect(await within(c.closed, 10_000, 'the socket')).toEqual({ code: 1001, reason: 'E_SHUTTING_DOWN: server shutting down' });
    expect(c.of('lifecycle', 's').at(-1)).toMatchObject({ state: 'completed', reason: 'shutdown' });
    expect(await within(exited, 10_000, 'npm')).toBe(0);
    expect(lines.join('\n')).not.toContain('second signal');
    await expect.poll(() => groupGone(npm.pid!), { timeout: 5000 }).toBe(true);
  }, 40_000);

  it('npm start (the demo): SIGTERM to npm stops the server and the producer, and npm exits 0', async () => {
    const { npm, port, exited } = await npmRun(['start', '--', '--port', '0', '--epochs', '2', '--rate', '400'], /dashboard at http:\/\/127\.0\.0\.1:(\d+)\//);
    // once the producer streams (the digits session trains), not while it is still creating sessions
    await expect
      .poll(async () => Number(/livegrad_session_steps\{session="digits"\} (\d+)/.exec(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())?.[1] ?? 0), { timeout: 20_000 })
      .toBeGreaterThan(0);
    npm.kill('SIGTERM');
    expect(await within(exited, 10_000, 'npm')).toBe(0);
    expect(await accepts(port)).toBe(false);
    await expect.poll(() => groupGone(npm.pid!), { timeout: 5000 }).toBe(true);
  }, 60_000);

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
