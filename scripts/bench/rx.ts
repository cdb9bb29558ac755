/**
 * livegrad through the RxJS pipeline: `train()` with its default events (step every step,
 * metrics and gradients every 10, weights every 100), the default queue and the default
 * time slicing, fed batch by batch from a Subject as a producer would. Each W2 batch is copied
 * out of the workload's reused buffers into a slot of a ring of batch buffers (as a server decodes
 * messages into pooled buffers); the ring is 4 × the queue capacity, so a slot is reused only long
 * after the trainer is done with it. W1's one batch is pushed as one object every step, just as
 * the bare loop reuses its buffers. train() re-batches, so W2's short epoch-tail batches join the
 * next epoch's rows: the same samples, in whole batches.
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
  const last = Float64Array.of(NaN); // the last loss (a typed-array cell, as the bare loop keeps it: a `let` double would box on every write)
  let waiting: { until: number; resolve: () => void } | undefined;
  const subscription = source
    .pipe(train({ model: w.model(), loss: w.loss, optimizer: sgd({ lr: w.lr }), batchSize: w.batch }))
    .subscribe((e: TrainEvent) => {
      if (e.type !== 'step') return;
      samples += e.batchSize;
      last[0] = e.loss;
      if (waiting && samples >= waiting.until) {
        waiting.resolve();
        waiting = undefined;
      }
    });
  const labels = w.loss === 'crossEntropy';
  const ring = Array.from({ length: 32 }, () => ({ x: new Float32Array(w.batch * nin), y: new Float32Array(w.batch * (labels ? 1 : nout)) }));
  let slot = 0;
  /** The current batch, copied into the next ring slot. */
  const copy = (m: number): Batch => {
    const r = ring[slot]!;
    slot = (slot + 1) % ring.length;
    const yw = labels ? 1 : nout;
    r.x.set(batches.x.subarray(0, m * nin));
    if (labels) for (let i = 0; i < m; i++) r.y[i] = batches.labels[i]!;
    else r.y.set(batches.onehot.subarray(0, m * nout));
    return {
      x: { dtype: 'float32', shape: [m, nin], data: m === w.batch ? r.x : r.x.subarray(0, m * nin) },
      y: { dtype: 'float32', shape: labels ? [m] : [m, nout], data: m === w.batch ? r.y : r.y.subarray(0, m * yw) },
    };
  };
  // W1's batch is the same every step, as it is for the bare loop: one object, pushed again and again
  const fixed = w.id === 'W1' ? copy(batches.next()) : undefined;
  return {
    run(count) {
      const before = samples;
      for (let s = 0; s < count; s++) {
        const m = batches.next();
        pushed += m;
        source.next(fixed ?? copy(m));
      }
      // train() re-batches: rows short of a whole batch (W2's epoch tails) wait for the next rows
      const target = pushed - (pushed % w.batch);
      if (samples >= target) return samples - before;
      return new Promise<number>((resolve) => {
        waiting = { until: target, resolve: () => resolve(samples - before) };
      });
    },
    loss: () => last[0]!,
    dispose: () => subscription.unsubscribe(),
  };
}

const RX_WORKLOADS: readonly WorkloadId[] = ['W1', 'W2'];

export const rxRunners: Runner[] = RX_WORKLOADS.map((id) => ({
  workload: id,
  impl: 'livegrad-rx',
  setup: async (w: Workload) => rxTrainer(w),
}));
