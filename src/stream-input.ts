/**
 * The rows of the file `livegrad stream` sends: a CSV or JSON-lines file read as it goes, in
 * chunks of the session's typed arrays, each line checked on its way (a malformed one is an
 * InputError `FILE:LINE:COLUMN: Expected …, got …`, thrown before its chunk is yielded), and the
 * file checked against the session before its first row (E_SHAPE).
 *
 *   FILE ─lines─▶ content (no '\r', BOM, blank lines) ─LineParser─▶ Chunk {m, x [m, in], y}
 *   --shuffle:    every Chunk ─holdRows─▶ one Chunk ─gather(idx)─▶ Chunks in the epoch's order
 *
 * Reading only: no connection, no pacing, no epochs (the command composes those: cli-stream.ts).
 */
import { createReadStream } from 'node:fs';
import type { RowShape as SessionShape } from './client/rows.js';
import { LivegradError } from './errors.js';
import { allocate, type DType, type FloatArray } from './nn/tensor.js';

/** A file format `livegrad stream` reads. */
export type InputFormat = 'csv' | 'jsonl';

/** The format a file's extension names, if it names one (.csv; .jsonl or .ndjson). */
export function formatOf(file: string): InputFormat | undefined {
  const lower = file.toLowerCase();
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) return 'jsonl';
  return undefined;
}

/** A fault of the input file at a line (and column): its message reads `FILE:LINE[:COLUMN]: Expected …, got …`. */
export class InputError extends Error {
  override readonly name = 'InputError';

  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number | undefined,
    message: string,
  ) {
    super(`${file}:${line}${column === undefined ? '' : `:${column}`}: ${message}`);
  }
}

/** The file, as the arguments give it. */
export interface Input {
  readonly file: string;
  readonly format: InputFormat;
  /** CSV label columns by header name; undefined: the last column. */
  readonly label: readonly string[] | undefined;
}

/** What the session's rows look like (its dtype and sizes), and how the file gives their targets. */
export interface RowShape extends SessionShape {
  /** Class indices 0 to classes-1 (y [m]); undefined: targets (y [m, outputSize]). */
  readonly classes: number | undefined;
}

/** Numbers of y per row. */
function targetWidth(shape: RowShape): number {
  return shape.classes === undefined ? shape.outputSize : 1;
}

/** Rows as the session's typed arrays: x [m, inputSize], y [m] or [m, outputSize]. */
export interface Chunk {
  readonly m: number;
  readonly x: FloatArray;
  readonly y: FloatArray;
}

/** Reads one data line into row `at` of x and y; throws InputError for a malformed one. */
export interface LineParser {
  row(line: string, lineNo: number, x: FloatArray, y: FloatArray, at: number): void;
}

/**
 * Whether a number is finite in the session's dtype. NOTE: a number finite as a double (1e39) can
 * be Infinity as a float32, which the session would refuse (E_NON_FINITE) without naming the line.
 */
function finiteIn(dtype: DType): (v: number) => boolean {
  return dtype === 'float32' ? (v) => Number.isFinite(Math.fround(v)) : Number.isFinite;
}

/** What a number should have been: finite, or (one finite as a double only) within float32's range. */
function finiteWhat(v: number, dtype: DType): string {
  return Number.isFinite(v) && !finiteIn(dtype)(v) ? `a number within ${dtype}'s range (the session's dtype)` : 'a finite number';
}

/** Shows at most 40 characters of a field or line. */
function quote(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
}

/** A CSV header: the columns, and which are labels. */
export interface CsvHeader {
  readonly file: string;
  readonly lineNo: number;
  readonly names: readonly string[];
  /** The label columns' indices, in --label's order. */
  readonly labels: readonly number[];
}

/** The header line's columns and the label columns' indices (InputError for a label it lacks). */
function csvHeader(file: string, line: string, lineNo: number, label: readonly string[] | undefined): CsvHeader {
  const names = line.split(',').map((s) => s.trim());
  if (label === undefined) return { file, lineNo, names, labels: [names.length - 1] };
  const labels = label.map((l) => {
    const at = names.indexOf(l);
    if (at < 0) throw new InputError(file, lineNo, undefined, `Expected a column named ${quote(l)} (--label) in the header, got ${names.slice(0, 8).map(quote).join(', ')}${names.length > 8 ? ', …' : ''}`);
    if (names.indexOf(l, at + 1) >= 0) throw new InputError(file, lineNo, undefined, `Expected one column named ${quote(l)} (--label) in the header, got several`);
    return at;
  });
  return { file, lineNo, names, labels };
}

