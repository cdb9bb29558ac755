/**
 * The session log reader: a log's segments and their headers at once, then its records in a
 * stream, read in chunks (never a whole file in memory), each with where it is.
 *
 *   records$:  --e1--e2--e3--…--|     one LogEntry per record, in order, across segments
 *              --e1--e2--#          E_RECORD_CORRUPT / E_RECORD_VERSION / E_RECORD_READ
 *
 * A cut tail in the last segment (a crash mid-write) is normal: reading stops at the last whole
 * record and the report says how many bytes were dropped. Anything else wrong is an error naming
 * the file and the byte offset (scan-segment.ts has the rules, docs/recording.md explains them).
 */
import { defer, from, type Observable } from 'rxjs';
import { damageError, scanSegment } from './scan-segment.js';
import { listSegments } from './segments.js';
import type { LogHeader, LogRecord, RecordPosition } from './format.js';
import { describe } from '../errors.js';

export interface LogSegment {
  /** From the file's name (or, for a lone file otherwise named, its header; 0 when that is cut too). */
  readonly number: number;
  readonly file: string;
  /** The header; null only for a last segment cut before its header was whole. */
  readonly header: LogHeader | null;
}

/** One record read back, with where it is. */
export interface LogEntry extends RecordPosition {
  /** True for the first record of its segment: the checkpoint the writer starts every segment with. */
  readonly checkpoint: boolean;
  readonly record: LogRecord;
}

/** What a whole read found. */
export interface LogReport {
  /** Segment files read. */
  readonly segments: number;
  /** Whole records delivered (headers not counted, checkpoints counted). */
  readonly records: number;
  /** Bytes of the whole frames read, prefixes and headers included. */
  readonly bytes: number;
  /** Bytes after the last whole record of the last segment: a cut tail, dropped. 0 when whole. */
  readonly truncated: number;
  /** Where the dropped tail starts; null when nothing was dropped. */
  readonly truncatedAt: { readonly file: string; readonly offset: number } | null;
}

export interface OpenLogOptions {
  /** Bytes read at a time, [64, 256 MiB]; a record larger than this is read by its length. Default 1 MiB. */
  readonly chunkBytes?: number;
}

export const DEFAULT_OPEN_LOG_OPTIONS = { chunkBytes: 2 ** 20 } as const satisfies OpenLogOptions;

/** The options with their defaults, checked (RangeError). */
export function resolveOpenLogOptions(options: OpenLogOptions): Required<OpenLogOptions> {
  const o = { ...DEFAULT_OPEN_LOG_OPTIONS, ...options };
  if (!Number.isSafeInteger(o.chunkBytes) || o.chunkBytes < 64 || o.chunkBytes > 256 * 2 ** 20) throw new RangeError(`Expected options.chunkBytes to be an integer in [64, 268435456], got ${describe(o.chunkBytes)}`);
  return o;
}

export interface LogReader {
  /** The directory or file opened. */
  readonly path: string;
  readonly segments: readonly LogSegment[];
  /**
   * The records, read afresh from the files by each call. Throws (rejects `next()`) at damage,
   * after the records before it. Returns (as the iterator's final value) the report.
   */
  records(): AsyncGenerator<LogEntry, LogReport, undefined>;
  /**
   * `records()` a chunk at a time: each batch holds the records read from one chunk of a file, in
   * order (for a reader that handles a chunk's records at once; `records()` gives them one by one).
   */
  batches(): AsyncGenerator<readonly LogEntry[], LogReport, undefined>;
  /** `records()` as an Observable: cold, one read per subscription; unsubscribing closes the file. */
  readonly records$: Observable<LogEntry>;
  /** Reads every record (keeping none) and reports; rejects at damage as `records()` does. */
  verify(): Promise<LogReport>;
}

/**
 * Opens a log: a directory of segments, or one segment file. Reads every segment's header now;
 * throws LivegradError E_RECORD_CORRUPT / E_RECORD_VERSION for a damaged one (except a last
 * segment cut inside it), E_RECORD_READ when a file cannot be read.
 *
 * @example
 * const log = await openLog('runs/s1');
 * for await (const { record, checkpoint } of log.records()) replay(record, checkpoint);
 */
export async function openLog(path: string, options: OpenLogOptions = {}): Promise<LogReader> {
  const { chunkBytes } = resolveOpenLogOptions(options);
  const files = await listSegments(path);
  const segments: LogSegment[] = [];
  for (const [i, { number, file }] of files.entries()) {
    let header: LogHeader | null = null;
    for await (const [event] of scanSegment(file, { last: i === files.length - 1, chunkBytes, number })) {
      if (event?.kind === 'header') header = event.header;
      else if (event?.kind === 'stop' && event.damage !== undefined) throw damageError(file, event.damage);
      break; // the header (or how the file stops before it) is all this needs; leaving closes the file
    }
    segments.push({ number: number ?? header?.segment ?? 0, file, header });
  }

  /** The records in batches, the frames of a chunk at a time (what `records()` gives one by one). */
  async function* batches(): AsyncGenerator<readonly LogEntry[], LogReport, undefined> {
    let count = 0;
    let bytes = 0;
    let truncated = 0;
    let truncatedAt: LogReport['truncatedAt'] = null;
    for (const [i, { number, file }] of segments.entries()) {
      let first = true;
      for await (const events of scanSegment(file, { last: i === segments.length - 1, chunkBytes, number: files[i]!.number })) {
        const entries: LogEntry[] = [];
        for (const event of events) {
          switch (event.kind) {
            case 'header':
              break;
            case 'record':
              count++;
              entries.push({ segment: number, file, offset: event.offset, length: event.length, checkpoint: first, record: event.record });
              first = false;
              break;
            case 'stop':
              if (event.damage !== undefined) {
                if (entries.length > 0) yield entries; // the records before the damage first
                throw damageError(file, event.damage);
              }
              bytes += event.good;
              if (event.good < event.size) {
                truncated = event.size - event.good;
                truncatedAt = { file, offset: event.good };
              }
              break;
            default: {
              const never: never = event;
              throw new Error(`openLog: unknown event ${JSON.stringify(never)}`);
            }
          }
        }
        if (entries.length > 0) yield entries;
      }
    }
    return { segments: segments.length, records: count, bytes, truncated, truncatedAt };
  }

  async function* records(): AsyncGenerator<LogEntry, LogReport, undefined> {
    const it = batches();
    try {
      for (;;) {
        const next = await it.next();
        if (next.done === true) return next.value;
        for (const entry of next.value) yield entry;
      }
    } finally {
      await it.return(undefined as never);
    }
  }

  return {
    path,
    segments,
    records,
    batches,
    records$: defer(() => from(records())),
    async verify(): Promise<LogReport> {
      const it = batches();
      for (;;) {
        const next = await it.next();
        if (next.done === true) return next.value;
      }
    },
  };
}
