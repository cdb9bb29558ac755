/**
 * Timing: warm-up, then interleaved timed runs, compared in pairs.
 *
 * Every runner of a workload is warmed up, then the measurement goes in rounds; a round runs every
 * runner once, for about `runSeconds` each. The order alternates from round to round (livegrad,
 * floor, tfjs-wasm, then tfjs-wasm, floor, livegrad, …), so that no runner always follows the same
 * other one: what a run leaves behind (garbage to collect, a cold cache) falls on its neighbours
 * alike, and a trend of the host (a neighbour starting up) does not favour whoever runs first.
 *
 * - Throughput: the median of a runner's runs.
 * - Ratio to livegrad: the median over the rounds of livegrad's rate ÷ this runner's rate in that
 *   round. NOTE: a paired ratio, not the ratio of the two medians. The two runs of a round are
 *   close in time, so a slow phase of this shared 2-core host (another process, the frequency of
 *   the core) mostly slows both and cancels out of their quotient; the median then drops the
 *   rounds where a slow phase fell on one run only. The ratio of the two medians keeps the phases
 *   as they fell on each runner: for W2 through train() it read 93–109 % in four invocations of
 *   13 runs of 0.5 s, where the paired ratio of the same runs read 95–99 %.
 * - Many short runs (bench defaults: 45 of 0.1 s) rather than a few long ones, for the same
 *   reason: the shorter a round, the more often a slow phase covers both of its runs. Over four
 *   invocations each, the paired W2 ratio spread over 1.0 point with 45 runs of 0.1 s and over
 *   4.3 points with 13 runs of 0.5 s. A run of train() is not penalised for being short: its
 *   rate was the same in runs of 30 ms and of 300 ms, alone or interleaved with the bare loop.
 *
 * A run is as many steps as fit in `runSeconds` at the warm-up's rate (at least one), so slow peers
 * (tfjs-cpu on W3) run few steps and the whole bench stays time-bounded. Nothing is left out: every
 * run of every round counts in both medians.
 */
import type { Runner, Trainer } from './registry.js';
import type { Workload } from './workloads.js';

export interface MeasureOptions {
  readonly warmupSeconds: number;
  readonly runs: number;
  readonly runSeconds: number;
}

export interface Measurement {
  readonly impl: string;
  /** Median over the runs: steps/s for W1, samples/s otherwise. */
  readonly perSecond: number;
  /** Every run's rate, in round order. */
  readonly rates: readonly number[];
  readonly stepsPerRun: number;
  /** Median over the rounds of livegrad's rate ÷ this runner's rate in the same round; undefined without a livegrad runner. */
  readonly livegradRatio: number | undefined;
}

interface Timed {
  readonly seconds: number;
  readonly samples: number;
}

async function timed(t: Trainer, steps: number): Promise<Timed> {
  const t0 = performance.now();
  const samples = await t.run(steps);
  return { seconds: (performance.now() - t0) / 1000, samples };
}

function rate(w: Workload, steps: number, r: Timed): number {
  return (w.throughput === 'steps/s' ? steps : r.samples) / r.seconds;
}

/** Runs chunks of steps for `seconds`; returns the steps per second of the last chunk. */
async function warmUp(t: Trainer, seconds: number): Promise<number> {
  let spent = 0, steps = 1, stepsPerSecond = 0;
  while (spent < seconds) {
    const r = await timed(t, steps);
    spent += r.seconds;
    stepsPerSecond = steps / r.seconds;
    steps = Math.max(1, Math.round(stepsPerSecond * Math.min(seconds / 4, seconds - spent)));
  }
  return stepsPerSecond;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Measures every runner of one workload side by side. `log` gets progress lines. */
export async function measureWorkload(w: Workload, runners: readonly Runner[], o: MeasureOptions, log: (line: string) => void): Promise<Measurement[]> {
  const cells: { runner: Runner; trainer: Trainer; steps: number; rates: number[] }[] = [];
  for (const runner of runners) {
    const trainer = await runner.setup(w);
    const stepsPerSecond = await warmUp(trainer, o.warmupSeconds);
    const steps = Math.max(1, Math.round(stepsPerSecond * o.runSeconds));
    log(`${w.id} ${runner.impl}: warm, ${steps} steps per run`);
    cells.push({ runner, trainer, steps, rates: [] });
  }
  for (let r = 0; r < o.runs; r++) {
    const order = r % 2 === 0 ? cells : [...cells].reverse();
    for (const c of order) c.rates.push(rate(w, c.steps, await timed(c.trainer, c.steps)));
  }
  for (const c of cells) c.trainer.dispose?.();
  const lg = cells.find((c) => c.runner.impl === 'livegrad');
  return cells.map((c) => ({
    impl: c.runner.impl,
    perSecond: median(c.rates),
    rates: c.rates,
    stepsPerRun: c.steps,
    livegradRatio: lg === undefined ? undefined : median(c.rates.map((x, r) => lg.rates[r]! / x)),
  }));
}
