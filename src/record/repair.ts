/**
 * Repairs a log after a crash or damage at its end: cuts the last segment back to its last whole
 * record, so that readers and tools that do not accept a cut tail read it. Damage anywhere else is
 * left alone and thrown, as a reader would throw it: cutting there would drop every later
 * segment, a decision for a person, not for a tool.
 */
import { open, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsError } from './fs-error.js';
import { resolveOpenLogOptions, type OpenLogOptions } from './reader.js';
import { damageError, scanSegment, type ScanEvent } from './scan-segment.js';
import { listSegments } from './segments.js';

/** What `repairLog` removed. */
export interface RepairResult {
  /** The segment cut (or deleted); null when the log was whole. */
  readonly file: string | null;
  /** Where it was cut: the end of its last whole record. */
  readonly offset: number;
  /** Bytes removed. */
  readonly bytes: number;
  /** True when the segment was deleted: it had no whole header, so nothing to keep. */
  readonly deleted: boolean;
}

async function stopOf(file: string, last: boolean, number: number | undefined, chunkBytes: number): Promise<Extract<ScanEvent, { kind: 'stop' }>> {
  for await (const batch of scanSegment(file, { last, chunkBytes, number })) for (const event of batch) if (event.kind === 'stop') return event;
  throw new Error(`repairLog: ${file} was read without a stop event`);
}

async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Cuts the last segment of the log at `path` (a directory or one segment file) after its last
 * whole record: a cut tail, a torn write, or damage (a CRC failure, a bad payload) there. A last
 * segment with no whole header is deleted. The change is fsynced. Do not run it on a log that is
 * being written.
 *
 * Throws what `openLog` / `records()` would for damage elsewhere (an earlier segment, the last
 * segment's header), changing nothing; LivegradError E_RECORD_WRITE when the cut fails.
 */
export async function repairLog(path: string, options: OpenLogOptions = {}): Promise<RepairResult> {
  const { chunkBytes } = resolveOpenLogOptions(options);
  const segments = await listSegments(path);
  const nothing: RepairResult = { file: null, offset: 0, bytes: 0, deleted: false };
  for (const [i, { file, number }] of segments.entries()) {
    const last = i === segments.length - 1;
    const stop = await stopOf(file, last, number, chunkBytes);
    if (stop.damage !== undefined && (!last || stop.damage.inHeader)) throw damageError(file, stop.damage);
    if (!last || stop.good === stop.size) continue;
    if (stop.good === 0) {
      try {
        await unlink(file);
        if (process.platform !== 'win32') await syncPath(dirname(file));
      } catch (e) {
        throw fsError('E_RECORD_WRITE', 'delete', file, e);
      }
      return { file, offset: 0, bytes: stop.size, deleted: true };
    }
    try {
      const handle = await open(file, 'r+');
      try {
        await handle.truncate(stop.good);
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (e) {
      throw fsError('E_RECORD_WRITE', 'truncate', file, e);
    }
    return { file, offset: stop.good, bytes: stop.size - stop.good, deleted: false };
  }
  return nothing;
}
