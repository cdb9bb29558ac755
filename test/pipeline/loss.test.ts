/**
 * loss(): marble tests (empty, one, many, error, never-ending, early unsubscribe, a loss that does
 * not fit the output activation, a stale pass) and the loss and output delta against the core step.
 */
import { bufferCount, from, map, mergeAll, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { forward, loss, mlp, newOptimizerState, outputSize, predict, sgd, step, tensor, type Batch, type LossName, type LossPass } from '../../src/index.js';
import { marbles, operatorChecklist, randomChunk, TINY } from '../helpers/pipeline.js';

const model = mlp(TINY);
const a = randomChunk(1, 2);
const b = randomChunk(2, 3);

function summary(p: LossPass): { seq: number; loss: number; delta: number[] } {
  return { seq: p.seq, loss: p.loss, delta: Array.from(p.outputDelta.subarray(0, p.m * outputSize(p.ctx.model))) };
}

/** The loss from the core step, and the cross-entropy delta of the textbook: (softmax - onehot) / m. */
function expected(batch: Batch, seq: number): { seq: number; loss: number; delta: number[] } {
  const value = step(model, newOptimizerState(model, sgd({ lr: 0 })), batch, { loss: 'crossEntropy', optimizer: sgd({ lr: 0 }) }, { kernels: 'js' }).info.loss; // the operators run the TypeScript kernels
  const out = predict(model, batch.x).data;
  const m = batch.x.shape[0]!, n = outputSize(model);
  const delta = Array.from(out, (p, k) => Math.fround((1 / m) * (p - (batch.y.data[Math.floor(k / n)] === k % n ? 1 : 0))));
  return { seq, loss: value, delta };
}

const run = (source: Observable<Batch>, kind: LossName = 'crossEntropy'): Observable<ReturnType<typeof summary>> =>
  source.pipe(forward(model), loss(kind), map(summary));

describe('loss', () => {
  operatorChecklist(run, expected);

  it('errors at the first pass when the loss does not fit the output activation', () => {
    marbles().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('--a-b|', { a, b });
      expectObservable(run(source, 'bce')).toBe('--#', undefined, expect.objectContaining({ message: 'Expected output activation sigmoid for loss bce, got softmax' }));
      expectSubscriptions(source.subscriptions).toBe('^-!');
    });
  });

  it('errors with E_PIPELINE_ORDER when a pass arrives after a newer batch entered forward()', () => {
    marbles().run(({ cold, expectObservable }) => {
      const stale$ = cold('-a-b|', { a, b }).pipe(forward(model), bufferCount(2), mergeAll(), loss('crossEntropy'));
      expectObservable(stale$).toBe('---#', undefined, expect.objectContaining({ name: 'LivegradError', code: 'E_PIPELINE_ORDER' }));
    });
  });

  it('errors with E_SHAPE from forward() at the frame of a malformed batch', () => {
    marbles().run(({ cold, expectObservable }) => {
      const bad: Batch = { x: tensor([[1, 2, 3]]), y: tensor([0]) };
      expectObservable(run(cold('-a-x|', { a, x: bad }))).toBe('-A-#', { A: expected(a, 1) }, expect.objectContaining({ code: 'E_SHAPE' }));
    });
  });

  it('gives the same bits for class indices and the equivalent one-hot rows', () => {
    const oneHot: Batch = { x: b.x, y: tensor(Array.from(b.y.data, (k) => [0, 1, 2].map((j) => (j === k ? 1 : 0)))) };
    const out: ReturnType<typeof summary>[] = [];
    run(from([b, oneHot])).subscribe((s) => out.push({ ...s, seq: 0 }));
    expect(out[1]).toEqual(out[0]);
    expect(Object.is(out[0]!.loss, out[1]!.loss)).toBe(true);
  });

  it('throws a TypeError at construction for an unknown loss', () => {
    expect(() => loss('hinge' as LossName)).toThrow(new TypeError('Expected loss one of sse, mse, bce, crossEntropy, got "hinge"'));
  });
});
