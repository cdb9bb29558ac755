/**
 * The bench's timing (scripts/bench/measure.ts), on a clock the fake runners advance themselves:
 * the order of the runs in a round, and the ratio to livegrad as the median of per-round ratios.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { measureWorkload } from '../../scripts/bench/measure.js';
import type { Runner } from '../../scripts/bench/registry.js';
import { WORKLOADS } from '../../scripts/bench/workloads.js';

let clock = 0; // ms
afterEach(() => {
  vi.restoreAllMocks();
});

/** A runner whose steps take `msPerStep` × the current load, and that logs when it runs. */
function fakeRunner(impl: string, msPerStep: number, load: () => number, log: string[]): Runner {
  return {
    workload: 'W2',
    impl,
    setup: async () => ({
      run(steps) {
        log.push(impl);
        clock += steps * msPerStep * load();
        return steps * 32;
      },
      loss: () => 0,
    }),
  };
}

const OPTIONS = { warmupSeconds: 1, runs: 9, runSeconds: 0.1 };

describe('measureWorkload', () => {
  it('runs every runner once a round, the order reversed every other round', async () => {
    vi.spyOn(performance, 'now').mockImplementation(() => clock);
    const log: string[] = [];
    const runners = ['livegrad', 'livegrad-rx', 'floor'].map((impl) => fakeRunner(impl, 1, () => 1, log));
    const results = await measureWorkload(WORKLOADS.W2, runners, { ...OPTIONS, runs: 4 }, () => {});
    const rounds = log.slice(-12);
    expect(rounds).toEqual(['livegrad', 'livegrad-rx', 'floor', 'floor', 'livegrad-rx', 'livegrad', 'livegrad', 'livegrad-rx', 'floor', 'floor', 'livegrad-rx', 'livegrad']);
    expect(results.map((r) => r.rates.length)).toEqual([4, 4, 4]);
  });

  it('gives the ratio to livegrad as the median of the per-round ratios', async () => {
    vi.spyOn(performance, 'now').mockImplementation(() => clock);
    // rx takes 1.25 × livegrad's time a step; in rounds 2 and 6 one of the two runs is slowed down
    const slow: Record<string, number> = { 'livegrad-rx@2': 3, 'livegrad@6': 2 };
    const measured = new Map<string, number>(); // measured runs so far, by impl
    const runner = (impl: string, msPerStep: number, stepsPerRun: number): Runner => ({
      workload: 'W2',
      impl,
      setup: async () => ({
        run(steps) {
          let load = 1;
          if (steps === stepsPerRun) {
            const round = measured.get(impl) ?? 0;
            measured.set(impl, round + 1);
            load = slow[`${impl}@${round}`] ?? 1;
          }
          clock += steps * msPerStep * load;
          return steps * 32;
        },
        loss: () => 0,
      }),
    });
    // warm-up at 1 and 1.25 ms a step: runs of 0.1 s are 100 and 80 steps
    const [lg, rx] = await measureWorkload(WORKLOADS.W2, [runner('livegrad', 1, 100), runner('livegrad-rx', 1.25, 80)], OPTIONS, () => {});
    expect([lg!.stepsPerRun, rx!.stepsPerRun]).toEqual([100, 80]);
    const perRound = lg!.rates.map((x, r) => x / rx!.rates[r]!);
    expect(perRound.map((q) => Math.round(q * 1000) / 1000)).toEqual([1.25, 1.25, 3.75, 1.25, 1.25, 1.25, 0.625, 1.25, 1.25]);
    expect(rx!.livegradRatio).toBeCloseTo(1.25, 12);
    expect(lg!.livegradRatio).toBe(1);
  });

  it('gives no ratio without a livegrad runner', async () => {
    vi.spyOn(performance, 'now').mockImplementation(() => clock);
    const [floor] = await measureWorkload(WORKLOADS.W2, [fakeRunner('floor', 1, () => 1, [])], { ...OPTIONS, runs: 3 }, () => {});
    expect(floor!.livegradRatio).toBeUndefined();
    expect(floor!.perSecond).toBeCloseTo(32_000, 6);
  });
});
