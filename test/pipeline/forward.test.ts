/**
 * forward(): marble tests (empty, one, many, error, never-ending, early unsubscribe, a batch that
 * fails validation) and the activations it emits against the model's own predict().
 */
import { from, map, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { forward, mlp, outputSize, predict, tensor, type Batch, type Pass } from '../../src/index.js';
import { marbles, operatorChecklist, randomChunk, TINY } from '../helpers/pipeline.js';

const model = mlp(TINY);
const a = randomChunk(1, 2);
const b = randomChunk(2, 3);

/** What a pass says, copied out of the workspace while it is still valid. */
function summary(p: Pass): { seq: number; m: number; output: number[] } {
  return { seq: p.seq, m: p.m, output: Array.from(p.output.subarray(0, p.m * outputSize(p.ctx.model))) };
}

function expected(batch: Batch, seq: number): { seq: number; m: number; output: number[] } {
  return { seq, m: batch.x.shape[0]!, output: Array.from(predict(model, batch.x).data) };
}

const run = (source: Observable<Batch>): Observable<ReturnType<typeof summary>> => source.pipe(forward(model), map(summary));

describe('forward', () => {
  operatorChecklist(run, expected);

  it.each([
    ['E_SHAPE', 'x of the wrong width', { x: tensor([[1, 2, 3]]), y: tensor([0]) }],
    ['E_SHAPE', 'y of the wrong width', { x: tensor([[1, 2]]), y: tensor([[1, 0]]) }],
    ['E_NON_FINITE', 'a NaN feature', { x: tensor([[1, NaN]]), y: tensor([0]) }],
    ['E_LABEL_RANGE', 'a label out of range', { x: tensor([[1, 2]]), y: tensor([3]) }],
  ] as const)('errors with %s at the frame of a batch with %s', (code, _what, bad) => {
    marbles().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-x-b|', { a, x: bad, b });
      expectObservable(run(source)).toBe('-A-#', { A: expected(a, 1) }, expect.objectContaining({ name: 'LivegradError', code }));
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });

  it('gives every subscription its own workspace and numbering', () => {
    const seqs: number[] = [];
    const passes$ = run(from([a, b]));
    passes$.subscribe((p) => seqs.push(p.seq));
    passes$.subscribe((p) => seqs.push(p.seq));
    expect(seqs).toEqual([1, 2, 1, 2]);
  });

  it('accepts one-hot targets as well as class indices', () => {
    const oneHot: Batch = { x: a.x, y: tensor([[0, 1, 0], [0, 0, 1]]) };
    const out: Pass[] = [];
    from([oneHot]).pipe(forward(model)).subscribe((p) => out.push(p));
    expect(out[0]!.targets.labels).toBe(false);
    expect(Array.from(out[0]!.targets.data)).toEqual([0, 1, 0, 0, 0, 1]);
  });
});
