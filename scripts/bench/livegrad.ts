/**
 * livegrad's fast path: `createStepper` trains the model in place, float32, preallocated buffers.
 * Three rows: `livegrad` with its defaults (the WebAssembly kernels; a second thread takes half of
 * each product large enough to repay the hand-off), `livegrad-1thread` (the same kernels on one
 * thread) and `livegrad-ts` (the TypeScript kernels, the reference).
 */
import { createStepper, sgd } from '../../src/index.js';
import type { StepperOptions } from '../../src/nn/step.js';
import type { Runner, Trainer } from './registry.js';
import { WORKLOAD_IDS, digits, type Workload } from './workloads.js';

export function livegradTrainer(w: Workload, options: StepperOptions = {}): Trainer {
  const stepper = createStepper(w.model(), { loss: w.loss, optimizer: sgd({ lr: w.lr }) }, undefined, w.batch, options);
  const batches = w.batches();
  // W1 has regression targets; W2/W3 class indices. The object is reused, its `data` swapped (W3's pool).
  const targets: { labels: boolean; data: Float32Array | Int32Array } = { labels: w.loss !== 'sse', data: batches.labels };
  const last = new Float64Array(1); // the last loss (a typed-array cell: a `let` double would box on every write)
  return {
    run(steps) {
      let samples = 0;
      for (let s = 0; s < steps; s++) {
        const m = batches.next();
        targets.data = targets.labels ? batches.labels : batches.onehot;
        last[0] = stepper.step(batches.x, targets, m).loss;
        samples += m;
      }
      return samples;
    },
    loss: () => last[0]!,
    dispose: () => stepper.close(),
  };
}

/** The livegrad rows: impl name → stepper options. */
export const LIVEGRAD_IMPLS: Readonly<Record<string, StepperOptions>> = {
  livegrad: {},
  'livegrad-1thread': { kernels: 'wasm', threads: 1 },
  'livegrad-ts': { kernels: 'js' },
};

export const livegradRunners: Runner[] = Object.entries(LIVEGRAD_IMPLS).flatMap(([impl, options]) =>
  WORKLOAD_IDS.map((id) => ({ workload: id, impl, setup: async (w: Workload) => livegradTrainer(w, options) })),
);

/** W2 sanity: train a fresh model for `epochs` epochs of shuffled batches of 32; accuracy on the training set. */
export function digitsTrainAccuracy(w: Workload, epochs: number): number {
  const stepper = createStepper(w.model(), { loss: w.loss, optimizer: sgd({ lr: w.lr }) }, undefined, w.batch);
  const batches = w.batches();
  const d = digits();
  const stepsPerEpoch = Math.ceil(d.rows / w.batch);
  for (let s = 0; s < epochs * stepsPerEpoch; s++) {
    const m = batches.next();
    stepper.step(batches.x, { labels: true, data: batches.labels }, m);
  }
  const out = stepper.forward(d.x, d.rows);
  const nout = w.sizes[2];
  let correct = 0;
  for (let i = 0; i < d.rows; i++) {
    let best = 0;
    for (let j = 1; j < nout; j++) if (out[i * nout + j]! > out[i * nout + best]!) best = j;
    if (best === d.labels[i]) correct++;
  }
  return correct / d.rows;
}
