/**
 * The numpy peer (scripts/bench/numpy.ts and numpy.py): its losses equal livegrad's from the same
 * weights and batches, its rows go by its own clock, and the bench goes on without it, saying why,
 * where python or numpy is missing. The loss tests need python3 with numpy (Debian's
 * python3-numpy) and are skipped, with the reason in their name, without.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Measurement } from '../../scripts/bench/measure.js';
import { LOSS_TOLERANCE, checkLosses, numpyLine, onPythonClock, probeNumpy } from '../../scripts/bench/numpy.js';
import type { Trainer } from '../../scripts/bench/registry.js';
import { WORKLOADS, type Workload } from '../../scripts/bench/workloads.js';
import { createStepper, sgd } from '../../src/index.js';

const probe = probeNumpy();
const hasNumpy = probe.ok;
const skipped = probe.ok ? '' : ` (skipped: ${probe.reason})`;
const root = fileURLToPath(new URL('../..', import.meta.url));

/** livegrad in process on its TypeScript kernels (the reference), as the bench's livegrad rows train. */
function typescriptTrainer(w: Workload): Trainer {
  const stepper = createStepper(w.model(), { loss: w.loss, optimizer: sgd({ lr: w.lr }) }, undefined, w.batch, { kernels: 'js' });
  const batches = w.batches();
  let last = NaN;
  return {
    run(steps) {
      let samples = 0;
      for (let s = 0; s < steps; s++) {
        const m = batches.next();
        last = stepper.step(batches.x, { labels: w.loss !== 'sse', data: w.loss === 'sse' ? batches.onehot : batches.labels }, m).loss;
        samples += m;
      }
      return samples;
    },
    loss: () => last,
    dispose: () => stepper.close(),
  };
}

describe('checkLosses', () => {
  it.skipIf(!hasNumpy)(`gives numpy's W1 and W2 losses equal to livegrad's (TypeScript kernels) at each of 5 steps, to float32 rounding${skipped}`, async () => {
    for (const w of [WORKLOADS.W1, WORKLOADS.W2]) {
      const c = await checkLosses(w, 5, undefined, typescriptTrainer);
      expect(c.numpy).toHaveLength(5);
      c.livegrad.forEach((l, s) => {
        expect(Number.isFinite(l)).toBe(true);
        expect(Math.abs(c.numpy[s]! - l), `${w.id} step ${s + 1}: numpy ${c.numpy[s]}, livegrad ${l}`).toBeLessThanOrEqual(LOSS_TOLERANCE * Math.abs(l));
      });
      // the steps train: a loss that stood still would agree without checking much
      expect(c.livegrad[4]).not.toBe(c.livegrad[0]);
    }
  });

  it.skipIf(!hasNumpy)(`keeps OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE from the child alone${skipped}`, () => {
    const saved = { ...process.env };
    Object.assign(process.env, { OPENBLAS_CORETYPE: 'Prescott', OPENBLAS_L2_SIZE: '262144', OPENBLAS_VERBOSE: '0' });
    try {
      const p = probeNumpy();
      expect(p.ok && p.openblas_env).toEqual({ OPENBLAS_VERBOSE: '0' });
      expect(process.env['OPENBLAS_CORETYPE']).toBe('Prescott');
    } finally {
      for (const k of ['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE', 'OPENBLAS_VERBOSE']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  });
});

describe('probeNumpy', () => {
  it('says the peer is skipped, and why, when the python executable is missing', () => {
    const p = probeNumpy('/nonexistent/python3');
    expect(p).toEqual({ ok: false, reason: '/nonexistent/python3 not found' });
    expect(numpyLine(p)).toBe('numpy peer skipped: /nonexistent/python3 not found');
  });
});

describe('onPythonClock', () => {
  const m: Measurement = { impl: 'numpy', perSecond: 90, rates: [90, 80, 100], stepsPerRun: 10, livegradRatio: 2 };
  const livegrad: Measurement = { impl: 'livegrad', perSecond: 200, rates: [200, 300, 200], stepsPerRun: 10, livegradRatio: 1 };
  const runs = [0.5, 1, 2].map((seconds) => ({ steps: 10, samples: 320, seconds, loss: 1 }));

  it("takes numpy's rates from its own clock and pairs each round with livegrad's", () => {
    const r = onPythonClock(m, runs, WORKLOADS.W2, livegrad);
    expect(r.rates).toEqual([640, 320, 160]);
    expect(r.perSecond).toBe(320);
    // rounds: 200/640, 300/320, 200/160; their median, not livegrad's median ÷ numpy's (200/320)
    expect(r.livegradRatio).toBeCloseTo(300 / 320, 12);
    expect(r.benchClockPerSecond).toBe(90);
  });

  it('counts steps for W1 (steps/s), and refuses a count of runs that does not match', () => {
    expect(onPythonClock(m, runs, WORKLOADS.W1, undefined).rates).toEqual([20, 10, 5]);
    expect(() => onPythonClock(m, runs.slice(1), WORKLOADS.W2, livegrad)).toThrow(RangeError);
  });
});

describe('npm run bench without python', () => {
  it('prints one line saying the numpy peer was skipped, and why, and goes on', () => {
    // --expose-gc: the bench does not re-run itself to get gc (one process less)
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', 'scripts/bench.ts', '--only', 'W1', '--impl', 'floor,numpy', '--runs', '1', '--run-seconds', '0.01', '--warmup-seconds', '0.05', '--no-heap', '--no-accuracy'], {
      cwd: root,
      env: { ...process.env, LIVEGRAD_BENCH_PYTHON: '/nonexistent/python3' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines.filter((l) => l.includes('numpy'))).toEqual(['numpy peer skipped: /nonexistent/python3 not found']);
    expect(lines.some((l) => /^W1 seed 3-4-1\s+floor\s/.test(l))).toBe(true);
  });
});
