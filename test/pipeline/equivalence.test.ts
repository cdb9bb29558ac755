/**
 * Equivalence, bit for bit, on the tutorial's W2 network and the digits: the operator chain
 * batch → forward → loss → delta → update, a loop over the pure step() and a createStepper loop on
 * the TypeScript kernels all reach the same weights and the same step losses; train() with its
 * default settings reaches those of a createStepper loop on the default kernels.
 *
 * NOTE: train() re-batches across epoch boundaries (the 5 rows left at the end of an epoch join
 * the first 27 of the next), so every variant is fed that same re-batched sequence; the loops
 * build it by hand from the rows epochs() emits.
 */
import fc from 'fast-check';
import { lastValueFrom, map, toArray } from 'rxjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  batch,
  cloneModel,
  createStepper,
  delta,
  epochs,
  forward,
  loss,
  mlp,
  mlpShape,
  newOptimizerState,
  sgd,
  step,
  train,
  update,
  type Batch,
  type Mlp,
  type StepConfig,
  type TrainEvent,
  type WeightsEvent,
} from '../../src/index.js';
import { resolveKernels, type KernelChoice } from '../../src/nn/step.js';
import { expectSameBits, modelsDiffer } from '../helpers/bits.js';
import { digits, W2 } from '../helpers/pipeline.js';

const SEED = 11;
const EPOCHS = 2;
const CONFIG: StepConfig = { loss: 'crossEntropy', optimizer: sgd({ lr: 0.5 }) };
const source = (chunkSize = 32) => epochs(digits(), { epochs: EPOCHS, seed: SEED, chunkSize });

interface Run {
  readonly model: Mlp;
  readonly losses: readonly number[];
}

/** The rows epochs() emits, concatenated and cut into batches of 32 by hand. */
async function rebatchedByHand(): Promise<Batch[]> {
  const chunks = await lastValueFrom(source().pipe(toArray()));
  const x = Float32Array.from(chunks.flatMap((c) => Array.from(c.x.data)));
  const y = Float32Array.from(chunks.flatMap((c) => Array.from(c.y.data)));
  const n = y.length, out: Batch[] = [];
  for (let r = 0; r < n; r += 32) {
    const m = Math.min(32, n - r);
    out.push({ x: { dtype: 'float32', shape: [m, 64], data: x.slice(r * 64, (r + m) * 64) }, y: { dtype: 'float32', shape: [m], data: y.slice(r, r + m) } });
  }
  return out;
}

function modelFromEvent(e: WeightsEvent): Mlp {
  const model = mlp(W2);
  e.layers.forEach((l, i) => {
    model.layers[i]!.w.set(l.w.data);
    model.layers[i]!.b.set(l.b.data);
  });
  return model;
}

/** (a) train() with default settings; weights events every step only to read the weights out. */
async function viaTrain(chunkSize = 32, kernels: KernelChoice | 'auto' = 'auto'): Promise<Run> {
  const events: TrainEvent[] = await lastValueFrom(source(chunkSize).pipe(train({ model: W2, loss: 'crossEntropy', optimizer: sgd({ lr: 0.5 }), events: { weightsEvery: 1 }, kernels }), toArray()));
  const weights = events.filter((e): e is WeightsEvent => e.type === 'weights');
  return { model: modelFromEvent(weights.at(-1)!), losses: events.flatMap((e) => (e.type === 'step' ? [e.loss] : [])) };
}

/** (b) the operator chain. */
async function viaOperators(): Promise<Run> {
  const model = mlp(W2);
  const losses = await lastValueFrom(
    source().pipe(
      batch(32),
      forward(model),
      loss('crossEntropy'),
      delta(),
      update(sgd({ lr: 0.5 })),
      map((s) => s.info.loss),
      toArray(),
    ),
  );
  return { model, losses };
}

/** (c) a plain loop over the pure step(). */
function viaStep(batches: readonly Batch[]): Run {
  let model = mlp(W2);
  let state = newOptimizerState(model, CONFIG.optimizer);
  const losses = batches.map((b) => {
    const r = step(model, state, b, CONFIG, { kernels: 'js' });
    model = r.model;
    state = r.state;
    return r.info.loss;
  });
  return { model, losses };
}

/** (d) a createStepper loop, on the given kernels (the RxJS operators of (b) and the loop of (c) run the TypeScript ones). */
function viaStepper(batches: readonly Batch[], kernels: KernelChoice = 'js'): Run {
  const stepper = createStepper(mlp(W2), CONFIG, undefined, 32, { kernels });
  const losses = batches.map((b) => stepper.step(b.x.data, { labels: true, data: b.y.data }, b.x.shape[0]!).loss);
  return { model: cloneModel(stepper.model), losses };
}

function expectSameRun(actual: Run, expected: Run, what: string): void {
  expect(actual.losses, `${what} losses`).toEqual(expected.losses);
  actual.model.layers.forEach((l, i) => {
    expectSameBits(l.w, expected.model.layers[i]!.w, `${what} layers[${i}].w`);
    expectSameBits(l.b, expected.model.layers[i]!.b, `${what} layers[${i}].b`);
  });
}

describe('equivalence on W2 and the digits', () => {
  let batches: Batch[] = [];
  let reference: Run;
  /** The stepper on the kernels train() chooses by default (wasm where they run). */
  let fast: Run;

  beforeAll(async () => {
    batches = await rebatchedByHand();
    reference = viaStepper(batches);
    fast = viaStepper(batches, resolveKernels(mlpShape(W2)));
  });

  it('feeds every variant the re-batched sequence, across the epoch boundary', () => {
    expect(batches).toHaveLength(Math.ceil((EPOCHS * 1797) / 32));
    expect(batches.slice(0, -1).every((b) => b.x.shape[0] === 32)).toBe(true);
    expect(batches.at(-1)!.x.shape[0]).toBe((EPOCHS * 1797) % 32);
    expect(reference.losses.every(Number.isFinite)).toBe(true);
    const late = reference.losses.slice(-10);
    expect(late.reduce((p, q) => p + q, 0) / late.length).toBeLessThan(reference.losses[0]! / 2); // it learned
    expect(modelsDiffer(reference.model, mlp(W2))).toBe(true);
  });

  it('(a) train() with default settings gives the stepper’s weights and losses bit for bit', async () => {
    expectSameRun(await viaTrain(), fast, 'train()');
  });

  it('(b) batch → forward → loss → delta → update gives the stepper’s weights and losses bit for bit', async () => {
    expectSameRun(await viaOperators(), reference, 'operators');
  });

  it('(c) a loop over step() gives the stepper’s weights and losses bit for bit', () => {
    expectSameRun(viaStep(batches), reference, 'step()');
  });

  it('(d) a createStepper loop is deterministic, on either kernels', () => {
    expectSameRun(viaStepper(batches), reference, 'stepper');
    expectSameRun(viaStepper(batches, resolveKernels(mlpShape(W2))), fast, 'stepper (default kernels)');
  });

  it('train() does not depend on how the stream is chunked (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 700 }), async (chunkSize) => {
        expectSameRun(await viaTrain(chunkSize), fast, `train() in chunks of ${chunkSize}`);
      }),
      { seed: 5, numRuns: 4 },
    );
  });

  it('train() on the TypeScript kernels does not depend on how the stream is chunked either (batches joined across chunks included)', async () => {
    for (const chunkSize of [32, 45, 7]) expectSameRun(await viaTrain(chunkSize, 'js'), reference, `train() on js in chunks of ${chunkSize}`);
  });
});
