/**
 * train(): marble tests with synchronous training (`sliceMs: Infinity`) and a fixed clock, so the
 * event stream is deterministic frame by frame: empty, one, many, error, never-ending, early
 * unsubscribe, chunks that fail validation (an `error` event, training goes on), controls from
 * control$, and the three non-finite policies. Then the default, asynchronous path.
 */
import { from, lastValueFrom, map, toArray, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { cloneModel, mlp, mlpFromWeights, sgd, tensor, train, type Batch, type Control, type TrainEvent, type TrainOptions } from '../../src/index.js';
import { expectSameModel } from '../helpers/bits.js';
import { marbles, randomChunk, tag, TINY } from '../helpers/pipeline.js';

const QUIET = { metricsEvery: 0, gradientsEvery: 0, weightsEvery: 0 };
const BASE: TrainOptions = { model: TINY, loss: 'crossEntropy', optimizer: sgd({ lr: 0.5 }), batchSize: 2, sliceMs: Infinity, now: () => 0, events: QUIET };

const a = randomChunk(1, 2);
const b = randomChunk(2, 2);
const c = randomChunk(3, 2);
const d = randomChunk(4, 2);

function tags(source: Observable<Batch>, options: Partial<TrainOptions> = {}): Observable<string> {
  return source.pipe(train({ ...BASE, ...options }), map(tag));
}

/** Marble values: s started, 1..9 steps, c completed (at the given step). */
function names(completedAt: number, extra: Record<string, string> = {}): Record<string, string> {
  const steps = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [String(i + 1), `step@${i + 1}`]));
  return { s: 'lifecycle:started@0', ...steps, c: `lifecycle:completed@${completedAt}`, ...extra };
}

