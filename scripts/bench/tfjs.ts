/**
 * TensorFlow.js peers: the same networks with the `cpu` backend and the `wasm` backend
 * (XNNPACK; SIMD when the runtime has it, single-threaded under Node). The idiomatic fast way:
 * `tf.enableProdMode()`, `tf.fused.matMul` with bias (and relu when the layer has it; its gradient
 * is built in), the fused `tf.losses.softmaxCrossEntropy`, and `optimizer.minimize` with SGD.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as TF from '@tensorflow/tfjs';
import type { Runner, Trainer } from './registry.js';
import { WORKLOAD_IDS, type Workload } from './workloads.js';

type Tf = typeof TF;
export type TfBackend = 'cpu' | 'wasm';

let loading: Promise<Tf> | undefined;

/** Loads tfjs and the wasm backend once; the .wasm files come from the installed package, whatever the cwd. */
export function loadTf(): Promise<Tf> {
  loading ??= (async () => {
    const tf = await import('@tensorflow/tfjs');
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const require = createRequire(import.meta.url);
    const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
    wasm.setWasmPaths(dist);
    tf.enableProdMode();
    return tf;
  })();
  return loading;
}

async function useBackend(tf: Tf, backend: TfBackend): Promise<void> {
  if (tf.getBackend() === backend) return;
  if (!(await tf.setBackend(backend))) throw new Error(`Expected tfjs backend ${backend} to initialise, got false`);
}

/** A short description of what the wasm backend runs on, for the report. */
export async function tfWasmFeatures(): Promise<string> {
  const tf = await loadTf();
  await useBackend(tf, 'wasm');
  return `simd ${tf.env().getBool('WASM_HAS_SIMD_SUPPORT')}, threads ${tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT')}`;
}

async function tfjsTrainer(backend: TfBackend, w: Workload): Promise<Trainer> {
  const tf = await loadTf();
  await useBackend(tf, backend);
  const [nin, nh, nout] = w.sizes;
  const init = w.model();
  const l0 = init.layers[0]!, l1 = init.layers[1]!;
  const w1 = tf.variable(tf.tensor2d(Float32Array.from(l0.w), [nin, nh]));
  const b1 = tf.variable(tf.tensor1d(Float32Array.from(l0.b)));
  const w2 = tf.variable(tf.tensor2d(Float32Array.from(l1.w), [nh, nout]));
  const b2 = tf.variable(tf.tensor1d(Float32Array.from(l1.b)));
  const vars = [w1, b1, w2, b2];
  const optimizer = tf.train.sgd(w.lr);
  const batches = w.batches();
  const hidden = w.hidden === 'relu' ? 'relu' : 'linear';

  const lossOf = (x: TF.Tensor2D, y: TF.Tensor2D) => (): TF.Scalar => {
    const z1 = tf.fused.matMul({ a: x, b: w1, bias: b1, activation: hidden });
    const h = w.hidden === 'sigmoid' ? tf.sigmoid(z1) : z1;
    const z2 = tf.fused.matMul({ a: h, b: w2, bias: b2 });
    if (w.loss === 'sse') return tf.mul(0.5, tf.sum(tf.square(tf.sub(tf.sigmoid(z2), y))));
    return tf.losses.softmaxCrossEntropy(y, z2) as TF.Scalar;
  };

  let last: TF.Scalar | undefined;
  return {
    async run(steps) {
      await useBackend(tf, backend);
      let samples = 0;
      for (let s = 0; s < steps; s++) {
        const m = batches.next();
        const x = tf.tensor2d(batches.x.subarray(0, m * nin), [m, nin]);
        const y = tf.tensor2d(batches.onehot.subarray(0, m * nout), [m, nout]);
        const cost = optimizer.minimize(lossOf(x, y), true, vars);
        x.dispose();
        y.dispose();
        last?.dispose();
        last = cost ?? undefined;
        samples += m;
      }
      last?.dataSync(); // both backends run eagerly; this only makes sure nothing is pending
      return samples;
    },
    async loss() {
      await useBackend(tf, backend);
      return last ? last.dataSync()[0]! : NaN;
    },
    dispose() {
      last?.dispose();
      for (const v of vars) v.dispose();
      optimizer.dispose();
    },
  };
}

export const tfjsRunners: Runner[] = (['wasm', 'cpu'] as const).flatMap((backend) =>
  WORKLOAD_IDS.map((id) => ({
    workload: id,
    impl: `tfjs-${backend}`,
    setup: (w: Workload) => tfjsTrainer(backend, w),
  })),
);
