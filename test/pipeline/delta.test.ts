/**
 * delta(): marble tests (empty, one, many, error, never-ending, early unsubscribe, an upstream
 * loss/activation mismatch, a stale pass) and the gradient norms against the core step.
 */
import { bufferCount, map, mergeAll, of, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { delta, forward, loss, mlp, newOptimizerState, sgd, step, type Batch, type DeltaPass, type LossName } from '../../src/index.js';
import { marbles, operatorChecklist, randomChunk, TINY } from '../helpers/pipeline.js';

const model = mlp(TINY);
const a = randomChunk(1, 2);
const b = randomChunk(2, 3);

function summary(p: DeltaPass): { seq: number; gradNorms: number[]; gradNorm: number } {
  return { seq: p.seq, gradNorms: Array.from(p.gradNorms), gradNorm: p.gradNorm };
}

/** Gradient norms from the core step on the same (untrained) model. */
function expected(batch: Batch, seq: number): { seq: number; gradNorms: number[]; gradNorm: number } {
  const { info } = step(model, newOptimizerState(model, sgd({ lr: 0 })), batch, { loss: 'crossEntropy', optimizer: sgd({ lr: 0 }) }, { kernels: 'js' }); // the operators run the TypeScript kernels
  return { seq, gradNorms: Array.from(info.gradNorms), gradNorm: info.gradNorm };
}

const run = (source: Observable<Batch>, kind: LossName = 'crossEntropy'): Observable<ReturnType<typeof summary>> =>
  source.pipe(forward(model), loss(kind), delta(), map(summary));

describe('delta', () => {
  operatorChecklist(run, expected);

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
