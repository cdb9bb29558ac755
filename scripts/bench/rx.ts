/**
 * livegrad through the RxJS pipeline: `train()` with its default events (step every step,
 * metrics and gradients every 10, weights every 100), the default queue and the default
 * time slicing, fed batch by batch from a Subject as a producer would. Every batch arrives as
 * fresh arrays (a copy of the workload's batch), as messages from a socket do. train() re-batches,
 * so W2's short epoch-tail batches join the next epoch's rows: the same samples, in whole batches.
 * Compared with the bare `createStepper` loop in the same run (issue targets: W2 ≥ 95 %, W1 ≥ 50 %).
 */
import { Subject } from 'rxjs';
import { sgd, train, type Batch, type TrainEvent } from '../../src/index.js';
import type { Runner, Trainer } from './registry.js';
import type { Workload, WorkloadId } from './workloads.js';

function rxTrainer(w: Workload): Trainer {
  const batches = w.batches();
  const nin = w.sizes[0], nout = w.sizes[2];
  const source = new Subject<Batch>();
  let samples = 0; // trained
  let pushed = 0; // sent
  let lastLoss = NaN;
  let waiting: { until: number; resolve: () => void } | undefined;
  const subscription = source
    .pipe(train({ model: w.model(), loss: w.loss, optimizer: sgd({ lr: w.lr }), batchSize: w.batch }))
    .subscribe((e: TrainEvent) => {
      if (e.type !== 'step') return;
      samples += e.batchSize;
      lastLoss = e.loss;
      if (waiting && samples >= waiting.until) {
        waiting.resolve();
        waiting = undefined;
      }
    });
  const labels = w.loss === 'crossEntropy';
  /** A batch in fresh arrays, copied from the stream's reused buffers (the queue holds on to it). */
  const fresh = (m: number): Batch => ({
    x: { dtype: 'float32', shape: [m, nin], data: batches.x.slice(0, m * nin) },
    y: labels ? { dtype: 'float32', shape: [m], data: Float32Array.from(batches.labels.subarray(0, m)) } : { dtype: 'float32', shape: [m, nout], data: batches.onehot.slice(0, m * nout) },
  });
  // W1's batch is the same every step, as it is for the bare loop: one object, pushed again and again
  const fixed = w.id === 'W1' ? fresh(batches.next()) : undefined;
  return {
    run(count) {
      const before = samples;
      for (let s = 0; s < count; s++) {
        const m = batches.next();
        pushed += m;
        source.next(fixed ?? fresh(m));
      }
      // train() re-batches: rows short of a whole batch (W2's epoch tails) wait for the next rows
      const target = pushed - (pushed % w.batch);
      if (samples >= target) return samples - before;
      return new Promise<number>((resolve) => {
        waiting = { until: target, resolve: () => resolve(samples - before) };
      });
    },
    loss: () => lastLoss,
    dispose: () => subscription.unsubscribe(),
  };
}

const RX_WORKLOADS: readonly WorkloadId[] = ['W1', 'W2'];

export const rxRunners: Runner[] = RX_WORKLOADS.map((id) => ({
  workload: id,
  impl: 'livegrad-rx',
  setup: async (w: Workload) => rxTrainer(w),
}));
