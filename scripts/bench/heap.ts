/**
 * Allocation check of the fast path: heap used before and after 10,000 W2 steps with
 * `createStepper` (the bench's own batch loop included). With --expose-gc the heap is measured
 * after a full GC on both sides, and the GCs that ran during the steps are counted: no GC and no
 * growth means the steady-state step allocates nothing.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { livegradTrainer } from './livegrad.js';
import { WORKLOADS } from './workloads.js';

export interface HeapReport {
  readonly steps: number;
  readonly gcExposed: boolean;
  /** heapUsed (bytes) after a GC, before the steps. */
  readonly before: number;
  /** heapUsed right after the steps, before any GC we trigger. */
  readonly afterSteps: number;
  /** heapUsed after a GC, after the steps. */
  readonly afterGc: number;
  /** GCs V8 ran by itself during the steps. */
  readonly gcsDuringSteps: number;
}

function fullGc(): boolean {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return false;
  gc();
  gc();
  return true;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export async function heapCheck(steps = 10_000): Promise<HeapReport> {
  const trainer = livegradTrainer(WORKLOADS.W2);
  trainer.run(2_000); // grow the buffers, let the JIT settle
  let gcs = 0;
  const observer = new PerformanceObserver((list) => {
    gcs += list.getEntries().length;
  });
  const gcExposed = fullGc();
  observer.observe({ entryTypes: ['gc'] });
  await tick(); // deliver any GC entry from before the steps, then forget it
  gcs = 0;
  const before = process.memoryUsage().heapUsed;
  trainer.run(steps);
  const afterSteps = process.memoryUsage().heapUsed;
  await tick();
  const gcsDuringSteps = gcs;
  observer.disconnect();
  fullGc();
  const afterGc = process.memoryUsage().heapUsed;
  return { steps, gcExposed, before, afterSteps, afterGc, gcsDuringSteps };
}