describe('train', () => {
  it('starts and completes on an empty source', () => {
    marbles().run(({ cold, expectObservable }) => {
      expectObservable(tags(cold<Batch>('|'))).toBe('(sc|)', names(0));
    });
  });

  it('trains one batch and completes', () => {
    marbles().run(({ cold, expectObservable }) => {
      expectObservable(tags(cold('-a|', { a }))).toBe('s1(c|)', names(1));
    });
  });

  it('emits one step event per batch, at the frame the batch arrives', () => {
    marbles().run(({ cold, expectObservable }) => {
      expectObservable(tags(cold('-a-b-c|', { a, b, c }))).toBe('s1-2-3(c|)', names(3));
    });
  });

  it('fails the session (lifecycle failed, then error) when the source errors', () => {
    marbles().run(({ cold, expectObservable }) => {
      expectObservable(tags(cold('-a-#', { a }, new Error('boom')))).toBe('s1-(f#)', names(1, { f: 'lifecycle:failed@1' }), new Error('boom'));
    });
  });

  it('keeps training on a never-ending source', () => {
    marbles().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b-', { a, b });
      expectObservable(tags(source)).toBe('s1-2-', names(0));
      expectSubscriptions(source.subscriptions).toBe('^');
    });
  });

  it('unsubscribes from the source and control$ when the consumer does', () => {
    marbles().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b-c|', { a, b, c });
      const control$ = cold<Control>('-----');
      expectObservable(tags(source, { control$ }), '^-!').toBe('s1', names(0));
      expectSubscriptions(source.subscriptions).toBe('^-!');
      expectSubscriptions(control$.subscriptions).toBe('^-!');
    });
  });

  it.each([
    ['E_SHAPE', { x: tensor([[1, 2, 3], [4, 5, 6]]), y: tensor([0, 1]) }],
    ['E_NON_FINITE', { x: tensor([[1, Infinity], [0, 0]]), y: tensor([0, 1]) }],
    ['E_LABEL_RANGE', { x: tensor([[1, 2], [0, 0]]), y: tensor([0, 7]) }],
  ] as const)('turns a chunk that fails validation into an error event %s and trains on', (code, bad) => {
    marbles().run(({ cold, expectObservable }) => {
      const source = cold('-a-x-b|', { a, x: bad, b });
      expectObservable(tags(source)).toBe('s1-e-2(c|)', names(2, { e: `error:${code}@1` }));
    });
  });

  it('applies controls from control$ at the frame they arrive, between batches', () => {
    marbles().run(({ cold, expectObservable }) => {
      const source = cold('-a-b-c-------d|', { a, b, c, d });
      const control$ = cold<Control>('--p----r-', { p: { action: 'pause' }, r: { action: 'resume' } });
      const values = names(4, {
        P: 'lifecycle:paused@1',
        Q: 'control:pause@1',
        R: 'lifecycle:resumed@1',
        S: 'control:resume@1',
        T: 'step@2',
        U: 'step@3',
        V: 'step@4',
      });
      expectObservable(tags(source, { control$ })).toBe('s1(PQ)-(RSTU)V(c|)', values);
    });
  });

  it('turns a bad control from control$ into an E_BAD_CONTROL error event and trains on', () => {
    marbles().run(({ cold, expectObservable }) => {
      const source = cold('-a--b|', { a, b });
      const control$ = cold<Control>('--x', { x: { action: 'set', lr: -1 } });
      expectObservable(tags(source, { control$ })).toBe('s1e-2(c|)', names(2, { e: 'error:E_BAD_CONTROL@1' }));
    });
  });

  it('errors when control$ errors', () => {
    marbles().run(({ cold, expectObservable }) => {
      const control$ = cold<Control>('--#', undefined, new Error('controls lost'));
      expectObservable(tags(cold('-a-b|', { a, b }), { control$ })).toBe('s1#', names(0), new Error('controls lost'));
    });
  });

  describe('on a non-finite loss', () => {
    // a linear unit whose input overflows float32: z = 3e38 + 3e38 = Infinity, though x is finite
    const linear = mlpFromWeights([{ activation: 'linear', weights: [[1], [1]], bias: [0] }]);
    const ok = (k: number): Batch => ({ x: tensor([[0.5, k], [1, -1]]), y: tensor([[1], [0]]) });
    const huge: Batch = { x: tensor([[3e38, 3e38], [3e38, 3e38]]), y: tensor([[0], [0]]) };
    const guard = { model: linear, loss: 'mse' as const, optimizer: sgd({ lr: 0.1 }) };

    it("skips the batch, reports E_NON_FINITE and trains on ('skip')", () => {
      marbles().run(({ cold, expectObservable }) => {
        const source = cold('-a-h---b|', { a: ok(1), h: huge, b: ok(2) });
        const values = names(3, { e: 'error:E_NON_FINITE@2' });
        expectObservable(tags(source, { ...guard, onNonFinite: 'skip' })).toBe('s1-(2e)3(c|)', values);
      });
    });

    it("pauses after the batch and holds the rest ('pause')", () => {
      marbles().run(({ cold, expectObservable }) => {
        const source = cold('-a-h-b|', { a: ok(1), h: huge, b: ok(2) });
        const values = names(0, { e: 'error:E_NON_FINITE@2', p: 'lifecycle:paused@2' });
        expectObservable(tags(source, { ...guard, onNonFinite: 'pause' })).toBe('s1-(2ep)', values);
      });
    });

    it("fails the stream with E_NON_FINITE after a lifecycle failed ('fail')", () => {
      marbles().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a-h-b|', { a: ok(1), h: huge, b: ok(2) });
        const values = names(0, { e: 'error:E_NON_FINITE@2', f: 'lifecycle:failed@2' });
        const error = expect.objectContaining({ name: 'LivegradError', code: 'E_NON_FINITE', message: expect.stringContaining('Step 2 not applied') });
        expectObservable(tags(source, { ...guard, onNonFinite: 'fail' })).toBe('s1-(2ef#)', values, error);
        expectSubscriptions(source.subscriptions).toBe('^--!');
      });
    });
  });

  it('validates its config when called, not when subscribed', () => {
    expect(() => train({ ...BASE, loss: 'hinge' as never })).toThrow(TypeError);
    expect(() => train({ ...BASE, batchSize: 0 })).toThrow(RangeError);
    expect(() => train({ ...BASE, queue: { capacity: 0 } })).toThrow(RangeError);
    expect(() => train({ ...BASE, sliceMs: -1 })).toThrow(RangeError);
  });

  it('trains asynchronously with the default slice, leaving the given model untouched', async () => {
    const model = mlp(TINY);
    const before = cloneModel(model);
    const events: TrainEvent[] = await lastValueFrom(from([a, b, c, d]).pipe(train({ model, loss: 'crossEntropy', optimizer: sgd({ lr: 0.5 }), batchSize: 4 }), toArray()));
    expect(events.map(tag)).toEqual(['lifecycle:started@0', 'step@1', 'step@2', 'lifecycle:completed@2']);
    expectSameModel(model, before);
  });

  it('gives every subscription its own session', async () => {
    const losses$ = from([a, b, c]).pipe(
      train(BASE),
      map((e) => (e.type === 'step' ? e.loss : undefined)),
      toArray(),
    );
    const first = await lastValueFrom(losses$);
    expect(await lastValueFrom(losses$)).toEqual(first);
    expect(first.filter((l) => l !== undefined)).toHaveLength(3);
  });
});
