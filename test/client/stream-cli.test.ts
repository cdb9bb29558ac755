/**
 * `livegrad stream FILE --to URL --session NAME`: a CSV or JSON-lines file into a session through
 * the client library, against a real server on a free port, the CLI a child process; its
 * arguments and lines as pure functions; and the console examples of docs/client.md as written.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Pace, parseStream, progressLine, summaryLine } from '../../src/cli-stream.js';
import { LivegradError } from '../../src/errors.js';
import { createTrainer, epochs, sgd, type Batch, type Mlp, type MlpSpec, type Optimizer } from '../../src/index.js';
import { InputError, readHeader, readRows, rowParser, type Chunk, type Input, type RowShape } from '../../src/stream-input.js';
import { ROOT, useCli } from '../helpers/cli.js';
import { useClients, weightBytes } from '../helpers/client.js';
import { DIGITS_CSV, loadDigits } from '../helpers/digits.js';

const { start, connect } = useClients();
const { launch } = useCli();
const dir = mkdtempSync(join(tmpdir(), 'livegrad-stream-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DIGITS_SESSION = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/digits-session.json'), 'utf8')) as { model: MlpSpec; optimizer: { lr: number }; batchSize: number };

type Result = Awaited<ReturnType<typeof launch>['done']>;

/** Runs `livegrad stream …args` to its end. */
function stream(args: readonly string[]): Promise<Result> {
  return launch(['stream', ...args]).done;
}

/** Writes a file in the test's directory and returns its path. */
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** The digits as one batch (x [1797, 64], class indices [1797]). */
function digitsBatch(): Batch {
  const d = loadDigits();
  return { x: { dtype: 'float32', shape: [d.rows, d.cols], data: d.x }, y: { dtype: 'float32', shape: [d.rows], data: Float32Array.from(d.labels) } };
}

/** A model trained in-process, as `train()` trains it, on `chunks` in order (the last partial batch at the end). */
function trainedInProcess(model: MlpSpec, optimizer: Optimizer, batchSize: number, loss: 'crossEntropy' | 'mse', chunks: Iterable<Batch>): Mlp {
  const t = createTrainer({ model, loss, optimizer, batchSize, sliceMs: Infinity });
  for (const c of chunks) t.push(c);
  t.end();
  return t.model;
}

/** The chunks `epochs()` emits, synchronously. */
function epochChunks(data: Batch, options: { epochs: number; seed: number }): Batch[] {
  const out: Batch[] = [];
  epochs(data, { ...options, chunkSize: 256 }).subscribe((c) => out.push(c));
  return out;
}

