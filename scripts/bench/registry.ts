/**
 * The (workload, impl) runners the bench knows. To add an impl, write a file beside this one that
 * exports its runners (see livegrad.ts for the smallest) and append them to RUNNERS: the bench
 * measures every runner of a workload side by side, in the same process run.
 */
import { floorRunners } from './floor.js';
import { livegradRunners } from './livegrad.js';
import { numpyRunners } from './numpy.js';
import { rxRunners } from './rx.js';
import { tfjsRunners } from './tfjs.js';
import type { Workload, WorkloadId } from './workloads.js';

/** A model being trained on one workload's batch stream, from the workload's initial weights. */
export interface Trainer {
  /** Runs `steps` training steps (forward, loss, backward, update) and returns the samples trained on. */
  run(steps: number): number | Promise<number>;
  /** Loss of the last step run (the batch's loss before that step's update). */
  loss(): number | Promise<number>;
  /** Frees what the trainer holds (tfjs tensors, …). */
  dispose?(): void;
}

export interface Runner {
  readonly workload: WorkloadId;
  /** Stable name in the output: `livegrad`, `tfjs-cpu`, `tfjs-wasm`, `floor`, … */
  readonly impl: string;
  setup(w: Workload): Promise<Trainer>;
}

/**
 * Table order; livegrad first, it is the numerator of every ratio. numpy (a python child process)
 * runs only where `python3` with numpy is found: the bench leaves it out, with a line why, when not.
 */
export const RUNNERS: readonly Runner[] = [...livegradRunners, ...rxRunners, ...floorRunners, ...tfjsRunners, ...numpyRunners];

export function selectRunners(workloads: readonly WorkloadId[], impls?: readonly string[]): Runner[] {
  return RUNNERS.filter((r) => workloads.includes(r.workload) && (!impls || impls.includes(r.impl)));
}
