/**
 * Timing: warm-up, then interleaved timed runs. Every runner of a workload is warmed up, then the
 * runs go round-robin (livegrad, floor, tfjs-wasm, tfjs-cpu, livegrad, …) so that a noisy moment on
 * this shared machine hits every impl alike; the result is the median of the runs.
 * A run is as many steps as fit in `runSeconds` at the warm-up's rate (at least one), so slow peers
 * (tfjs-cpu on W3) run few steps and the whole bench stays time-bounded.
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
  /** Every run's rate, in run order. */
  readonly rates: readonly number[];
  readonly stepsPerRun: number;
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
    for (const c of cells) c.rates.push(rate(w, c.steps, await timed(c.trainer, c.steps)));
  }
  for (const c of cells) c.trainer.dispose?.();
  return cells.map((c) => ({ impl: c.runner.impl, perSecond: median(c.rates), rates: c.rates, stepsPerRun: c.steps }));
}