describe('parseStream', () => {
  const base = ['data.csv', '--to', 'ws://127.0.0.1:8080/ws', '--session', 's'];

  it('reads the file, the server, the session and every option; defaults: one epoch, the format of the extension, the token of the environment', () => {
    expect(parseStream(base, { LIVEGRAD_PRODUCER_TOKEN: 'secret' })).toEqual({
      file: 'data.csv', url: 'ws://127.0.0.1:8080/ws', session: 's', format: 'csv', label: undefined, classes: undefined, create: undefined,
      batch: undefined, rate: undefined, epochs: 1, shuffle: undefined, producer: undefined, resume: false, close: false, token: 'secret',
    });
    const all = parseStream(['rows.data', '--to', 'wss://h/ws', '--session', 'a.b', '--format', 'csv', '--label', 'y1, y2', '--create', 'c.json', '--batch', '64', '--rate', '2.5', '--epochs', '3', '--shuffle', '4294967295', '--producer', 'p-1', '--resume', '--close', '--token', 't'], {});
    expect(all).toMatchObject({ file: 'rows.data', format: 'csv', label: ['y1', 'y2'], create: 'c.json', batch: 64, rate: 2.5, epochs: 3, shuffle: 4294967295, producer: 'p-1', resume: true, close: true, token: 't' });
    expect(parseStream(['x.JSONL', ...base.slice(1), '--classes', '10'], {})).toMatchObject({ format: 'jsonl', classes: 10 });
    expect(parseStream(['x.ndjson', ...base.slice(1)], {}).format).toBe('jsonl');
  });

  it.each([
    [[], TypeError, 'Expected the file to stream'],
    [['a.csv', 'b.csv', '--to', 'ws://h/ws', '--session', 's'], TypeError, 'got "b.csv"'],
    [['a.csv', '--session', 's'], TypeError, 'Expected --to URL'],
    [['a.csv', '--to', 'http://h/ws', '--session', 's'], TypeError, 'Expected --to to be a ws:// or wss:// URL'],
    [['a.csv', '--to', 'ws://h/ws'], TypeError, 'Expected --session NAME'],
    [['a.csv', '--to', 'ws://h/ws', '--session', 'no spaces'], TypeError, 'Expected --session to be a name'],
    [['a.txt', '--to', 'ws://h/ws', '--session', 's'], TypeError, 'Expected --format csv or jsonl (the extension of "a.txt" names neither)'],
    [[...base, '--format', 'tsv'], TypeError, 'Expected --format csv or jsonl, got "tsv"'],
    [[...base, '--label', 'a,,b'], TypeError, 'Expected --label to be column names'],
    [[...base, '--label', 'a,a'], TypeError, 'Expected --label to name each column once'],
    [['a.jsonl', ...base.slice(1), '--label', 'y'], TypeError, 'Expected --label with a CSV file only'],
    [[...base, '--classes', '0'], RangeError, 'Expected --classes to be an integer in [1, 16777215], got "0"'],
    [[...base, '--classes', '3', '--label', 'a,b'], TypeError, 'Expected one --label column with --classes'],
    [[...base, '--batch', '1.5'], RangeError, 'Expected --batch to be an integer'],
    [[...base, '--rate', '-1'], RangeError, 'Expected --rate to be a number of rows per second > 0, got "-1"'],
    [[...base, '--rate', 'fast'], RangeError, 'Expected --rate'],
    [[...base, '--epochs', '0'], RangeError, 'Expected --epochs to be an integer in [1,'],
    [[...base, '--shuffle', '4294967296'], RangeError, 'Expected --shuffle to be an integer in [0, 4294967295]'],
    [[...base, '--resume'], TypeError, 'Expected --producer NAME with --resume'],
    [[...base, '--producer', 'a b'], TypeError, 'Expected --producer to be a name'],
    [[...base, '--verbose'], TypeError, 'Expected an option of stream (see --help), got "--verbose"'],
    [[...base, '--epochs'], TypeError, 'Expected a value after --epochs, got nothing'],
  ] as const)('%j is a usage error naming it', (argv, type, message) => {
    expect(() => parseStream(argv, {})).toThrow(type);
    expect(() => parseStream(argv, {})).toThrow(message);
  });
});

