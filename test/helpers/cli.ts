/**
 * Runs `node --import tsx src/cli.ts …` as a child process (tests only): `serve` resolves with the
 * port from its `listening` log line, `launch` runs any command without blocking; every child is
 * killed after each test.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export function useCli() {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });
  return {
    /** Spawns `serve --port 0 …args` and resolves once it logs `listening`. */
    serve(args: readonly string[] = [], env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; port: number; lines: string[] }> {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--port', '0', '--log-level', 'info', ...args], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, LIVEGRAD_PRODUCER_TOKEN: '', LIVEGRAD_READ_TOKEN: '', ...env },
      });
      children.push(child);
      const lines: string[] = [];
      return new Promise((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`server exited early with ${code}: ${lines.join('\n')}`)));
        child.stderr!.on('data', (d: Buffer) => lines.push(d.toString()));
        createInterface({ input: child.stdout! }).on('line', (line) => {
          lines.push(line);
          const entry = JSON.parse(line) as { msg: string; port?: number };
          if (entry.msg === 'listening') resolve({ child, port: entry.port!, lines });
        });
      });
    },
    /** Spawns `replay …args` (with --serve) and resolves once it logs `listening`. */
    replayServe(args: readonly string[]): Promise<{ child: ChildProcess; port: number; lines: string[] }> {
      return listening(spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'replay', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }), children);
    },
    /**
     * Spawns the CLI with `args` without blocking (a server of the test's own process keeps
     * serving); `done` resolves once it exits, with its status (or signal) and output.
     */
    launch(args: readonly string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; done: Promise<{ status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> } {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, LIVEGRAD_PRODUCER_TOKEN: '', LIVEGRAD_READ_TOKEN: '', ...env },
      });
      children.push(child);
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const done = new Promise<{ status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve, reject) => {
        child.once('error', reject);
        child.once('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
      });
      return { child, done };
    },
    /** Runs the CLI to completion. */
    run(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: ROOT, encoding: 'utf8' });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    },
  };
}

/** Resolves with the port once `child` logs its `listening` JSON line (every line is kept). */
function listening(child: ChildProcess, children: ChildProcess[]): Promise<{ child: ChildProcess; port: number; lines: string[] }> {
  children.push(child);
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`exited early with ${code}: ${lines.join('\n')}`)));
    child.stderr!.on('data', (d: Buffer) => lines.push(d.toString()));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      try {
        const entry = JSON.parse(line) as { msg: string; port?: number };
        if (entry.msg === 'listening') resolve({ child, port: entry.port!, lines });
      } catch {
        // not a log line
      }
    });
  });
}
