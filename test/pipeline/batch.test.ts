/**
 * batch(): marble tests (empty, one, many, error, never-ending, early unsubscribe, a chunk that does
 * not fit the rows held back) and, as a property over random chunkings, that re-batching keeps
 * every row in order and cuts batches of exactly `size`.
 */
import fc from 'fast-check';
import { from, map, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { batch, tensor, type Batch } from '../../src/index.js';
import { marbles } from '../helpers/pipeline.js';

const CLASSES = 3;

/** n rows with ids start, start+1, …: x row [id, -id]; y the class id % 3, as an index or a one-hot row. */
function rowsFrom(start: number, n: number, oneHot = false): Batch {
  const ids = Array.from({ length: n }, (_, i) => start + i);
  const x = tensor(ids.map((id) => [id, -id]));
  const y = oneHot ? tensor(ids.map((id) => Array.from({ length: CLASSES }, (_, k) => (k === id % CLASSES ? 1 : 0)))) : tensor(ids.map((id) => id % CLASSES));
  return { x, y };
}

/** Row ids of a batch (checking that x is [m, 2]). */
function ids(b: Batch): number[] {
  const m = b.x.shape[0]!;
  expect(b.x.shape).toEqual([m, 2]);
  return Array.from({ length: m }, (_, i) => b.x.data[i * 2]!);
}

const idsOf = (source: Observable<Batch>, size: number): Observable<number[]> => source.pipe(batch(size), map(ids));

describe('batch', () => {
  const a = rowsFrom(0, 3);
  const b = rowsFrom(3, 4);
  const c = rowsFrom(7, 1);

  it('completes without a value on an empty source', () => {
    marbles().run(({ cold, expectObservable }) => {
      expectObservable(idsOf(cold<Batch>('|'), 2)).toBe('|');
    });
  });

  it('emits whole batches as rows arrive and flushes the remainder at complete', () => {
    marbles().run(({ cold, expectObservable }) => {
      expectObservable(idsOf(cold('-a|', { a }), 2)).toBe('-A(B|)', { A: [0, 1], B: [2] });
    });
  });

  it('cuts many chunks into batches of exactly size, across chunk boundaries', () => {
    marbles().run(({ cold, expectObservable }) => {
      const source = cold('-a-b-----c|', { a, b, c });
      expectObservable(idsOf(source, 2)).toBe('-A-(BC)--D|', { A: [0, 1], B: [2, 3], C: [4, 5], D: [6, 7] });
    });
  });

  it('passes a source error through at its frame, dropping the rows held back', () => {
    marbles().run(({ cold, expectObservable }) => {
      expectObservable(idsOf(cold('-a-#', { a }, new Error('boom')), 2)).toBe('-A-#', { A: [0, 1] }, new Error('boom'));
    });
  });

  it('keeps going on a never-ending source, holding back a partial batch', () => {
    marbles().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-c-', { a, c });
      expectObservable(idsOf(source, 2)).toBe('-A-B-', { A: [0, 1], B: [2, 7] });
      expectSubscriptions(source.subscriptions).toBe('^');
    });
  });

  it('unsubscribes from the source when the consumer does, without flushing', () => {
    marbles().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b-c|', { a, b, c });
      expectObservable(idsOf(source, 2), '^-!').toBe('-A', { A: [0, 1] });
      expectSubscriptions(source.subscriptions).toBe('^-!');
    });
  });

  it.each([
    ['features', { x: tensor([[1, 2, 3]]), y: tensor([0]) }],
    ['one-hot rows after class indices', rowsFrom(3, 1, true)],
  ])('errors with E_SHAPE at the frame of a chunk whose %s do not fit the rows held back', (_what, bad) => {
    marbles().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-x-b|', { a, x: bad, b });
      expectObservable(idsOf(source, 2)).toBe('-A-#', { A: [0, 1] }, expect.objectContaining({ name: 'LivegradError', code: 'E_SHAPE' }));
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });

  it('passes a chunk of exactly one batch through uncopied when nothing is held back', () => {
    const whole = rowsFrom(0, 4);
    const out: Batch[] = [];
    from([whole]).pipe(batch(4)).subscribe((x) => out.push(x));
    expect(out).toHaveLength(1);
    expect(out[0]).toBe(whole);
  });

  it('hands out the whole batches of a larger chunk as views of it, and holds the remainder', () => {
    const big = rowsFrom(0, 10); // 2 whole batches of 4, and 2 rows
    const out: Batch[] = [];
    from([big, rowsFrom(10, 2)]).pipe(batch(4)).subscribe((x) => out.push(x));
    expect(out.map((b) => b.x.shape[0])).toEqual([4, 4, 4]);
    expect(out[0]!.x.data.buffer).toBe(big.x.data.buffer);
    expect(out[1]!.y.data.buffer).toBe(big.y.data.buffer);
    expect(out[2]!.x.data.buffer).not.toBe(big.x.data.buffer); // the 2 held rows joined the next chunk's: a copy
    expect(out.flatMap(ids)).toEqual(Array.from({ length: 12 }, (_, i) => i));
  });

  it('keeps one-hot targets [m, n] as rows', () => {
    const out: Batch[] = [];
    from([rowsFrom(0, 3, true), rowsFrom(3, 2, true)]).pipe(batch(4)).subscribe((x) => out.push(x));
    expect(out.map((x) => x.y.shape)).toEqual([[4, 3], [1, 3]]);
    expect(Array.from(out[0]!.y.data)).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0]);
    expect(Array.from(out[1]!.y.data)).toEqual([0, 1, 0]);
  });

  it.each([0, -1, 1.5, NaN])('throws a RangeError at construction for size %s', (size) => {
    expect(() => batch(size)).toThrow(RangeError);
  });

  it('keeps every row, in order, in batches of exactly size but the last (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 20 }), { maxLength: 25 }), fc.integer({ min: 1, max: 16 }), fc.boolean(), (sizes, size, oneHot) => {
        const chunks: Batch[] = [];
        let total = 0;
        for (const n of sizes) {
          chunks.push(rowsFrom(total, n, oneHot));
          total += n;
        }
        const out: Batch[] = [];
        from(chunks).pipe(batch(size)).subscribe((x) => out.push(x));
        const rowIds = out.flatMap(ids);
        expect(rowIds).toEqual(Array.from({ length: total }, (_, i) => i));
        const targets = out.flatMap((x) => Array.from(x.y.data));
        expect(targets).toEqual(chunks.flatMap((x) => Array.from(x.y.data)));
        expect(out.map((x) => x.y.shape[0])).toEqual(out.map((x) => x.x.shape[0]));
        expect(out.map((x) => x.y.shape.length)).toEqual(out.map(() => (oneHot ? 2 : 1)));
        const counts = out.map((x) => x.x.shape[0]!);
        expect(counts.slice(0, -1).every((m) => m === size)).toBe(true);
        expect(counts.length).toBe(Math.ceil(total / size));
        if (counts.length > 0) expect(counts.at(-1)).toBe(total - size * (counts.length - 1));
      }),
      { seed: 20240611, numRuns: 300 },
    );
  });
});
