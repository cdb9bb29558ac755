/**
 * The floor: one straightforward hand-written Float32Array loop per step, no library, for the
 * two-layer networks of the workloads. Careful (i-p-j loop orders, row offsets hoisted, locals,
 * preallocated buffers) but not tuned (no register blocking, no SIMD): what anyone would write in
 * an afternoon.
 */
import type { Runner, Trainer } from './registry.js';
import { WORKLOAD_IDS, type Workload } from './workloads.js';

interface Net {
  readonly nin: number; readonly nh: number; readonly nout: number; readonly lr: number;
  readonly relu: boolean; readonly sse: boolean;
  // w1: [nin, nh], w2: [nh, nout]; h, d1: [batch, nh]; o, d2: [batch, nout]; g*: like the weights
  readonly w1: Float32Array; readonly b1: Float32Array; readonly w2: Float32Array; readonly b2: Float32Array;
  readonly h: Float32Array; readonly d1: Float32Array; readonly o: Float32Array; readonly d2: Float32Array;
  readonly g1: Float32Array; readonly gb1: Float32Array; readonly g2: Float32Array; readonly gb2: Float32Array;
}

/** One SGD step on the first m rows; returns the loss before the update. */
function step(net: Net, x: Float32Array, y: Float32Array, labels: Int32Array, m: number): number {
  // locals, not property or closure loads, inside the loops
  const { nin, nh, nout, lr, relu, sse, w1, b1, w2, b2, h, d1, o, d2, g1, gb1, g2, gb2 } = net;
  // h = f(x·w1 + b1): [m, nin]·[nin, nh]
  for (let i = 0; i < m; i++) {
    const hi = i * nh, xi = i * nin;
    for (let j = 0; j < nh; j++) h[hi + j] = b1[j]!;
    for (let p = 0; p < nin; p++) {
      const xv = x[xi + p]!, wp = p * nh;
      for (let j = 0; j < nh; j++) h[hi + j]! += xv * w1[wp + j]!;
    }
    if (relu) for (let j = 0; j < nh; j++) h[hi + j] = Math.max(h[hi + j]!, 0);
    else for (let j = 0; j < nh; j++) h[hi + j] = 1 / (1 + Math.exp(-h[hi + j]!));
  }
  // o = h·w2 + b2: [m, nh]·[nh, nout]; then the loss and d2 = dL/dz2
  let loss = 0;
  for (let i = 0; i < m; i++) {
    const oi = i * nout;
    for (let j = 0; j < nout; j++) o[oi + j] = b2[j]!;
    for (let p = 0; p < nh; p++) {
      const hv = h[i * nh + p]!, wp = p * nout;
      for (let j = 0; j < nout; j++) o[oi + j]! += hv * w2[wp + j]!;
    }
    if (sse) {
      for (let j = 0; j < nout; j++) {
        const a = 1 / (1 + Math.exp(-o[i * nout + j]!));
        const e = a - y[i * nout + j]!;
        loss += 0.5 * e * e;
        d2[i * nout + j] = e * a * (1 - a);
      }
    } else {
      let max = -Infinity;
      for (let j = 0; j < nout; j++) max = Math.max(max, o[i * nout + j]!);
      let sum = 0;
      for (let j = 0; j < nout; j++) sum += Math.exp(o[i * nout + j]! - max);
      const label = labels[i]!;
      loss += (Math.log(sum) + max - o[i * nout + label]!) / m;
      for (let j = 0; j < nout; j++) d2[i * nout + j] = (Math.exp(o[i * nout + j]! - max) / sum - (j === label ? 1 : 0)) / m;
    }
  }
  // g2 = hᵀ·d2, gb2 = Σ d2, d1 = (d2·w2ᵀ) ⊙ f'(h)
  g2.fill(0);
  gb2.fill(0);
  for (let i = 0; i < m; i++) {
    const di = i * nout;
    for (let p = 0; p < nh; p++) {
      const hv = h[i * nh + p]!, wp = p * nout;
      let s = 0;
      for (let j = 0; j < nout; j++) {
        const d = d2[di + j]!;
        g2[wp + j]! += hv * d;
        s += d * w2[wp + j]!;
      }
      d1[i * nh + p] = relu ? (hv > 0 ? s : 0) : s * hv * (1 - hv);
    }
    for (let j = 0; j < nout; j++) gb2[j]! += d2[i * nout + j]!;
  }
  // g1 = xᵀ·d1 (row p of g1 stays in cache while the rows of x and d1 stream past), gb1 = Σ d1
  for (let p = 0; p < nin; p++) {
    const gp = p * nh;
    for (let j = 0; j < nh; j++) g1[gp + j] = 0;
    for (let i = 0; i < m; i++) {
      const xv = x[i * nin + p]!, di = i * nh;
      for (let j = 0; j < nh; j++) g1[gp + j]! += xv * d1[di + j]!;
    }
  }
  gb1.fill(0);
  for (let i = 0; i < m; i++) for (let j = 0; j < nh; j++) gb1[j]! += d1[i * nh + j]!;
  // SGD
  for (let i = 0; i < w1.length; i++) w1[i]! -= lr * g1[i]!;
  for (let i = 0; i < nh; i++) b1[i]! -= lr * gb1[i]!;
  for (let i = 0; i < w2.length; i++) w2[i]! -= lr * g2[i]!;
  for (let i = 0; i < nout; i++) b2[i]! -= lr * gb2[i]!;
  return loss;
}


export function floorTrainer(w: Workload): Trainer {
  const [nin, nh, nout] = w.sizes;
  const B = w.batch, lr = w.lr;
  const relu = w.hidden === 'relu';
  const sse = w.loss === 'sse';
  const model = w.model();
  const w1 = Float32Array.from(model.layers[0]!.w), b1 = Float32Array.from(model.layers[0]!.b);
  const w2 = Float32Array.from(model.layers[1]!.w), b2 = Float32Array.from(model.layers[1]!.b);
  // h, d1: [B, nh]; o, d2: [B, nout]; gradients shaped like the weights
  const h = new Float32Array(B * nh), d1 = new Float32Array(B * nh);
  const o = new Float32Array(B * nout), d2 = new Float32Array(B * nout);
  const g1 = new Float32Array(nin * nh), gb1 = new Float32Array(nh);
  const g2 = new Float32Array(nh * nout), gb2 = new Float32Array(nout);
  const net: Net = { nin, nh, nout, lr, relu, sse, w1, b1, w2, b2, h, d1, o, d2, g1, gb1, g2, gb2 };
  const batches = w.batches();
  const last = new Float64Array(1); // the last loss (a typed-array cell: a `let` double would box on every write)

  return {
    run(steps) {
      let samples = 0;
      for (let s = 0; s < steps; s++) {
        const m = batches.next();
        last[0] = step(net, batches.x, batches.onehot, batches.labels, m);
        samples += m;
      }
      return samples;
    },
    loss: () => last[0]!,
  };
}

export const floorRunners: Runner[] = WORKLOAD_IDS.map((id) => ({
  workload: id,
  impl: 'floor',
  setup: async (w: Workload) => floorTrainer(w),
}));
