/**
 * Logs as bytes, for the reader and repair tests: write a small multi-segment log with the real
 * writer, read its files back, and lay out damaged copies of it.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FRAME_HEAD_BYTES, PREFIX_BYTES } from '../../src/record/format.js';
import { openLog, type LogEntry } from '../../src/record/reader.js';
import { createLogWriter } from '../../src/record/writer.js';

export interface SegmentBytes {
  readonly name: string;
  readonly bytes: Buffer;
  /** End of the header frame. */
  readonly headerEnd: number;
}

export interface WrittenLog {
  readonly segments: SegmentBytes[];
  /** Every record read back from the whole log, in order. */
  readonly entries: LogEntry[];
}

/**
 * A log of `count` samples, rolled over every `segmentBytes`. Every payload ends in a non-zero
 * byte (a `tag` string last), so that a zero-filled tail can never complete a cut record.
 */
export async function writeSampleLog(dir: string, count = 14, segmentBytes = 220): Promise<WrittenLog> {
  let samples = 0;
  const log = createLogWriter(dir, {
    fsync: 'never',
    segmentBytes,
    header: { session: 's1' },
    checkpoint: () => ({ type: 'checkpoint', samples, tag: 'cp' }),
  });
  for (let i = 0; i < count; i++) {
    void log.append({ type: 'sample', i, x: i * 0.25 - 1, bin: Buffer.alloc((i * 7) % 40, i + 1), tag: 'end' });
    samples++;
  }
  await log.close();
  return readLog(dir);
}

/** The segment files of `dir` and its records. */
export async function readLog(dir: string): Promise<WrittenLog> {
  const opened = await openLog(dir);
  const entries: LogEntry[] = [];
  for await (const e of opened.records()) entries.push(e);
  const segments = readdirSync(dir)
    .sort()
    .map((name) => {
      const bytes = readFileSync(join(dir, name));
      return { name, bytes, headerEnd: PREFIX_BYTES + FRAME_HEAD_BYTES + bytes.readUInt32LE(PREFIX_BYTES) };
    });
  return { segments, entries };
}

/** A new directory under `parent` holding `files` (name → bytes). */
export function layOut(parent: string, files: readonly { readonly name: string; readonly bytes: Uint8Array }[]): string {
  const dir = mkdtempSync(join(parent, 'copy-'));
  mkdirSync(dir, { recursive: true });
  for (const f of files) writeFileSync(join(dir, f.name), f.bytes);
  return dir;
}

/** Where byte `k` of the log's concatenated segments falls: the segment and the offset in it. */
export function locate(log: WrittenLog, k: number): { index: number; offset: number } {
  let start = 0;
  for (const [index, s] of log.segments.entries()) {
    if (k < start + s.bytes.length) return { index, offset: k - start };
    start += s.bytes.length;
  }
  const last = log.segments.length - 1;
  return { index: last, offset: log.segments[last]!.bytes.length };
}

/** The log cut at byte `k` of its concatenated segments: the segment holding it cut there, later ones gone. */
export function cutAt(log: WrittenLog, k: number): { files: SegmentBytes[]; index: number; offset: number } {
  const { index, offset } = locate(log, k);
  const files = log.segments.slice(0, index + 1).map((s, i) => (i === index ? { ...s, bytes: s.bytes.subarray(0, offset) } : s));
  return { files, index, offset };
}

/** The records a reader should give for a log cut at `offset` of segment `index`, and where the whole part ends. */
export function prefixOf(log: WrittenLog, index: number, offset: number): { entries: LogEntry[]; good: number } {
  const name = log.segments[index]!.name;
  const before = log.segments.slice(0, index).map((s) => s.name);
  const entries = log.entries.filter((e) => before.some((n) => e.file.endsWith(n)) || (e.file.endsWith(name) && e.offset + FRAME_HEAD_BYTES + e.length <= offset));
  const inIt = entries.filter((e) => e.file.endsWith(name));
  const headerEnd = log.segments[index]!.headerEnd;
  const good = inIt.length > 0 ? inIt[inIt.length - 1]!.offset + FRAME_HEAD_BYTES + inIt[inIt.length - 1]!.length : offset >= headerEnd ? headerEnd : 0;
  return { entries, good };
}
