/**
 * delta(): marble tests (empty, one, many, error, never-ending, early unsubscribe, an upstream
 * loss/activation mismatch, a stale pass) and the gradient norms against the core step.
 */
import { bufferCount, map, mergeAll, of, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { delta, forward, loss, mlp, newOptimizerState, sgd, step, type Batch, type DeltaPass, type LossName } from '../../src/index.js';
import { marbles, randomChunk, TINY } from '../helpers/pipeline.js';

const model = mlp(TINY);
const a = randomChunk(1, 2);
const b = randomChunk(2, 3);
const c = randomChunk(3, 1);

function summary(p: DeltaPass): { seq: number; gradNorms: number[]; gradNorm: number } {
  return { seq: p.seq, gradNorms: Array.from(p.gradNorms), gradNorm: p.gradNorm };
}

/** Gradient norms from the core step on the same (untrained) model. */
function expected(batch: Batch, seq: number): { seq: number; gradNorms: number[]; gradNorm: number } {
  const { info } = step(model, newOptimizerState(model, sgd({ lr: 0 })), batch, { loss: 'crossEntropy', optimizer: sgd({ lr: 0 }) });
  return { seq, gradNorms: Array.from(info.gradNorms), gradNorm: info.gradNorm };
}

const run = (source: Observable<Batch>, kind: LossName = 'crossEntropy'): Observable<ReturnType<typeof summary>> =>
  source.pipe(forward(model), loss(kind), delta(), map(summary));

describe('delta', () => {
  it('completes without a value on an empty source', () => {
    marbles().run(({ cold, expectObservable }) => {
      expectObservable(run(cold<Batch>('|'))).toBe('|');
    });
  });

  it('emits the gradient norms of one batch', () => {
    marbles().run(({ cold, expectObservable }) => {
      expectObservable(run(cold('-a|', { a }))).toBe('-A|', { A: expected(a, 1) });
    });
  });

  it('emits one backward pass per loss, in order', () => {
    marbles().run(({ cold, expectObservable }) => {
      expectObservable(run(cold('-a-b-c|', { a, b, c }))).toBe('-A-B-C|', { A: expected(a, 1), B: expected(b, 2), C: expected(c, 3) });
    });
  });

  it('passes a source error through at its frame', () => {
    marbles().run(({ cold, expectObservable }) => {
      expectObservable(run(cold('-a-#', { a }, new Error('boom')))).toBe('-A-#', { A: expected(a, 1) }, new Error('boom'));
    });
  });

  it('keeps going on a never-ending source', () => {
    marbles().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b-', { a, b });
      expectObservable(run(source)).toBe('-A-B-', { A: expected(a, 1), B: expected(b, 2) });
      expectSubscriptions(source.subscriptions).toBe('^');
    });
  });

  it('unsubscribes from the source when the consumer does', () => {
    marbles().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b-c|', { a, b, c });
      expectObservable(run(source), '^-!').toBe('-A', { A: expected(a, 1) });
      expectSubscriptions(source.subscriptions).toBe('^-!');
    });
  });

  it('errors at the first frame when the loss upstream does not fit the output activation', () => {
    marbles().run(({ cold, expectObservable }) => {
      expectObservable(run(cold('--a-b|', { a, b }), 'bce')).toBe('--#', undefined, expect.objectContaining({ message: expect.stringContaining('sigmoid') }));
    });
  });

  it('errors with E_PIPELINE_ORDER when a loss arrives after a newer batch entered forward()', () => {
    marbles().run(({ cold, expectObservable }) => {
      const stale$ = cold('-a-b|', { a, b }).pipe(forward(model), loss('crossEntropy'), bufferCount(2), mergeAll(), delta());
      expectObservable(stale$).toBe('---#', undefined, expect.objectContaining({ name: 'LivegradError', code: 'E_PIPELINE_ORDER' }));
    });
  });

  it('reports the global norm as the root of the summed squared layer norms', () => {
    const [s] = collect(run(of(b)));
    expect(s!.gradNorm).toBeCloseTo(Math.hypot(...s!.gradNorms), 12);
    expect(s!.gradNorms.every((g) => g > 0)).toBe(true);
  });
});

function collect<T>(o: Observable<T>): T[] {
  const out: T[] = [];
  o.subscribe((v) => out.push(v));
  return out;
}