/** Checks the header against the session: as many features as inputs, as many targets as outputs. */
function checkCsvShape(h: CsvHeader, shape: RowShape, session: string): void {
  const features = h.names.length - h.labels.length;
  const labelNames = h.labels.map((c) => quote(h.names[c]!)).join(', ');
  if (features !== shape.inputSize) {
    throw new LivegradError('E_SHAPE', `Expected ${shape.inputSize} feature columns in ${h.file} (session "${session}" takes ${shape.inputSize} inputs), got ${features} (every column of the header but the label ${labelNames})`);
  }
  if (shape.classes === undefined && h.labels.length !== shape.outputSize) {
    throw new LivegradError('E_SHAPE', `Expected ${shape.outputSize} label columns in ${h.file} (session "${session}" has ${shape.outputSize} outputs; name them with --label a,b,…, or give --classes ${shape.outputSize} for one column of class indices), got ${h.labels.length} (${labelNames})`);
  }
}

/**
 * A CSV line into a row. Field `c` (0-based) goes to x[k] (`dest[c] = k ≥ 0`) or to target t
 * (`dest[c] = -1 - t`). The column of an error is the 1-based character where the field starts.
 */
function csvParser(h: CsvHeader, shape: RowShape): LineParser {
  const columns = h.names.length;
  const dest = new Int32Array(columns);
  let k = 0;
  for (let c = 0; c < columns; c++) {
    const t = h.labels.indexOf(c);
    dest[c] = t >= 0 ? -1 - t : k++;
  }
  const nin = shape.inputSize, yw = targetWidth(shape), classes = shape.classes, finite = finiteIn(shape.dtype);
  const field = (c: number): string => `field ${c + 1} (${quote(h.names[c]!)})`;
  /** The error for a line of the wrong number of fields, at the first extra field or the line's end; else `fault`. */
  const fault = (line: string, lineNo: number, column: number, message: string): InputError => {
    let count = 1;
    let extra = -1;
    for (let at = line.indexOf(','); at >= 0; at = line.indexOf(',', at + 1)) if (++count === columns + 1) extra = at + 1;
    if (count > columns) return new InputError(h.file, lineNo, extra + 1, `Expected ${columns} fields (as the header), got ${count}`);
    if (count < columns) return new InputError(h.file, lineNo, line.length + 1, `Expected ${columns} fields (as the header), got ${count}`);
    return new InputError(h.file, lineNo, column, message);
  };
  return {
    row(line, lineNo, x, y, at) {
      let start = 0;
      for (let c = 0; ; c++) {
        const comma = line.indexOf(',', start);
        const end = comma < 0 ? line.length : comma;
        if (c === columns) throw fault(line, lineNo, start + 1, '');
        const cell = line.slice(start, end);
        const v = Number(cell);
        // NOTE: Number('') and Number('  ') are 0: an empty field is not a zero
        if (!finite(v) || (v === 0 && cell.trim() === '')) {
          throw fault(line, lineNo, start + 1, `Expected ${finiteWhat(v, shape.dtype)} in ${field(c)}, got ${quote(cell)}`);
        }
        const d = dest[c]!;
        if (d >= 0) x[at * nin + d] = v;
        else if (classes === undefined) y[at * yw - 1 - d] = v;
        else if (Number.isInteger(v) && v >= 0 && v < classes) y[at] = v;
        else throw fault(line, lineNo, start + 1, `Expected a class index 0 to ${classes - 1} (--classes ${classes}) in ${field(c)}, got ${quote(cell)}`);
        if (comma < 0) {
          if (c + 1 < columns) throw fault(line, lineNo, line.length + 1, '');
          return;
        }
        start = comma + 1;
      }
    },
  };
}

/** Checks --classes against the session's outputs (a JSON line's widths are checked as it is read). */
function checkClasses(shape: RowShape, session: string): void {
  if (shape.classes === undefined || shape.classes === shape.outputSize) return;
  throw new LivegradError('E_SHAPE', `Expected --classes ${shape.outputSize} (session "${session}" has ${shape.outputSize} outputs), got ${shape.classes}`);
}