describe('--rate', () => {
  it('sends no more rows than the rate allows since the start: 3 chunks of 50 rows at 500 rows/s take at least 0.3 s', async () => {
    const pace = new Pace(500, new AbortController().signal);
    const t0 = performance.now();
    const due: number[] = [];
    for (let k = 0; k < 3; k++) {
      await pace.wait(50);
      due.push(performance.now() - t0);
    }
    // each chunk goes only once its rows are due: 100, 200, 300 ms (a lower bound: Pace reads the clock again after its timer)
    due.forEach((t, k) => expect(t).toBeGreaterThanOrEqual((k + 1) * 100));
  });

  it('stops waiting when the stream is stopped', async () => {
    const stop = new AbortController();
    const pace = new Pace(1, stop.signal);
    const waiting = pace.wait(1000);
    stop.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('progressLine and summaryLine', () => {
  it('say where the stream stands, and how it ended', () => {
    const p = { sent: 1234, acked: 1200, consumed: 1024, step: 32, skipped: 0, seconds: 2, loss: 0.41234, holding: undefined };
    expect(progressLine({ ...p, total: 3594, fraction: 1234 / 3594 })).toBe('34%  1234/3594 rows  617 rows/s  acked 1200  trained 1024  step 32  loss 0.4123');
    expect(progressLine({ ...p, total: undefined, fraction: undefined, loss: undefined, seconds: 0 })).toBe('1234 rows  acked 1200  trained 1024  step 32');
    expect(progressLine({ ...p, total: undefined, fraction: undefined, holding: 0.456 })).toBe('reading the file to shuffle its rows: 45%');
    expect(summaryLine({ sent: 1797, skipped: 0, epochs: 1, seconds: 1.2, step: 57, loss: 0.41234, closed: false })).toBe('streamed 1797 rows (1 epoch) in 1.20 s, 1498 rows/s; step 57, loss 0.4123');
    expect(summaryLine({ sent: 0, skipped: 1797, epochs: 2, seconds: 12.34, step: 57, loss: undefined, closed: true })).toBe('streamed 0 rows (2 epochs, 1797 rows skipped: the session held them) in 12.3 s, 0 rows/s; step 57; session closed');
  });
});

/** Reads `input` for a session of `shape` as the command does, in chunks of 2 rows: every chunk, or the error. */
async function read(input: Input, shape: RowShape): Promise<Chunk[]> {
  const signal = new AbortController().signal;
  const parser = rowParser(input, await readHeader(input, signal), shape, 's');
  const chunks: Chunk[] = [];
  for await (const c of readRows(input, parser, shape, 2, signal)) chunks.push({ m: c.m, x: c.x.slice(), y: c.y.slice() });
  return chunks;
}

describe('reading the file', () => {
  const classes3: RowShape = { dtype: 'float32', inputSize: 2, outputSize: 3, classes: 3 };
  const csv = (name: string, text: string, label?: string[]): Input => ({ file: file(name, text), format: 'csv', label });
  const jsonl = (name: string, text: string): Input => ({ file: file(name, text), format: 'jsonl', label: undefined });

  it('reads CSV rows in chunks: the label columns by name, in --label order, anywhere in the header; blank lines, CRLF and a byte-order mark are no matter', async () => {
    const input = csv('targets.csv', '\ufefft1,a,t2,b\r\n1,2,3,4\r\n\r\n5,6,7,8\r\n9,10,11,12', ['t2', 't1']);
    const chunks = await read(input, { dtype: 'float64', inputSize: 2, outputSize: 2, classes: undefined });
    expect(chunks.map((c) => [c.m, Array.from(c.x), Array.from(c.y)])).toEqual([
      [2, [2, 4, 6, 8], [3, 1, 7, 5]],
      [1, [10, 12], [11, 9]],
    ]);
    expect(chunks[0]!.x).toBeInstanceOf(Float64Array);
    const last = await read(csv('last.csv', 'a,b,label\n0.5,-1e-3,2\n'), classes3);
    expect(last.map((c) => [Array.from(c.x), Array.from(c.y)])).toEqual([[[0.5, Math.fround(-1e-3)], [2]]]);
  });

  it('reads JSON lines: y a class index, an array of targets, or a number for one output', async () => {
    const rows = (shape: RowShape, text: string) => read(jsonl(`${shape.outputSize}-${shape.classes}.jsonl`, text), shape).then((cs) => cs.map((c) => [Array.from(c.x), Array.from(c.y)]));
    expect(await rows(classes3, '{"x": [1, 2], "y": 2}\n\n{"y": 0, "x": [3, 4]}\n')).toEqual([[[1, 2, 3, 4], [2, 0]]]);
    expect(await rows({ ...classes3, classes: undefined }, '{"x": [1, 2], "y": [0.5, 0, 1]}\n')).toEqual([[[1, 2], [0.5, 0, 1]]]);
    expect(await rows({ ...classes3, outputSize: 1, classes: undefined }, '{"x": [1, 2], "y": 0.25}\n')).toEqual([[[1, 2], [0.25]]]);
  });

  it.each([
    ['nan.csv', 'a,b,label\n0.5,1,2\n\n0.25,abc,1\n', ':4:6: Expected a finite number in field 2 ("b"), got "abc"'],
    ['empty-field.csv', 'a,b,label\r\n0.5,1,2\r\n1,,0\r\n', ':3:3: Expected a finite number in field 2 ("b"), got ""'],
    ['blank-field.csv', 'a,b,label\n1, ,0\n', ':2:3: Expected a finite number in field 2 ("b"), got " "'],
    ['short.csv', 'a,b,label\n0.5,1,2\n1,2\n', ':3:4: Expected 3 fields (as the header), got 2'],
    ['long.csv', 'a,b,label\n0.5,1,2\n1,2,0,7,8\n', ':3:7: Expected 3 fields (as the header), got 5'],
    ['long-bad.csv', 'a,b,label\n1,x,0,7\n', ':2:7: Expected 3 fields (as the header), got 4'],
    ['class.csv', 'a,b,label\n0.5,1,2\n1,2,3\n', ':3:5: Expected a class index 0 to 2 (--classes 3) in field 3 ("label"), got "3"'],
    ['fraction.csv', 'a,b,label\n0.5,1,2\n1,2,1.5\n', ':3:5: Expected a class index 0 to 2 (--classes 3) in field 3 ("label"), got "1.5"'],
    ['inf.csv', 'a,b,label\n0.5,1,2\n1,Infinity,0\n', ':3:3: Expected a finite number in field 2 ("b"), got "Infinity"'],
    ['float32.csv', 'a,b,label\n0.5,1,2\n1e39,1,0\n', ':3:1: Expected a number within float32\'s range (the session\'s dtype) in field 1 ("a"), got "1e39"'],
    ['header.csv', '\n\n', ':2: Expected a header row, got an empty file'],
    ['syntax.jsonl', '{"x": [0, 1], "y": 2}\n{"x": [0, 1,], "y": 2}\n', ':2:13: Expected a JSON object {"x": […], "y": …}, got invalid JSON (Unexpected token \']\')'],
    ['cut.jsonl', '{"x": [0, 1], "y": 2}\n{"x": [0, 1], "y": 2\n', ':2:21: Expected a JSON object {"x": […], "y": …}, got invalid JSON (Expected \',\' or \'}\' after property value)'],
    ['trailing.jsonl', '{"x": [0, 1], "y": 2} 7\n', ':1:23: Expected a JSON object {"x": […], "y": …}, got invalid JSON (Unexpected non-whitespace character after JSON)'],
    ['array.jsonl', '[0, 1, 2]\n', ':1:1: Expected a JSON object {"x": […], "y": …}, got "[0, 1, 2]"'],
    ['value.jsonl', '{"x": [0, 1], "y": 2}\n\n{"x": [0, "1"], "y": 2}\n', ':3: Expected x[1] to be a finite number, got "1"'],
    ['huge.jsonl', '{"x": [0, 1e999], "y": 2}\n', ':1: Expected x[1] to be a finite number, got null'],
    ['float32.jsonl', '{"x": [0, -1e39], "y": 2}\n', ':1: Expected x[1] to be a number within float32\'s range (the session\'s dtype), got -1e+39'],
    ['width.jsonl', '{"x": [0, 1, 2], "y": 2}\n', ':1: Expected "x" to be an array of 2 numbers (the session\'s), got [0,1,2]'],
    ['label.jsonl', '{"x": [0, 1], "y": 2}\n{"x": [0, 1], "y": 3}\n', ':2: Expected "y" to be a class index 0 to 2 (--classes 3), got 3'],
    ['no-y.jsonl', '{"x": [0, 1]}\n', ':1: Expected "y" to be a class index 0 to 2 (--classes 3), got none'],
  ])('%s: a malformed line is an InputError FILE:LINE:COLUMN', async (name, text, error) => {
    const input = name.endsWith('.csv') ? csv(name, text) : jsonl(name, text);
    const failure = read(input, classes3);
    await expect(failure).rejects.toThrow(InputError);
    await expect(failure).rejects.toThrow(`${input.file}${error}`);
  });

  it('checks the file against the session: E_SHAPE for the features, the targets, --classes; InputError for a --label the header lacks', async () => {
    const input = csv('shape.csv', 'a,b,c,y\n1,2,3,0\n');
    const header = await readHeader(input, new AbortController().signal);
    const shapeError = (shape: RowShape): unknown => {
      try {
        rowParser(input, header, shape, 's');
        return undefined;
      } catch (e) {
        return e;
      }
    };
    expect(shapeError(classes3)).toEqual(new LivegradError('E_SHAPE', `Expected 2 feature columns in ${input.file} (session "s" takes 2 inputs), got 3 (every column of the header but the label "y")`));
    expect(shapeError({ ...classes3, inputSize: 3, classes: undefined })).toEqual(new LivegradError('E_SHAPE', `Expected 3 label columns in ${input.file} (session "s" has 3 outputs; name them with --label a,b,…, or give --classes 3 for one column of class indices), got 1 ("y")`));
    expect(shapeError({ ...classes3, inputSize: 3, classes: 10 })).toEqual(new LivegradError('E_SHAPE', 'Expected --classes 3 (session "s" has 3 outputs), got 10'));
    expect(shapeError({ ...classes3, inputSize: 3 })).toBeUndefined();
    await expect(readHeader({ ...input, label: ['label'] }, new AbortController().signal)).rejects.toThrow(`${input.file}:1: Expected a column named "label" (--label) in the header, got "a", "b", "c", "y"`);
  });
});

describe('livegrad stream', () => {
  it('streams digits.csv into the session it creates (--classes 10): the weights of train() on the same rows, bit for bit', async () => {
    const server = await start();
    const r = await stream([DIGITS_CSV, '--to', server.url, '--session', 'digits', '--create', 'test/fixtures/digits-session.json', '--classes', '10']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^streamed 1797 rows \(1 epoch\) in \d+\.\d+ s, \d+ rows\/s; step 57, loss \d+\.\d{4}\n$/);
    const client = await connect(server.url);
    const snap = await client.session('digits').snapshot();
    expect(snap.samples).toBe(1797);
    const { model, optimizer, batchSize } = DIGITS_SESSION;
    expect(weightBytes(snap.model)).toEqual(weightBytes(trainedInProcess(model, sgd({ lr: optimizer.lr }), batchSize, 'crossEntropy', [digitsBatch()])));
  });

  it('--epochs 2 --shuffle 7 sends the order of epochs(data, { epochs: 2, seed: 7 }): two runs, the same weights, train()’s on those chunks', async () => {
    const server = await start();
    const args = (session: string): string[] => [DIGITS_CSV, '--to', server.url, '--session', session, '--create', 'test/fixtures/digits-session.json', '--classes', '10', '--epochs', '2', '--shuffle', '7'];
    const [a, b] = await Promise.all([stream(args('a')), stream(args('b'))]);
    for (const r of [a, b]) {
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^streamed 3594 rows \(2 epochs\) in .* s, \d+ rows\/s; step 113, loss \d+\.\d{4}\n$/);
    }
    const client = await connect(server.url);
    const [wa, wb] = await Promise.all(['a', 'b'].map(async (s) => weightBytes((await client.session(s).snapshot()).model)));
    expect(wa).toEqual(wb);
    const { model, optimizer, batchSize } = DIGITS_SESSION;
    expect(wa).toEqual(weightBytes(trainedInProcess(model, sgd({ lr: optimizer.lr }), batchSize, 'crossEntropy', epochChunks(digitsBatch(), { epochs: 2, seed: 7 }))));
    // and not the file's order
    expect(wa).not.toEqual(weightBytes(trainedInProcess(model, sgd({ lr: optimizer.lr }), batchSize, 'crossEntropy', [digitsBatch(), digitsBatch()])));
  });

  it('ends with exit 1 and one line on stderr, having sent nothing: a CSV line that is not numbers as FILE:LINE:COLUMN, a file narrower than the session (E_SHAPE; the session it created is closed again), a session that does not exist (E_UNKNOWN_SESSION)', async () => {
    const server = await start();
    const lines = readFileSync(DIGITS_CSV, 'utf8').split('\n');
    const bad = lines[5]!.split(',');
    bad[2] = '0.5.0';
    const path = file('digits-bad.csv', `${[...lines.slice(0, 5), bad.join(','), ...lines.slice(6, 100)].join('\n')}\n`);
    const column = bad.slice(0, 2).join(',').length + 2;
    const [badLine, narrow, missing] = await Promise.all([
      stream([path, '--to', server.url, '--session', 'digits', '--create', 'test/fixtures/digits-session.json', '--classes', '10']),
      stream(['test/fixtures/xor-bad.csv', '--to', server.url, '--session', 'narrow', '--create', 'test/fixtures/digits-session.json', '--classes', '10']),
      stream([DIGITS_CSV, '--to', server.url, '--session', 'nope', '--classes', '10']),
    ]);
    expect(badLine.stderr).toBe(`livegrad stream: ${path}:6:${column}: Expected a finite number in field 3 ("f2"), got "0.5.0"\n`);
    expect(narrow.stderr).toBe('livegrad stream: E_SHAPE: Expected 64 feature columns in test/fixtures/xor-bad.csv (session "narrow" takes 64 inputs), got 2 (every column of the header but the label "xor") (the session it created is closed again)\n');
    expect(missing.stderr).toBe('livegrad stream: E_UNKNOWN_SESSION: Expected an existing session, got "nope"\n');
    for (const r of [badLine, narrow, missing]) expect([r.status, r.stdout]).toEqual([1, '']);
    const client = await connect(server.url);
    // the rows go in chunks of 1024: the first four rows, before the bad line, were not sent either
    expect((await client.sessions()).map((s) => [s.session, s.samples])).toEqual([['digits', 0]]);
  });

  it('streams regression targets, from a CSV (--label t2,t1) and from JSON lines: the weights of train() on the same rows', async () => {
    const server = await start();
    const n = 200;
    const rows = Array.from({ length: n }, (_, i) => {
      const a = Math.sin(i * 0.37), b = Math.cos(i * 0.11);
      return { a, b, t1: a * b, t2: a - b };
    });
    // the targets between the features, and named in the other order
    const csv = file('regression.csv', `t1,a,t2,b\n${rows.map((r) => `${r.t1},${r.a},${r.t2},${r.b}`).join('\n')}\n`);
    const jsonl = file('regression.jsonl', `${rows.map((r) => JSON.stringify({ x: [r.a, r.b], y: r.t1 })).join('\n')}\n`);
    const spec = (outputs: number): MlpSpec => ({ inputSize: 2, layers: [{ units: 6, activation: 'tanh' }, { units: outputs, activation: 'linear' }], seed: 3 });
    const config = (outputs: number): string => file(`regression-${outputs}.json`, JSON.stringify({ model: spec(outputs), loss: 'mse', optimizer: { kind: 'sgd', lr: 0.05 }, batchSize: 16 }));
    const results = await Promise.all([
      stream([csv, '--to', server.url, '--session', 'csv', '--create', config(2), '--label', 't2,t1']),
      stream([jsonl, '--to', server.url, '--session', 'jsonl', '--create', config(1)]),
    ]);
    for (const r of results) {
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^streamed 200 rows \(1 epoch\) in .*; step 13, loss \d+\.\d{4}\n$/);
    }
    const client = await connect(server.url);
    const x = Float32Array.from(rows.flatMap((r) => [r.a, r.b]));
    const two: Batch = { x: { dtype: 'float32', shape: [n, 2], data: x }, y: { dtype: 'float32', shape: [n, 2], data: Float32Array.from(rows.flatMap((r) => [r.t2, r.t1])) } };
    const one: Batch = { x: { dtype: 'float32', shape: [n, 2], data: x }, y: { dtype: 'float32', shape: [n, 1], data: Float32Array.from(rows.map((r) => r.t1)) } };
    expect(weightBytes((await client.session('csv').snapshot()).model)).toEqual(weightBytes(trainedInProcess(spec(2), sgd({ lr: 0.05 }), 16, 'mse', [two])));
    expect(weightBytes((await client.session('jsonl').snapshot()).model)).toEqual(weightBytes(trainedInProcess(spec(1), sgd({ lr: 0.05 }), 16, 'mse', [one])));
  });

  it('stops on SIGINT: exit 130, a line saying how far it got; the rows the session acknowledged train', async () => {
    const server = await start();
    const client = await connect(server.url);
    const { child, done } = launch(['stream', DIGITS_CSV, '--to', server.url, '--session', 'slow', '--create', 'test/fixtures/digits-session.json', '--classes', '10', '--rate', '400']);
    await expect.poll(async () => (await client.sessions()).find((s) => s.session === 'slow')?.samples ?? 0, { timeout: 20_000, interval: 50 }).toBeGreaterThan(0);
    child.kill('SIGINT');
    const r = await done;
    expect(r.status).toBe(130);
    expect(r.stderr).toBe('');
    const m = /^interrupted by SIGINT after \d+\.\d s: (\d+) rows sent, (\d+) acknowledged \(the session trains them\), \d+ trained so far; step \d+\n$/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    const acked = Number(m![2]);
    expect(acked).toBeGreaterThan(0);
    expect(acked).toBeLessThan(1797);
    // whole batches of 32, every acknowledged one trained
    await expect.poll(async () => (await client.session('slow').info()).queueDepth, { timeout: 10_000 }).toBe(0);
    expect((await client.session('slow').info()).samples).toBeGreaterThanOrEqual(acked);
  });
});

describe('docs/client.md, "From a terminal: livegrad stream"', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'client.md'), 'utf8');
  const block = /<!-- console examples: test\/client\/stream-cli\.test\.ts[^>]*-->\n```console\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
  // `$ command`, continued on the next line after a `\`, then the lines it prints
  const examples: { command: string; prints: string[] }[] = [];
  let continued = false;
  for (const line of block.trimEnd().split('\n')) {
    if (continued) examples.at(-1)!.command += ` ${line.trim()}`;
    else if (line.startsWith('$ ')) examples.push({ command: line.slice(2), prints: [] });
    else examples.at(-1)!.prints.push(line);
    continued = line.endsWith('\\');
    if (continued) examples.at(-1)!.command = examples.at(-1)!.command.slice(0, -1).trimEnd();
  }

  it('has the console examples: the commands, each with what it prints', () => {
    expect(examples.map((e) => [e.command.split(' ').slice(0, 3).join(' '), e.prints.length])).toEqual(Array(3).fill(['npx livegrad stream', 1]));
  });

  it('runs each command as written and it prints what the page says (times and rates aside)', async () => {
    const server = await start();
    // each in a session of its own: side by side
    const results = await Promise.all(examples.map((e) => launch(e.command.replace('ws://127.0.0.1:8080/ws', server.url).split(/\s+/).slice(2)).done));
    for (const [i, e] of examples.entries()) {
      const r = results[i]!;
      const prints = e.prints.join('\n');
      const pattern = prints.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/in \d+\\\.\d+ s, \d+ rows\/s/, 'in \\d+\\.\\d+ s, \\d+ rows/s');
      expect(`${r.stdout}${r.stderr}`.trimEnd()).toMatch(new RegExp(`^${pattern}$`));
      expect(r.status).toBe(prints.startsWith('livegrad stream:') ? 1 : 0);
    }
  });
});
