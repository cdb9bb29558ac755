/**
 * The segment files of a log: a directory's `NNNNNN.lgr` files in number order, which must run
 * without a gap (retention deletes from the front, so the first may be above 1), or one file.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { LivegradError } from '../errors.js';
import { fsError } from './fs-error.js';
import { SEGMENT_EXTENSION, segmentName, segmentNumber } from './format.js';

export interface SegmentFile {
  /** From the file's name; undefined for a lone file whose name is not a segment name. */
  readonly number: number | undefined;
  readonly file: string;
}

/**
 * The segments at `path`, a log directory or one segment file. Throws LivegradError
 * E_RECORD_READ when it cannot be read, E_RECORD_CORRUPT for a `.lgr` name that is not a
 * segment name or a gap in the numbers.
 */
export async function listSegments(path: string): Promise<SegmentFile[]> {
  const at = resolve(path);
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(at)).isDirectory();
  } catch (e) {
    throw fsError('E_RECORD_READ', 'find', at, e);
  }
  if (!isDirectory) return [{ number: segmentNumber(basename(at)), file: at }];
  let names: string[];
  try {
    names = await readdir(at);
  } catch (e) {
    throw fsError('E_RECORD_READ', 'list', at, e);
  }
  const segments: { number: number; file: string }[] = [];
  for (const name of names) {
    if (!name.endsWith(SEGMENT_EXTENSION)) continue;
    const number = segmentNumber(name);
    if (number === undefined) throw new LivegradError('E_RECORD_CORRUPT', `Expected segment files named like ${segmentName(1)} in ${at}, got ${name}`);
    segments.push({ number, file: join(at, name) });
  }
  segments.sort((a, b) => a.number - b.number);
  for (let i = 1; i < segments.length; i++) {
    const before = segments[i - 1]!.number;
    const number = segments[i]!.number;
    if (number !== before + 1) {
      throw new LivegradError('E_RECORD_CORRUPT', `Expected ${segmentName(before + 1)} after ${segmentName(before)} in ${at}, got ${segmentName(number)}: a segment is missing`);
    }
  }
  return segments;
}