/** A JSON value as the error shows it: its JSON, at most 40 characters (`none` for a missing one). */
function shown(v: unknown): string {
  if (v === undefined) return 'none';
  const s = JSON.stringify(v);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

/**
 * The 1-based column of a JSON syntax error: where JSON.parse says, else the end of the longest
 * prefix that is still the start of some JSON value (whose parse fails only for its end).
 */
function syntaxColumn(line: string, message: string): number {
  const position = /at position (\d+)/.exec(message);
  if (position !== null) return Number(position[1]) + 1;
  // NOTE: V8 says a prefix ends too soon either as "Unexpected end of JSON input" or as an error at its end
  const incomplete = (k: number): boolean => {
    try {
      JSON.parse(line.slice(0, k));
      return true;
    } catch (e) {
      const m = (e as Error).message;
      const at = /at position (\d+)/.exec(m);
      return /Unexpected end of JSON input/.test(m) || (at !== null && Number(at[1]) >= k);
    }
  };
  if (incomplete(line.length)) return line.length + 1;
  let lo = 0, hi = line.length; // incomplete(lo), !incomplete(hi): the character at hi - 1 is the fault
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (incomplete(mid)) lo = mid;
    else hi = mid;
  }
  return hi;
}

/**
 * A JSON line `{"x": […], "y": …}` into a row. A syntax error has its column; a value error
 * names the field (`x[3]`, `y`).
 */
function jsonlParser(file: string, shape: RowShape): LineParser {
  const nin = shape.inputSize, nout = shape.outputSize, classes = shape.classes, finite = finiteIn(shape.dtype);
  const numbers = (v: unknown, what: string, n: number, lineNo: number): readonly number[] => {
    if (!Array.isArray(v) || v.length !== n) throw new InputError(file, lineNo, undefined, `Expected "${what}" to be an array of ${n} numbers (the session's), got ${shown(v)}`);
    for (let j = 0; j < n; j++) {
      const e: unknown = v[j];
      if (typeof e !== 'number' || !finite(e)) throw new InputError(file, lineNo, undefined, `Expected ${what}[${j}] to be ${typeof e === 'number' ? finiteWhat(e, shape.dtype) : 'a finite number'}, got ${shown(e)}`);
    }
    return v as readonly number[];
  };
  return {
    row(line, lineNo, x, y, at) {
      let o: unknown;
      try {
        o = JSON.parse(line);
      } catch (e) {
        const message = (e as Error).message;
        // V8's own words, without its 0-based position and its echo of the line
        const why = message.replace(/( in JSON)? at position \d+.*$/, '').replace(/, .*is not valid JSON$/, '');
        throw new InputError(file, lineNo, syntaxColumn(line, message), `Expected a JSON object {"x": […], "y": …}, got invalid JSON (${why})`);
      }
      if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new InputError(file, lineNo, 1, `Expected a JSON object {"x": […], "y": …}, got ${quote(line)}`);
      const row = o as { readonly x?: unknown; readonly y?: unknown };
      x.set(numbers(row.x, 'x', nin, lineNo), at * nin);
      const t = row.y;
      if (classes !== undefined) {
        if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t >= classes) throw new InputError(file, lineNo, undefined, `Expected "y" to be a class index 0 to ${classes - 1} (--classes ${classes}), got ${shown(t)}`);
        y[at] = t;
      } else if (typeof t === 'number' && nout === 1) {
        if (!finite(t)) throw new InputError(file, lineNo, undefined, `Expected "y" to be ${finiteWhat(t, shape.dtype)}, got ${t}`);
        y[at] = t;
      } else {
        y.set(numbers(t, 'y', nout, lineNo), at * nout);
      }
    },
  };
}

/** Lines of a file, a read's worth at a time: the number of the first, and the lines (their '\r' kept). */
async function* lineBlocks(file: string, signal: AbortSignal, read?: { bytes: number }): AsyncGenerator<{ readonly first: number; readonly lines: readonly string[] }> {
  const input = createReadStream(file, { encoding: 'utf8', signal, highWaterMark: 1 << 16 });
  let rest = '';
  let next = 1;
  for await (const text of input as AsyncIterable<string>) {
    const lines = (rest + text).split('\n');
    rest = lines.pop()!;
    if (read !== undefined) read.bytes = input.bytesRead;
    if (lines.length === 0) continue;
    yield { first: next, lines };
    next += lines.length;
  }
  if (rest !== '') yield { first: next, lines: [rest] };
}

/** A line without its '\r' (and, on line 1, its byte-order mark); undefined for a blank line. */
function content(line: string, lineNo: number): string | undefined {
  let s = line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line;
  if (lineNo === 1 && s.charCodeAt(0) === 0xfeff) s = s.slice(1);
  return s.trim() === '' ? undefined : s;
}

