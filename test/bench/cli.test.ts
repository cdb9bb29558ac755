/**
 * `npm run bench`'s command line: `--help` prints the options and exits 0; a wrong option or impl
 * says which, with the usage, and exits 2, without a stack trace and without measuring anything.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

function bench(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  // --expose-gc: the bench does not re-run itself to get gc (one process less)
  return spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', 'scripts/bench.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 30_000 });
}

describe('npm run bench, its options', () => {
  it('--help prints every option and every impl, and exits 0', () => {
    const r = bench('--help');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^usage: npm run bench/);
    for (const option of ['--only', '--impl', '--json', '--check', '--runs', '--run-seconds', '--warmup-seconds', '--no-heap', '--no-accuracy', '--no-server', '--no-record']) expect(r.stdout).toContain(option);
    for (const impl of ['livegrad', 'livegrad-1thread', 'livegrad-ts', 'livegrad-rx', 'floor', 'tfjs-wasm', 'tfjs-cpu', 'numpy']) expect(r.stdout).toContain(impl);
  });

  it.each([
    [['--frobnicate'], 'got --frobnicate'],
    [['--impl', 'livegrd'], 'Expected impls among livegrad, livegrad-1thread'],
    [['--only', 'W9'], 'Expected workloads among W1, W2, W3, server, record, got W9'],
    [['--runs', '0'], 'Expected --runs to be a number > 0, got 0'],
  ])('%j is refused by name, with the usage, exit 2', (args, message) => {
    const r = bench(...args);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`bench: `);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain('usage: npm run bench');
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});
