/**
 * Sample sources: in-memory arrays, epochs over a finite data set with a seeded shuffle,
 * and CSV files read as a stream. Any AsyncIterable of batches works too, through rxjs `from()`.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Observable } from 'rxjs';
import { LivegradError, describe } from '../errors.js';
import { rng } from '../nn/rng.js';
import type { Batch } from '../nn/batch.js';
import { allocate, tensor, type DType, type Tensor } from '../nn/tensor.js';

/** A finite data set: x [n, features], y [n, outputs] or [n] class indices. */
export type Dataset = Batch;

function rowsOf(t: Tensor): number {
  return t.shape[0]!;
}

function widthOf(t: Tensor): number {
  return t.shape.length === 1 ? 1 : t.shape[1]!;
}

/** Copies rows idx[from..to) of a data set into a new chunk. */
function gather(d: Dataset, idx: Int32Array | undefined, from: number, to: number): Batch {
  const xw = widthOf(d.x), yw = widthOf(d.y), m = to - from;
  const x = allocate(d.x.dtype, m * xw);
  const y = allocate(d.y.dtype, m * yw);
  for (let r = 0; r < m; r++) {
    const i = idx ? idx[from + r]! : from + r;
    x.set(d.x.data.subarray(i * xw, (i + 1) * xw), r * xw);
    y.set(d.y.data.subarray(i * yw, (i + 1) * yw), r * yw);
  }
  return { x: { dtype: d.x.dtype, shape: [m, xw], data: x }, y: { dtype: d.y.dtype, shape: d.y.shape.length === 1 ? [m] : [m, yw], data: y } };
}

/** A data set from nested arrays: x rows, and y rows or class indices. */
export function dataset(x: readonly (readonly number[])[], y: readonly (readonly number[])[] | readonly number[], dtype: DType = 'float32'): Dataset {
  const xt = tensor(x, undefined, dtype);
  const yt = Array.isArray(y[0]) ? tensor(y as readonly (readonly number[])[], undefined, dtype) : tensor(y as readonly number[], undefined, dtype);
  if (rowsOf(xt) !== rowsOf(yt)) throw new RangeError(`Expected as many targets as rows (${rowsOf(xt)}), got ${rowsOf(yt)}`);
  return { x: xt, y: yt };
}

export interface EpochOptions {
  /** Passes over the data. Default 1. */
  readonly epochs?: number;
  /** Seed of the per-epoch shuffle. */
  readonly seed?: number;
  /** Shuffle each epoch (default true). */
  readonly shuffle?: boolean;
  /** Rows per emitted chunk (the last chunk of an epoch may be shorter). Default 32. */
  readonly chunkSize?: number;
}

/**
 * Emits a finite data set `epochs` times, reshuffled each epoch by the seeded generator
 * (Fisher–Yates over row indices), in chunks of `chunkSize` rows. Synchronous: subscribe and it runs.
 *
 *   result: --c--c--c--c--c--c--|     (epochs × ⌈n / chunkSize⌉ chunks)
 */
export function epochs(data: Dataset, options: EpochOptions = {}): Observable<Batch> {
  const n = rowsOf(data.x);
  if (rowsOf(data.y) !== n) throw new RangeError(`Expected as many targets as rows (${n}), got ${rowsOf(data.y)}`);
  const count = options.epochs ?? 1;
  const chunk = options.chunkSize ?? 32;
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`Expected epochs to be a positive integer, got ${describe(count)}`);
  if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`Expected chunkSize to be a positive integer, got ${describe(chunk)}`);
  const shuffle = options.shuffle ?? true;
  return new Observable<Batch>((subscriber) => {
    const random = rng(options.seed ?? 0);
    const idx = Int32Array.from({ length: n }, (_, i) => i);
    for (let e = 0; e < count && !subscriber.closed; e++) {
      if (shuffle) random.shuffle(idx);
      for (let s = 0; s < n && !subscriber.closed; s += chunk) subscriber.next(gather(data, shuffle ? idx : undefined, s, Math.min(n, s + chunk)));
    }
    subscriber.complete();
  });
}

export interface CsvOptions {
  /** Name of the target column (header row). Default "label". */
  readonly label?: string;
  /** `index`: y holds class indices [m] (default); `oneHot`: y is [m, classes]; `value`: y is [m, 1] regression targets. */
  readonly target?: 'index' | 'oneHot' | 'value';
  /** Number of classes for `oneHot` (required), and the allowed range of `index` labels (optional). */
  readonly classes?: number;
  /** Rows per emitted chunk. Default 256. */
  readonly chunkSize?: number;
  readonly dtype?: DType;
}

