/**
 * `npm run bench`'s heap check: it runs in a process of its own (the bench's own process made
 * steppers for other checks), where a W2 stepper's steady-state step allocates next to nothing,
 * then again there with a second stepper, whose cost it reports beside.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('npm run bench, its heap check', () => {
  it('reports the allocation of a step alone in its process, then with a second stepper', () => {
    // --expose-gc: the bench does not re-run itself to get gc (one process less)
    const args = ['--expose-gc', '--import', 'tsx', 'scripts/bench.ts', '--only', 'W2', '--impl', 'livegrad', '--runs', '1', '--run-seconds', '0.01', '--warmup-seconds', '0.05', '--no-accuracy'];
    const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const alone = /^ {2}sampled allocation: ([\d.,]+) B\/step/m.exec(r.stdout);
    const beside = /^ {2}the same check again in that process, with a second stepper: ([\d.,]+) B\/step sampled/m.exec(r.stdout);
    expect(alone, r.stdout).not.toBeNull();
    expect(beside, r.stdout).not.toBeNull();
    // a few bytes a step at most (a double boxed while a function is not yet optimised, the profiler's own messages)
    expect(Number(alone![1]!.replace(/,/g, ''))).toBeLessThan(64);
    expect(r.stdout).toMatch(/^heap, W2 livegrad createStepper, 10,000 steps \(heapUsed after a forced full GC\):$/m);
  });
});
