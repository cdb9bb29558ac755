/**
 * `livegrad stream FILE --to URL --session NAME`: a CSV or JSON-lines file into a session, through
 * the client library (`connect`, `create`, `session.stream`), read as it goes: a file of any size
 * streams in the memory of a few messages (but with `--shuffle`, which holds its rows).
 *
 *   FILE ─lines─▶ rows (checked: file:line:column) ─chunks─▶ session.stream ─samples─▶ server
 *                                                                 ◀── ack, consumed ──┘
 *
 * It ends (exit 0) once every row is trained, with one summary line on stdout; on a terminal it
 * draws a progress line on stderr while it runs. A malformed line, a file that does not fit the
 * session, or the server's error end it with exit 1 and one line on stderr; bad arguments with
 * exit 2 and the usage. SIGINT / SIGTERM stop sending (exit 130 / 143): the rows the session
 * acknowledged train, the rest of the file is not sent.
 *
 * This file is the command (arguments, connecting, progress, summary, signals) and the composer of
 * the batches it sends; reading and checking the file's rows is stream-input.ts's.
 */
import { readFileSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { filter, firstValueFrom, map, of, take, timeout, type Subscription } from 'rxjs';
import { connect } from './client/client.js';
import type { Batch } from './client/rows.js';
import type { Session } from './client/session.js';
import type { StreamOptions } from './client/stream.js';
import type { StreamProgress } from './client/stream-run.js';
import type { CreateConfig } from './client/types.js';
import { LivegradError, describe } from './errors.js';
import { rng } from './nn/rng.js';
import { SESSION_NAME } from './protocol/validate.js';
import { flags, statusLine } from './cli-terminal.js';
import { formatOf, gather, holdRows, readHeader, readRows, rowParser, type Chunk, type Input, type InputFormat, type LineParser, type ReadStatus, type RowShape } from './stream-input.js';

export const STREAM_USAGE = `Usage: livegrad stream FILE --to URL --session NAME [options]

Streams the rows of a CSV or JSON-lines file into a session, and ends once every row is trained:

  CSV          a header row, then comma-separated numbers (no quoting); every column but the
               label column(s) is a feature, in the file's order
  JSON lines   one {"x": [numbers], "y": …} per line; "y" a class index (with --classes), a
               number (a session of one output) or an array of the session's outputs

Blank lines are skipped; line numbers count every line, the header too. A malformed line stops
it before the line is sent: FILE:LINE:COLUMN: Expected …, got "…" (COLUMN: the 1-based character
where the field starts; a JSON line's value error names the field instead: FILE:LINE: Expected x[3] …).

Options:
  --to <url>            the server, ws://HOST:PORT/ws (required)
  --session <name>      the session (required); it must exist, unless --create
  --create <file.json>  create the session first, with this config (the client's CreateConfig as
                        JSON; --session names the session, whatever "session" the file has)
  --format <csv|jsonl>  the file's format (default: from its extension: .csv; .jsonl or .ndjson)
  --label <col[,col…]>  CSV: the label column(s), by header name (default: the last column)
  --classes <n>         the label is a class index, an integer 0 to n-1 (n: the session's outputs);
                        without it, the label column(s) are regression targets, one per output
  --epochs <n>          passes over the file (default 1); without --shuffle it reads the file again
  --shuffle <seed>      shuffle the rows each epoch, by the seeded generator: the same seed, the
                        same order (epochs() of the library). Holds every row in memory (a typed
                        array of the session's dtype: rows × (inputs + targets) × 4 or 8 bytes)
  --batch <rows>        rows per samples message (default: about 128 KiB, within the server's limits)
  --rate <rows/s>       send no more rows than this many per second since the start
  --producer <name>     a producer name: after a dropped connection it reconnects and sends only
                        what the session does not hold
  --resume              with --producer: skip the rows the session already holds from it
  --close               close the session (with drain) once every row is trained
  --token <token>       the producer token (env LIVEGRAD_PRODUCER_TOKEN)
  -h, --help            this text

On a terminal, a progress line on stderr: rows sent (of the total once known), rows/s, acked,
trained, the step and the running loss of the session's metrics events. At the end, one line on
stdout: streamed ROWS rows (EPOCHS epoch(s)) in S s, R rows/s; step N, loss L (L: the last
step's batch loss). Exit 0 when done; 1 for a malformed line, a file that does not fit the
session, or the server's error (its code named); 2 for bad arguments; 130 / 143 on SIGINT /
SIGTERM, which stop sending: the rows the session acknowledged stay with it and train (a last
partial batch once more rows come), the rest is not sent.
`;

/** The arguments: the file (`Input`: file, format, label) and the rest. */
export interface StreamArgs extends Input {
  readonly url: string;
  readonly session: string;
  readonly classes: number | undefined;
  readonly create: string | undefined;
  readonly batch: number | undefined;
  readonly rate: number | undefined;
  readonly epochs: number;
  readonly shuffle: number | undefined;
  readonly producer: string | undefined;
  readonly resume: boolean;
  readonly close: boolean;
  readonly token: string | undefined;
}

/** `livegrad stream`'s arguments (and the token variable). Throws TypeError / RangeError naming the bad one. */
export function parseStream(argv: readonly string[], env: NodeJS.ProcessEnv): StreamArgs {
  let file: string | undefined;
  let url: string | undefined;
  let session: string | undefined;
  let format: InputFormat | undefined;
  let label: string[] | undefined;
  let classes: number | undefined;
  let create: string | undefined;
  let batch: number | undefined;
  let rate: number | undefined;
  let epochs = 1;
  let shuffle: number | undefined;
  let producer: string | undefined;
  let resume = false;
  let close = false;
  let token: string | undefined = env['LIVEGRAD_PRODUCER_TOKEN'] || undefined;
  const integer = (flag: string, v: string, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const n = /^\d+$/.test(v) ? Number(v) : NaN;
    if (!(n >= min && n <= max)) throw new RangeError(`Expected ${flag} to be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
    return n;
  };
  const name = (flag: string, v: string): string => {
    if (!SESSION_NAME.test(v)) throw new TypeError(`Expected ${flag} to be a name of 1 to 64 of A-Z a-z 0-9 _ . : -, got ${JSON.stringify(v)}`);
    return v;
  };
  for (const { flag: a, value } of flags(argv)) {
    switch (a) {
      case '--to': {
        const v = value();
        let protocol: string | undefined;
        try {
          protocol = new URL(v).protocol;
        } catch {
          protocol = undefined;
        }
        if (protocol !== 'ws:' && protocol !== 'wss:') throw new TypeError(`Expected --to to be a ws:// or wss:// URL like ws://127.0.0.1:8080/ws, got ${JSON.stringify(v)}`);
        url = v;
        break;
      }
      case '--session': session = name(a, value()); break;
      case '--format': {
        const v = value();
        if (v !== 'csv' && v !== 'jsonl') throw new TypeError(`Expected --format csv or jsonl, got ${JSON.stringify(v)}`);
        format = v;
        break;
      }
      case '--label': {
        const v = value();
        const names = v.split(',').map((s) => s.trim());
        if (names.some((s) => s === '')) throw new TypeError(`Expected --label to be column names separated by commas, got ${JSON.stringify(v)}`);
        if (new Set(names).size !== names.length) throw new TypeError(`Expected --label to name each column once, got ${JSON.stringify(v)}`);
        label = names;
        break;
      }
      case '--classes': classes = integer(a, value(), 1, 0xffffff); break;
      case '--create': create = value(); break;
      case '--batch': batch = integer(a, value(), 1); break;
      case '--rate': {
        const v = value();
        const r = Number(v);
        if (v.trim() === '' || !(r > 0 && Number.isFinite(r))) throw new RangeError(`Expected --rate to be a number of rows per second > 0, got ${JSON.stringify(v)}`);
        rate = r;
        break;
      }
      case '--epochs': epochs = integer(a, value(), 1); break;
      case '--shuffle': shuffle = integer(a, value(), 0, 0xffffffff); break;
      case '--producer': producer = name(a, value()); break;
      case '--resume': resume = true; break;
      case '--close': close = true; break;
      case '--token': token = value() || undefined; break;
      default:
        if (a.startsWith('-') || file !== undefined) throw new TypeError(`Expected an option of stream (see --help), got ${JSON.stringify(a)}`);
        file = a;
    }
  }
  if (file === undefined) throw new TypeError('Expected the file to stream (CSV or JSON lines), got none');
  if (url === undefined) throw new TypeError('Expected --to URL (ws://HOST:PORT/ws), got none');
  if (session === undefined) throw new TypeError('Expected --session NAME, got none');
  format ??= formatOf(file);
  if (format === undefined) throw new TypeError(`Expected --format csv or jsonl (the extension of ${JSON.stringify(file)} names neither), got none`);
  if (label !== undefined && format !== 'csv') throw new TypeError('Expected --label with a CSV file only (a JSON line names its "x" and "y"), got it with JSON lines');
  if (classes !== undefined && label !== undefined && label.length !== 1) throw new TypeError(`Expected one --label column with --classes (a class index), got ${label.length}`);
  if (resume && producer === undefined) throw new TypeError('Expected --producer NAME with --resume (what the session holds is counted per producer), got none');
  return { file, url, session, format, label, classes, create, batch, rate, epochs, shuffle, producer, resume, close, token };
}

