/**
 * update(): marble tests (empty, one, many, error, never-ending, early unsubscribe, a stale pass,
 * a resume state that does not fit) and the trained model against a loop over the core step().
 */
import { bufferCount, from, lastValueFrom, map, mergeAll, toArray, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import {
  adam,
  cloneModel,
  delta,
  forward,
  loss,
  mlp,
  mlpFromWeights,
  newOptimizerState,
  sgd,
  step,
  tensor,
  type Batch,
  type Mlp,
  type Optimizer,
  type OptimizerState,
  type StepConfig,
  type TrainState,
  type UpdateOptions,
  update,
} from '../../src/index.js';
import { expectSameModel, expectSameState } from '../helpers/bits.js';
import { marbles, randomChunk, TINY } from '../helpers/pipeline.js';

const a = randomChunk(1, 2);
const b = randomChunk(2, 3);
const c = randomChunk(3, 1);
const opt = sgd({ lr: 0.5, momentum: 0.9 });
const config: StepConfig = { loss: 'crossEntropy', optimizer: opt };

function summary(s: TrainState): { t: number; loss: number; applied: boolean } {
  return { t: s.state.t, loss: s.info.loss, applied: s.info.applied };
}

/** The core pure step over the batches: the model, state and per-step summaries update() must reproduce. */
function reference(batches: readonly Batch[], cfg: StepConfig = config): { model: Mlp; state: OptimizerState; steps: ReturnType<typeof summary>[] } {
  let model = mlp(TINY);
  let state = newOptimizerState(model, cfg.optimizer);
  const steps = batches.map((batch) => {
    const r = step(model, state, batch, cfg, { kernels: 'js' }); // the operators run the TypeScript kernels
    model = r.model;
    state = r.state;
    return { t: r.state.t, loss: r.info.loss, applied: r.info.applied };
  });
  return { model, state, steps };
}

function train(source: Observable<Batch>, model: Mlp, optimizer: Optimizer = opt, options: UpdateOptions = {}): Observable<TrainState> {
  return source.pipe(forward(model), loss('crossEntropy'), delta(), update(optimizer, options));
}

describe('update', () => {
  it('completes without a value on an empty source', () => {
    marbles().run(({ cold, expectObservable }) => {
      expectObservable(train(cold<Batch>('|'), mlp(TINY)).pipe(map(summary))).toBe('|');
    });
  });

  it('applies one step to one batch, as step() does', () => {
    const model = mlp(TINY);
    const ref = reference([a]);
    marbles().run(({ cold, expectObservable }) => {
      expectObservable(train(cold('-a|', { a }), model).pipe(map(summary))).toBe('-A|', { A: ref.steps[0] });
    });
    expectSameModel(model, ref.model);
  });

  it('applies one step per batch, carrying the optimizer state, as a step() loop does', () => {
    const model = mlp(TINY);
    const ref = reference([a, b, c]);
    let last: TrainState | undefined;
    marbles().run(({ cold, expectObservable }) => {
      const states$ = train(cold('-a-b-c|', { a, b, c }), model).pipe(map((s) => ((last = s), summary(s))));
      expectObservable(states$).toBe('-A-B-C|', { A: ref.steps[0], B: ref.steps[1], C: ref.steps[2] });
    });
    expectSameModel(model, ref.model);
    expectSameState(last!.state, ref.state);
    expect(last!.model).toBe(model);
  });

  it('passes a source error through at its frame', () => {
    const ref = reference([a]);
    marbles().run(({ cold, expectObservable }) => {
      const states$ = train(cold('-a-#', { a }, new Error('boom')), mlp(TINY)).pipe(map(summary));
      expectObservable(states$).toBe('-A-#', { A: ref.steps[0] }, new Error('boom'));
    });
  });

  it('keeps going on a never-ending source', () => {
    const ref = reference([a, b]);
    marbles().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b-', { a, b });
      expectObservable(train(source, mlp(TINY)).pipe(map(summary))).toBe('-A-B-', { A: ref.steps[0], B: ref.steps[1] });
      expectSubscriptions(source.subscriptions).toBe('^');
    });
  });

  it('stops training when the consumer unsubscribes', () => {
    const model = mlp(TINY);
    const ref = reference([a]);
    marbles().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b-c|', { a, b, c });
      expectObservable(train(source, model).pipe(map(summary)), '^-!').toBe('-A', { A: ref.steps[0] });
      expectSubscriptions(source.subscriptions).toBe('^-!');
    });
    expectSameModel(model, ref.model);
  });

  it('errors with E_PIPELINE_ORDER when gradients arrive after a newer batch entered forward()', () => {
    const model = mlp(TINY);
    const before = cloneModel(model);
    marbles().run(({ cold, expectObservable }) => {
      const stale$ = cold('-a-b|', { a, b }).pipe(forward(model), loss('crossEntropy'), delta(), bufferCount(2), mergeAll(), update(opt), map(summary));
      expectObservable(stale$).toBe('---#', undefined, expect.objectContaining({ name: 'LivegradError', code: 'E_PIPELINE_ORDER' }));
    });
    expectSameModel(model, before);
  });

  it('errors with E_BAD_STATE at the first batch when the resume state does not fit', () => {
    const model = mlp(TINY);
    const small = mlp({ inputSize: 2, layers: [{ units: 3, activation: 'softmax' }] });
    marbles().run(({ cold, expectObservable }) => {
      const wrongKind = train(cold('-a|', { a }), model, adam(), { state: newOptimizerState(model, opt) }).pipe(map(summary));
      expectObservable(wrongKind).toBe('-#', undefined, expect.objectContaining({ code: 'E_BAD_STATE' }));
      const wrongSizes = train(cold('-a|', { a }), model, adam(), { state: newOptimizerState(small, adam()) }).pipe(map(summary));
      expectObservable(wrongSizes).toBe('-#', undefined, expect.objectContaining({ code: 'E_BAD_STATE' }));
    });
  });

  it('does not apply a batch whose loss is not finite', async () => {
    // z = 3e38 + 3e38 overflows float32: the loss is Infinity though every input is finite
    const model = mlpFromWeights([{ activation: 'linear', weights: [[1], [1]], bias: [0] }]);
    const before = cloneModel(model);
    const huge: Batch = { x: tensor([[3e38, 3e38]]), y: tensor([[0]]) };
    const states = await lastValueFrom(from([huge]).pipe(forward(model), loss('mse'), delta(), update(sgd({ lr: 0.1 })), toArray()));
    expect(states.map((s) => [s.info.loss, s.info.applied, s.info.skipReason, s.state.t])).toEqual([[Infinity, false, 'non-finite loss', 0]]);
    expectSameModel(model, before);
  });

  it('clips to clipNorm as step() does', async () => {
    const clipped: StepConfig = { ...config, clipNorm: 0.05 };
    const ref = reference([a, b, c], clipped);
    const model = mlp(TINY);
    await lastValueFrom(train(from([a, b, c]), model, opt, { clipNorm: 0.05 }));
    expectSameModel(model, ref.model);
    expect(ref.steps.length).toBe(3);
    // and clipping made a difference
    const unclipped = reference([a, b, c]);
    expect(unclipped.model.layers[0]!.w).not.toEqual(ref.model.layers[0]!.w);
  });

  it('resumes from a given optimizer state: two halves train as one run', async () => {
    const ref = reference([a, b, c]);
    const model = mlp(TINY);
    const first = await lastValueFrom(train(from([a]), model));
    await lastValueFrom(train(from([b, c]), model, opt, { state: first.state }));
    expectSameModel(model, ref.model);
  });

  it('starts a fresh optimizer state for every subscription', async () => {
    const states$ = train(from([a, b]), mlp(TINY)).pipe(map((s) => s.state.t), toArray());
    expect(await lastValueFrom(states$)).toEqual([1, 2]);
    expect(await lastValueFrom(states$)).toEqual([1, 2]);
  });
});
