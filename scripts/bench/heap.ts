/**
 * Allocation check of the fast path: heap used before and after 10,000 W2 steps with
 * `createStepper`, cycling through one epoch of W2 batches gathered beforehand (so that only the
 * step is measured: the shuffle's generator is not).
 *
 * Two measurements, because heapUsed alone cannot tell garbage from growth:
 * - heapUsed after a full GC (needs --expose-gc) before the steps, right after them, and after
 *   another full GC, with the number of GCs V8 ran by itself meanwhile;
 * - V8's sampling heap profiler over another 10,000 steps, counting every allocation (also those
 *   already collected), which gives bytes per step and the functions that allocate them.
 */
import { Session } from 'node:inspector/promises';
import { PerformanceObserver } from 'node:perf_hooks';
import { createStepper, sgd, type Targets } from '../../src/index.js';
import { WORKLOADS, digits } from './workloads.js';

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
  /** Sampled allocation, bytes per step. */
  readonly sampledBytesPerStep: number;
  /** Where the sampled bytes were allocated: "function (dir/file)", bytes per step; largest first. */
  readonly sites: readonly (readonly [string, number])[];
}

interface ProfileNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly selfSize: number;
  readonly children: readonly ProfileNode[];
}

function fullGc(): boolean {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return false;
  gc();
  gc();
  return true;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Bytes allocated per step over `steps` steps of `run`, and the allocating functions. */
async function sampleAllocations(run: (steps: number) => unknown, steps: number): Promise<{ perStep: number; sites: [string, number][] }> {
  const session = new Session();
  session.connect();
  try {
    await session.post('HeapProfiler.startSampling', { samplingInterval: 32, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    run(steps);
    const { profile } = (await session.post('HeapProfiler.stopSampling')) as unknown as { profile: { head: ProfileNode } };
    const bySite = new Map<string, number>();
    let total = 0;
    const walk = (n: ProfileNode): void => {
      if (n.selfSize > 0) {
        const f = n.callFrame;
        const site = `${f.functionName || '(anonymous)'} (${f.url.split('/').slice(-2).join('/')})`;
        bySite.set(site, (bySite.get(site) ?? 0) + n.selfSize);
        total += n.selfSize;
      }
      n.children.forEach(walk);
    };
    walk(profile.head);
    const sites = [...bySite.entries()].map(([site, bytes]): [string, number] => [site, bytes / steps]).sort((a, b) => b[1] - a[1]);
    return { perStep: total / steps, sites };
  } finally {
    session.disconnect();
  }
}

/** W2 steps on one epoch of batches gathered up front, cycled. */
function w2Steps(): { run(steps: number): void } {
  const w = WORKLOADS.W2;
  const stepper = createStepper(w.model(), { loss: w.loss, optimizer: sgd({ lr: w.lr }) }, undefined, w.batch);
  const stream = w.batches();
  const epoch: { x: Float32Array; targets: Targets; m: number }[] = [];
  for (let rows = 0; rows < digits().rows; ) {
    const m = stream.next();
    epoch.push({ x: stream.x.slice(), targets: { labels: true, data: stream.labels.slice() }, m });
    rows += m;
  }
  let b = 0;
  return {
    run(steps) {
      for (let s = 0; s < steps; s++) {
        const batch = epoch[b]!;
        stepper.step(batch.x, batch.targets, batch.m);
        b = b + 1 === epoch.length ? 0 : b + 1;
      }
    },
  };
}

export async function heapCheck(steps = 10_000): Promise<HeapReport> {
  const trainer = w2Steps();
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
  const sampled = await sampleAllocations((n) => trainer.run(n), steps);
  return { steps, gcExposed, before, afterSteps, afterGc, gcsDuringSteps, sampledBytesPerStep: sampled.perStep, sites: sampled.sites.filter(([, b]) => b >= 1).slice(0, 5) };
}