/** The first line that is not blank, and its number (InputError for a file without one). */
async function firstLine(file: string, signal: AbortSignal): Promise<{ readonly line: string; readonly lineNo: number }> {
  let last = 0;
  for await (const { first, lines } of lineBlocks(file, signal)) {
    for (let i = 0; i < lines.length; i++) {
      const line = content(lines[i]!, first + i);
      if (line !== undefined) return { line, lineNo: first + i };
    }
    last = first + lines.length - 1;
  }
  throw new InputError(file, Math.max(1, last), undefined, 'Expected a header row, got an empty file');
}

/** A CSV file's header (InputError for an empty file, a --label it lacks); undefined for JSON lines. */
export async function readHeader(input: Input, signal: AbortSignal): Promise<CsvHeader | undefined> {
  if (input.format !== 'csv') return undefined;
  const { line, lineNo } = await firstLine(input.file, signal);
  return csvHeader(input.file, line, lineNo, input.label);
}

/**
 * The parser of the file's lines into rows of `shape`, once the file is checked against the
 * session's sizes (E_SHAPE: a CSV header's features and labels, --classes).
 */
export function rowParser(input: Input, header: CsvHeader | undefined, shape: RowShape, session: string): LineParser {
  checkClasses(shape, session);
  if (header === undefined) return jsonlParser(input.file, shape);
  checkCsvShape(header, shape, session);
  return csvParser(header, shape);
}

/** Where the reading stands, for the progress line. */
export interface ReadStatus {
  /** True while --shuffle reads the file's rows into memory (nothing is sent meanwhile). */
  holding: boolean;
  /** The epoch being read (0-based). */
  epoch: number;
  /** Bytes of the file read in this pass. */
  bytes: number;
  /** Data rows per epoch, once a pass has counted them (or the rows held). */
  rows: number | undefined;
}

/** One pass over the file's data rows (the header skipped), in chunks of at most `rows` rows. */
export async function* readRows(input: Input, parser: LineParser, shape: RowShape, rows: number, signal: AbortSignal, status: ReadStatus = { holding: false, epoch: 0, bytes: 0, rows: undefined }): AsyncGenerator<Chunk> {
  const nin = shape.inputSize, yw = targetWidth(shape);
  let x = allocate(shape.dtype, rows * nin), y = allocate(shape.dtype, rows * yw);
  let m = 0, n = 0;
  let skipHeader = input.format === 'csv';
  for await (const { first, lines } of lineBlocks(input.file, signal, status)) {
    for (let i = 0; i < lines.length; i++) {
      const line = content(lines[i]!, first + i);
      if (line === undefined) continue;
      if (skipHeader) {
        skipHeader = false;
        continue;
      }
      parser.row(line, first + i, x, y, m);
      n++;
      if (++m < rows) continue;
      yield { m, x, y };
      // NOTE: new arrays, not reused: the stream holds the ones yielded until they are sent
      x = allocate(shape.dtype, rows * nin);
      y = allocate(shape.dtype, rows * yw);
      m = 0;
    }
  }
  if (m > 0) yield { m, x: x.subarray(0, m * nin), y: y.subarray(0, m * yw) };
  status.rows = n;
}

/** Every data row of the file, held in typed arrays that grow by doubling (for --shuffle). */
export async function holdRows(chunks: AsyncIterable<Chunk>, shape: RowShape): Promise<Chunk> {
  const nin = shape.inputSize, yw = targetWidth(shape);
  let x = allocate(shape.dtype, 1024 * nin), y = allocate(shape.dtype, 1024 * yw);
  let m = 0;
  for await (const c of chunks) {
    if ((m + c.m) * nin > x.length) {
      const capacity = Math.max(2 * (x.length / nin), m + c.m);
      const x2 = allocate(shape.dtype, capacity * nin), y2 = allocate(shape.dtype, capacity * yw);
      x2.set(x.subarray(0, m * nin));
      y2.set(y.subarray(0, m * yw));
      x = x2;
      y = y2;
    }
    x.set(c.x, m * nin);
    y.set(c.y, m * yw);
    m += c.m;
  }
  return { m, x, y };
}

/** Rows idx[from..to) of `held` as a new chunk (a shuffled epoch's next rows). */
export function gather(held: Chunk, idx: Int32Array, from: number, to: number, shape: RowShape): Chunk {
  const nin = shape.inputSize, yw = targetWidth(shape), m = to - from;
  const x = allocate(shape.dtype, m * nin), y = allocate(shape.dtype, m * yw);
  for (let r = 0; r < m; r++) {
    const i = idx[from + r]!;
    x.set(held.x.subarray(i * nin, (i + 1) * nin), r * nin);
    y.set(held.y.subarray(i * yw, (i + 1) * yw), r * yw);
  }
  return { m, x, y };
}