// ---------------------------------------------------------------------------------------------
// the batches sent: the file's rows (stream-input.ts) over epochs, shuffled, paced

/** `--rate`: paces the chunks so that no more than `rate` rows a second have been sent since the first (each chunk waits until its rows are due). */
export class Pace {
  private start: number | undefined;
  private rows = 0;

  constructor(
    private readonly rate: number,
    private readonly signal: AbortSignal,
  ) {}

  async wait(m: number): Promise<void> {
    let now = performance.now();
    this.start ??= now;
    this.rows += m;
    const due = this.start + (this.rows * 1000) / this.rate;
    // NOTE: a timer is due by the event loop's clock, read when the loop last woke: it can fire a
    // little before `due` by performance.now(), so the clock is read again until the rows are due
    while (due > now) {
      await sleep(Math.max(1, due - now), undefined, { signal: this.signal });
      now = performance.now();
    }
  }
}

interface SourceSettings {
  readonly input: Input;
  readonly parser: LineParser;
  readonly shape: RowShape;
  readonly epochs: number;
  readonly shuffle: number | undefined;
  /** Rows per chunk handed to the stream. */
  readonly rows: number;
  readonly rate: number | undefined;
}

/**
 * The batches of every epoch: the file read again each epoch, or with a seed its rows held and
 * reshuffled each epoch as `epochs()` does (one generator; Fisher–Yates over the row indices,
 * which each epoch shuffles again from the last one's order).
 */