/**
 * Reads a CSV file (header row, comma separated, numbers only) as a stream of chunks, without
 * holding the file in memory. Errors name the file, line and column (LivegradError E_BAD_CSV).
 */
export function csvChunks(path: string, options: CsvOptions = {}): Observable<Batch> {
  const labelName = options.label ?? 'label';
  const target = options.target ?? 'index';
  const chunkSize = options.chunkSize ?? 256;
  const dtype = options.dtype ?? 'float32';
  if (target === 'oneHot' && !(Number.isInteger(options.classes) && options.classes! > 0)) {
    throw new RangeError(`Expected classes (a positive integer) with target "oneHot", got ${describe(options.classes)}`);
  }
  return new Observable<Batch>((subscriber) => {
    const stream = createReadStream(path, { encoding: 'utf8' });
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    let header: string[] | undefined;
    let labelCol = -1;
    let features = 0;
    let lineNo = 0;
    let xs: number[] = [];
    let ys: number[] = [];
    const fail = (msg: string): void => {
      subscriber.error(new LivegradError('E_BAD_CSV', `${path}:${lineNo}: ${msg}`));
      lines.close();
      stream.destroy();
    };
    const flush = (): void => {
      const m = ys.length / (target === 'oneHot' ? options.classes! : 1);
      if (m === 0) return;
      const x = tensor(xs, [m, features], dtype);
      const y = target === 'index' ? tensor(ys, [m], dtype) : tensor(ys, [m, target === 'oneHot' ? options.classes! : 1], dtype);
      xs = [];
      ys = [];
      subscriber.next({ x, y });
    };
    lines.on('line', (line) => {
      lineNo++;
      if (subscriber.closed || line.trim() === '') return;
      const cells = line.split(',');
      if (!header) {
        header = cells.map((c) => c.trim());
        labelCol = header.indexOf(labelName);
        if (labelCol < 0) return fail(`Expected a column named ${JSON.stringify(labelName)} in the header, got ${header.slice(0, 8).join(', ')}${header.length > 8 ? ', …' : ''}`);
        features = header.length - 1;
        return;
      }
      if (cells.length !== header.length) return fail(`Expected ${header.length} columns, got ${cells.length}`);
      for (let c = 0; c < cells.length; c++) {
        const v = Number(cells[c]);
        if (cells[c]!.trim() === '' || !Number.isFinite(v)) return fail(`Expected a finite number in column ${header[c]}, got ${JSON.stringify(cells[c])}`);
        if (c !== labelCol) {
          xs.push(v);
          continue;
        }
        if (target === 'value') {
          ys.push(v);
          continue;
        }
        const limit = options.classes ?? Infinity;
        if (!Number.isInteger(v) || v < 0 || v >= limit) return fail(`Expected a class index in [0, ${limit === Infinity ? '∞' : limit - 1}] in column ${labelName}, got ${cells[c]}`);
        if (target === 'index') ys.push(v);
        else for (let k = 0; k < options.classes!; k++) ys.push(k === v ? 1 : 0);
      }
      if (ys.length / (target === 'oneHot' ? options.classes! : 1) >= chunkSize) flush();
      return;
    });
    lines.on('close', () => {
      if (subscriber.closed) return;
      if (!header) return fail('Expected a header row, got an empty file');
      flush();
      subscriber.complete();
    });
    // NOTE: readline re-emits the input stream's errors on the interface; unheard there, they crash the process.
    lines.on('error', (err) => subscriber.error(new LivegradError('E_BAD_CSV', `Cannot read ${path}: ${err.message}`, { cause: err })));
    return () => {
      lines.close();
      stream.destroy();
    };
  });
}

/** Reads a whole CSV file into a data set (see `csvChunks` for the options). */
export async function readCsv(path: string, options: CsvOptions = {}): Promise<Dataset> {
  const chunks: Batch[] = [];
  await new Promise<void>((resolve, reject) => {
    csvChunks(path, options).subscribe({ next: (c) => chunks.push(c), error: reject, complete: resolve });
  });
  if (chunks.length === 0) throw new LivegradError('E_BAD_CSV', `${path}: Expected at least one data row, got none`);
  const n = chunks.reduce((s, c) => s + rowsOf(c.x), 0);
  const first = chunks[0]!;
  const xw = widthOf(first.x), yw = widthOf(first.y);
  const x = allocate(first.x.dtype, n * xw), y = allocate(first.y.dtype, n * yw);
  let r = 0;
  for (const c of chunks) {
    x.set(c.x.data, r * xw);
    y.set(c.y.data, r * yw);
    r += rowsOf(c.x);
  }
  return { x: { dtype: first.x.dtype, shape: [n, xw], data: x }, y: { dtype: first.y.dtype, shape: first.y.shape.length === 1 ? [n] : [n, yw], data: y } };
}
