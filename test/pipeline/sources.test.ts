/**
 * Sources: epochs() (seeded, reshuffled every epoch), csvChunks()/readCsv() on the digits fixture
 * and on malformed files (LivegradError E_BAD_CSV naming file:line), and an async generator
 * feeding train() through rxjs from().
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, from, lastValueFrom, map, take, toArray, type Observable } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvChunks, dataset, epochs, LivegradError, readCsv, sgd, train, type Batch, type CsvOptions } from '../../src/index.js';
import { expectSameBits } from '../helpers/bits.js';
import { DIGITS_CSV, loadDigits } from '../helpers/digits.js';
import { digits, rows, W2 } from '../helpers/pipeline.js';

/** Ten rows whose single feature is the row id. */
const TEN = dataset(
  Array.from({ length: 10 }, (_, i) => [i]),
  Array.from({ length: 10 }, (_, i) => i % 3),
);

const collect = (o: Observable<Batch>): Promise<Batch[]> => lastValueFrom(o.pipe(toArray()));
const idsOf = (chunks: readonly Batch[]): number[] => chunks.flatMap((c) => Array.from(c.x.data));

describe('epochs', () => {
  it('emits every row once per epoch, in chunks of chunkSize', async () => {
    const chunks = await collect(epochs(TEN, { epochs: 3, seed: 1, chunkSize: 4 }));
    expect(chunks.map((c) => c.x.shape[0])).toEqual([4, 4, 2, 4, 4, 2, 4, 4, 2]);
    const ids = idsOf(chunks);
    for (let e = 0; e < 3; e++) expect([...ids.slice(e * 10, e * 10 + 10)].sort((p, q) => p - q)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    chunks.forEach((c) => expect(Array.from(c.y.data)).toEqual(Array.from(c.x.data, (id) => id % 3)));
  });

  it('is deterministic per seed, and another seed shuffles differently', async () => {
    const once = idsOf(await collect(epochs(TEN, { epochs: 2, seed: 7 })));
    expect(idsOf(await collect(epochs(TEN, { epochs: 2, seed: 7 })))).toEqual(once);
    expect(idsOf(await collect(epochs(TEN, { epochs: 2, seed: 8 })))).not.toEqual(once);
  });

  it('reshuffles every epoch', async () => {
    const ids = idsOf(await collect(epochs(digits(), { epochs: 3, seed: 5, chunkSize: 100 })));
    const n = 1797;
    const [e1, e2, e3] = [ids.slice(0, n), ids.slice(n, 2 * n), ids.slice(2 * n)];
    expect(e2).not.toEqual(e1);
    expect(e3).not.toEqual(e2);
    expect(e1).not.toEqual(idsOf([digits()]));
  });

  it('keeps the order without shuffle', async () => {
    expect(idsOf(await collect(epochs(TEN, { epochs: 2, shuffle: false, chunkSize: 3 })))).toEqual([...Array(10).keys(), ...Array(10).keys()]);
  });

  it('stops when the consumer unsubscribes', async () => {
    const seen: number[] = [];
    await lastValueFrom(epochs(TEN, { epochs: 1000, chunkSize: 1 }).pipe(take(3), map((c) => seen.push(c.x.data[0]!))));
    expect(seen).toHaveLength(3);
  });

  it('throws a RangeError for bad options', () => {
    expect(() => epochs(TEN, { epochs: 0 })).toThrow(RangeError);
    expect(() => epochs(TEN, { chunkSize: 0 })).toThrow(RangeError);
    expect(() => epochs({ x: TEN.x, y: rows(TEN, 0, 9).y })).toThrow(RangeError);
  });
});

describe('csvChunks / readCsv on the digits', () => {
  const d = loadDigits();

  it('streams all 1797 rows in chunks of chunkSize, as read by the reference loader', async () => {
    const chunks = await collect(csvChunks(DIGITS_CSV));
    expect(chunks.map((c) => c.x.shape[0])).toEqual([256, 256, 256, 256, 256, 256, 256, 5]);
    const x = Float32Array.from(chunks.flatMap((c) => Array.from(c.x.data)));
    expectSameBits(x, d.x, 'x');
    expect(chunks[0]!.y.shape).toEqual([256]);
    expect(chunks.flatMap((c) => Array.from(c.y.data))).toEqual(Array.from(d.labels));
  });

  it.each<[NonNullable<CsvOptions['target']>, number[]]>([
    ['index', [1797]],
    ['oneHot', [1797, 10]],
    ['value', [1797, 1]],
  ])('reads %s targets', async (target, shape) => {
    const data = await readCsv(DIGITS_CSV, { target, classes: 10, chunkSize: 500 });
    expect(data.x.shape).toEqual([1797, 64]);
    expect(data.y.shape).toEqual(shape);
    const labels = Array.from(d.labels);
    if (target === 'oneHot') expect(Array.from(data.y.data)).toEqual(labels.flatMap((k) => Array.from({ length: 10 }, (_, j) => (j === k ? 1 : 0))));
    else expect(Array.from(data.y.data)).toEqual(labels);
  });

  it('reads float64 when asked', async () => {
    const data = await readCsv(DIGITS_CSV, { dtype: 'float64' });
    expect(data.x.data).toBeInstanceOf(Float64Array);
    expect(data.x.data[2]).toBe(0.3125);
  });

  it('stops reading when the consumer unsubscribes', async () => {
    const first = await firstValueFrom(csvChunks(DIGITS_CSV, { chunkSize: 10 }));
    expect(first.x.shape).toEqual([10, 64]);
  });

  it('throws a RangeError for oneHot without classes', () => {
    expect(() => csvChunks(DIGITS_CSV, { target: 'oneHot' })).toThrow(RangeError);
  });
});

describe('csvChunks on malformed files', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'livegrad-csv-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function file(name: string, text: string): string {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  }

  async function csvError(path: string, options: CsvOptions = {}): Promise<LivegradError> {
    const error = await collect(csvChunks(path, options)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LivegradError);
    expect((error as LivegradError).code).toBe('E_BAD_CSV');
    await expect(readCsv(path, options)).rejects.toMatchObject({ code: 'E_BAD_CSV', message: (error as Error).message });
    return error as LivegradError;
  }

  it('names the file and line 1 when the label column is missing', async () => {
    const path = file('no-label.csv', 'a,b,target\n1,2,0\n');
    expect((await csvError(path)).message).toBe(`${path}:1: Expected a column named "label" in the header, got a, b, target`);
  });

  it('names the file and line of a row with the wrong number of columns', async () => {
    const path = file('columns.csv', 'a,b,label\n1,2,0\n3,4\n5,6,1\n');
    expect((await csvError(path)).message).toBe(`${path}:3: Expected 3 columns, got 2`);
  });

  it('names the file, line and column of a cell that is not a number', async () => {
    const path = file('cell.csv', 'a,b,label\n1,2,0\n3,4,1\n5,six,1\n');
    expect((await csvError(path)).message).toBe(`${path}:4: Expected a finite number in column b, got "six"`);
  });

  it('refuses an empty cell and a label out of range', async () => {
    expect((await csvError(file('empty-cell.csv', 'a,label\n,0\n'))).message).toMatch(/:2: Expected a finite number in column a, got ""$/);
    expect((await csvError(file('range.csv', 'a,label\n1,0\n2,3\n'), { classes: 3 })).message).toMatch(/:3: Expected a class index in \[0, 2\] in column label, got 3$/);
  });

  it('refuses an empty file and a missing file', async () => {
    expect((await csvError(file('empty.csv', ''))).message).toMatch(/Expected a header row, got an empty file$/);
    expect((await csvError(join(dir, 'missing.csv'))).message).toMatch(/^Cannot read .*missing\.csv: ENOENT/);
  });

  it('reads a file whose label column is not last, with blank lines and CRLF', async () => {
    const data = await readCsv(file('crlf.csv', 'label,a,b\r\n1,0.5,0.25\r\n\r\n0,1,2\r\n'));
    expect(Array.from(data.x.data)).toEqual([0.5, 0.25, 1, 2]);
    expect(Array.from(data.y.data)).toEqual([1, 0]);
  });
});

describe('an async generator source', () => {
  it('trains through from(), as the same chunks from an array do', async () => {
    const data = digits();
    const chunks = Array.from({ length: 6 }, (_, i) => rows(data, i * 50, i * 50 + 50));
    async function* generate(): AsyncGenerator<Batch> {
      for (const c of chunks) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        yield c;
      }
    }
    const losses = (source: Observable<Batch>): Promise<(string | number)[]> =>
      lastValueFrom(
        source.pipe(
          train({ model: W2, loss: 'crossEntropy', optimizer: sgd({ lr: 0.5 }), batchSize: 32, events: { metricsEvery: 0, gradientsEvery: 0, weightsEvery: 0 } }),
          map((e) => (e.type === 'step' ? e.loss : e.type === 'lifecycle' ? e.state : e.type)),
          toArray(),
        ),
      );
    const live = await losses(from(generate()));
    expect(live).toHaveLength(2 + Math.ceil(300 / 32));
    expect([live[0], live.at(-1)]).toEqual(['started', 'completed']);
    expect(live).toEqual(await losses(from(chunks)));
  });
});