async function* batches(s: SourceSettings, signal: AbortSignal, status: ReadStatus): AsyncGenerator<Batch> {
  const pace = s.rate === undefined ? undefined : new Pace(s.rate, signal);
  const nin = s.shape.inputSize, dtype = s.shape.dtype;
  const batch = (c: Chunk): Batch => ({
    x: { dtype, shape: [c.m, nin], data: c.x },
    y: s.shape.classes === undefined ? { dtype, shape: [c.m, s.shape.outputSize], data: c.y } : { dtype, shape: [c.m], data: c.y },
  });
  const read = (): AsyncGenerator<Chunk> => readRows(s.input, s.parser, s.shape, s.rows, signal, status);
  if (s.shuffle === undefined) {
    for (let e = 0; e < s.epochs; e++) {
      status.epoch = e;
      for await (const c of read()) {
        await pace?.wait(c.m);
        yield batch(c);
      }
    }
    return;
  }
  status.holding = true;
  const held = await holdRows(read(), s.shape);
  status.holding = false;
  const random = rng(s.shuffle);
  const idx = Int32Array.from({ length: held.m }, (_, i) => i);
  for (let e = 0; e < s.epochs; e++) {
    status.epoch = e;
    random.shuffle(idx);
    for (let from = 0; from < held.m; from += s.rows) {
      const c = gather(held, idx, from, Math.min(held.m, from + s.rows), s.shape);
      await pace?.wait(c.m);
      yield batch(c);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// progress and summary

export interface ProgressState extends StreamProgress {
  /** While --shuffle reads the file into memory: the part of it read. */
  readonly holding: number | undefined;
  /** Rows to send in all (every epoch), once known. */
  readonly total: number | undefined;
  /** How far along, in [0, 1], once known (from the rows, else from the bytes read). */
  readonly fraction: number | undefined;
  readonly seconds: number;
  /** The running loss of the latest metrics event. */
  readonly loss: number | undefined;
}

/** The progress line: `34%  1234/3594 rows  1500 rows/s  acked 1200  trained 1024  step 32  loss 0.4123`. */
export function progressLine(p: ProgressState): string {
  if (p.holding !== undefined) return `reading the file to shuffle its rows: ${Math.floor(100 * Math.min(1, p.holding))}%`;
  const parts: string[] = [];
  if (p.fraction !== undefined) parts.push(`${Math.floor(100 * Math.min(1, p.fraction))}%`);
  parts.push(`${p.sent}${p.total === undefined ? '' : `/${p.total - p.skipped}`} rows`);
  if (p.seconds > 0) parts.push(`${Math.round(p.sent / p.seconds)} rows/s`);
  parts.push(`acked ${p.acked}`, `trained ${p.consumed}`, `step ${p.step}`);
  if (p.loss !== undefined) parts.push(`loss ${p.loss.toFixed(4)}`);
  return parts.join('  ');
}

export interface Summary {
  readonly sent: number;
  readonly skipped: number;
  readonly epochs: number;
  readonly seconds: number;
  readonly step: number;
  /** The loss of the last step's batch, when known. */
  readonly loss: number | undefined;
  /** The session was closed (--close). */
  readonly closed: boolean;
}

/** The summary line: `streamed 1797 rows (1 epoch) in 1.20 s, 1498 rows/s; step 57, loss 0.4123`. */
export function summaryLine(s: Summary): string {
  const epochs = `${s.epochs} epoch${s.epochs === 1 ? '' : 's'}${s.skipped > 0 ? `, ${s.skipped} rows skipped: the session held them` : ''}`;
  const rate = s.seconds > 0 ? `, ${Math.round(s.sent / s.seconds)} rows/s` : '';
  const loss = s.loss === undefined ? '' : `, loss ${s.loss.toFixed(4)}`;
  const closed = s.closed ? '; session closed' : '';
  return `streamed ${s.sent} rows (${epochs}) in ${s.seconds.toFixed(s.seconds < 10 ? 2 : 1)} s${rate}; step ${s.step}${loss}${closed}`;
}

/** The line for a stream stopped by a signal. */
function interruptedLine(signal: NodeJS.Signals, p: StreamProgress, seconds: number): string {
  return `interrupted by ${signal} after ${seconds.toFixed(1)} s: ${p.sent} rows sent, ${p.acked} acknowledged (the session trains them), ${p.consumed} trained so far; step ${p.step}`;
}

/** The loss of step `step`'s batch, from its `step` event in the session's ring (undefined if the ring no longer holds it). */
async function lossAt(session: Session, step: number): Promise<number | undefined> {
  return firstValueFrom(
    session.events(['step'], { fromStep: step }).pipe(
      filter((e) => e.type === 'gap' || e.step >= step),
      take(1),
      map((e) => (e.type === 'step' && e.step === step ? e.loss : undefined)),
      timeout({ first: 5000, with: () => of(undefined) }),
    ),
    { defaultValue: undefined },
  );
}

// ---------------------------------------------------------------------------------------------
// the command

/** `--create`'s config file, its session named `session` (whatever name the file gives). */
function readConfig(path: string, session: string): CreateConfig {
  let config: unknown;
  try {
    config = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new LivegradError('E_BAD_CONFIG', `Expected ${path} (--create) to be a session config as JSON, got ${(e as Error).message}`, { cause: e });
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new LivegradError('E_BAD_CONFIG', `Expected ${path} (--create) to hold a JSON object, got ${describe(config)}`);
  return { ...(config as CreateConfig), session };
}

/** Streams the file; resolves with the exit code (throws what it does not report itself). */
export async function streamCommand(a: StreamArgs): Promise<number> {
  const size = statSync(a.file).size; // a missing file fails here, before anything else
  const config = a.create === undefined ? undefined : readConfig(a.create, a.session);
  const reading = new AbortController();
  const header = await readHeader(a, reading.signal); // a CSV without a header or a label fails before connecting
  const client = await connect(a.url, a.token === undefined ? {} : { token: a.token });
  const subscriptions: Subscription[] = [];
  let stop: (signal: NodeJS.Signals) => void = () => undefined;
  const signalled = new Promise<NodeJS.Signals>((resolve) => (stop = resolve));
  try {
    const session = client.session(a.session);
    const created = config === undefined ? undefined : await client.create(config);
    const info = created ?? (await session.info());
    const shape: RowShape = { dtype: info.dtype, inputSize: info.inputSize, outputSize: info.outputSize, classes: a.classes };
    let parser: LineParser;
    try {
      parser = rowParser(a, header, shape, a.session);
    } catch (e) {
      if (created !== undefined) {
        await session.close();
        if (e instanceof LivegradError) throw new LivegradError(e.code, `${e.message} (the session it created is closed again)`, { cause: e });
      }
      throw e;
    }
    const chunkRows = Math.max(1, Math.min(a.batch ?? 1024, a.rate === undefined ? Infinity : Math.floor(a.rate / 10)));
    const status: ReadStatus = { holding: false, epoch: 0, bytes: 0, rows: undefined };
    const source = batches({ input: a, parser, shape, epochs: a.epochs, shuffle: a.shuffle, rows: chunkRows, rate: a.rate }, reading.signal, status);
    const options: StreamOptions = {
      ...(a.batch === undefined ? {} : { rowsPerMessage: a.batch }),
      ...(a.producer === undefined ? {} : { producer: a.producer, resume: a.resume }),
    };

    const bar = process.stderr.isTTY ? statusLine(process.stderr) : undefined;
    let loss: number | undefined;
    let last: StreamProgress = { sent: 0, acked: 0, consumed: 0, step: info.step, skipped: 0 };
    const started = performance.now();
    const seconds = (): number => (performance.now() - started) / 1000;
    const draw = (): string => {
      const total = status.rows === undefined ? undefined : status.rows * a.epochs;
      const fraction = total !== undefined ? (total === 0 ? 1 : (last.sent + last.skipped) / total) : size > 0 ? (status.epoch + status.bytes / size) / a.epochs : undefined;
      const holding = status.holding ? (size > 0 ? status.bytes / size : 0) : undefined;
      return progressLine({ ...last, holding, total, fraction, seconds: seconds(), loss });
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const done = new Promise<void>((resolve, reject) => {
      if (bar !== undefined) {
        subscriptions.push(
          session.events(['metrics']).subscribe({
            next: (e) => {
              if (e.type === 'metrics') loss = e.runningLoss;
            },
            error: reject,
          }),
        );
      }
      subscriptions.push(
        session.stream(source, options).subscribe({
          next: (p) => {
            last = p;
            bar?.update(draw);
          },
          complete: resolve,
          error: (e: unknown) => reject(e instanceof RangeError && a.batch !== undefined ? new RangeError(e.message.replace('rowsPerMessage', '--batch'), { cause: e }) : e),
        }),
      );
    });
    let outcome: NodeJS.Signals | undefined;
    try {
      outcome = await Promise.race([done.then(() => undefined), signalled]);
    } finally {
      for (const s of subscriptions.splice(0)) s.unsubscribe();
      reading.abort();
      bar?.clear();
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
    const elapsed = seconds();
    if (outcome !== undefined) {
      process.stdout.write(`${interruptedLine(outcome, last, elapsed)}\n`);
      return 128 + (outcome === 'SIGINT' ? 2 : 15);
    }
    const stepLoss = last.consumed > 0 ? await lossAt(session, last.step) : undefined;
    const closed = a.close ? await session.close({ drain: true }) : undefined;
    process.stdout.write(`${summaryLine({ sent: last.sent, skipped: last.skipped, epochs: a.epochs, seconds: elapsed, step: closed?.step ?? last.step, loss: stepLoss, closed: closed !== undefined })}\n`);
    return 0;
  } finally {
    for (const s of subscriptions.splice(0)) s.unsubscribe();
    reading.abort();
    await client.close();
  }
}

/** Runs `livegrad stream …argv`; resolves with the exit code. */
export async function runStreamCommand(argv: readonly string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(STREAM_USAGE);
    return 0;
  }
  try {
    return await streamCommand(parseStream(argv, process.env));
  } catch (e) {
    if (e instanceof TypeError || e instanceof RangeError) {
      process.stderr.write(`livegrad stream: ${e.message}\n\n${STREAM_USAGE}`);
      return 2;
    }
    const message = e instanceof LivegradError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
    process.stderr.write(`livegrad stream: ${message}\n`);
    return 1;
  }
}
