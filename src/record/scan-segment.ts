/**
 * Reads one segment file in a stream and says where and why it stops:
 *
 *   events:  header  record  record  …  stop
 *   batches: [header, record, …] [record, record, …] … [record, …, stop]
 *
 * The events come in batches: the frames whole in the chunk at hand, checked and decoded without
 * waiting, while the next chunk is being read. `stop` is always the last event, in a batch of its
 * own: `good` is the end of the last whole frame (0 when even the header is not whole), `size`
 * the file's bytes, and `damage` what is wrong at `good`, if anything. Without damage,
 * `good < size` is a cut tail, which only the last segment may have.
 *
 * The rules (docs/recording.md, "Reading"):
 * - a frame whose length runs past the end of the file is cut;
 * - a length over MAX_RECORD_BYTES is damage (and nothing is allocated for it);
 * - a frame whose CRC fails or whose length is 0 is damage, except in the last segment when
 *   everything after it is zero bytes (or nothing): a torn write, so a cut;
 * - so is a wrong magic or format version 0 followed by nothing but zero bytes there;
 * - a future format version is damage E_RECORD_VERSION; any other problem E_RECORD_CORRUPT;
 * - in a segment that is not the last, a cut is damage too.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { isUint8Array } from 'node:util/types';
import { crc32 } from 'node:zlib';
import { LivegradError, describe } from '../errors.js';
import { decodeMsgpack } from '../protocol/codec.js';
import { ChunkReader } from './chunk-reader.js';
import { PayloadDecoder } from './decode-payload.js';
import { fsError } from './fs-error.js';
import { FORMAT_VERSION, FRAME_HEAD_BYTES, MAGIC, MAX_RECORD_BYTES, PREFIX_BYTES, type LogHeader, type LogRecord } from './format.js';

export interface Damage {
  readonly code: 'E_RECORD_CORRUPT' | 'E_RECORD_VERSION';
  /** Byte offset of the damaged part: the frame, or 0 / 8 for the magic / the version. */
  readonly offset: number;
  /** "Expected X, got Y". */
  readonly problem: string;
  /** True when the header (magic, version or header frame) is what is damaged. */
  readonly inHeader: boolean;
}

export type ScanEvent =
  | { readonly kind: 'header'; readonly header: LogHeader; readonly end: number }
  | { readonly kind: 'record'; readonly offset: number; readonly length: number; readonly record: LogRecord }
  | { readonly kind: 'stop'; readonly size: number; readonly good: number; readonly damage: Damage | undefined };

export interface ScanOptions {
  /** Whether this is the log's last segment, the only one that may end in a cut. */
  readonly last: boolean;
  readonly chunkBytes: number;
  /** The segment number the file's name gives, which its header must match; undefined to take the header's. */
  readonly number: number | undefined;
}

/** The error a reader throws for damage. */
export function damageError(file: string, damage: Damage): LivegradError {
  return new LivegradError(damage.code, `${damage.problem} (in ${file} at byte ${damage.offset})`);
}

type Frame =
  | { readonly kind: 'end' }
  | { readonly kind: 'cut'; readonly need: number; readonly have: number }
  | { readonly kind: 'bad'; readonly problem: string }
  | { readonly kind: 'whole'; readonly payload: Buffer; readonly end: number };

const hex32 = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;
const hexBytes = (b: Uint8Array): string => Buffer.from(b).toString('hex').replace(/(..)(?=.)/g, '$1 ');

/**
 * The payload of the frame at `at` when the chunk at hand holds all of it and it is sound (a
 * length within the cap, not 0, a right CRC); undefined when it does not, or the frame needs a
 * closer look: `readFrame` then says what it is.
 */
function wholeFrame(r: ChunkReader, at: number): Buffer | undefined {
  const head = r.buffered(at, FRAME_HEAD_BYTES);
  if (head === undefined) return undefined;
  const length = head.readUInt32LE(0);
  if (length === 0 || length > MAX_RECORD_BYTES) return undefined;
  const payload = r.buffered(at + FRAME_HEAD_BYTES, length);
  if (payload === undefined || crc32(payload) !== head.readUInt32LE(4)) return undefined;
  return payload;
}

/**
 * Starts reading the chunk after the frames from `at` on that the chunk at hand holds whole: from
 * the first frame it does not, with room for all of that frame when its length is sound. A frame
 * of half a chunk or more is read alone, with the next frame's head (so that the read after it can
 * start as soon as it is here): a log of large records has each byte read once, in memory of about
 * a record's size, rather than a chunk's worth that ends in a part of the next record.
 */
function readAhead(r: ChunkReader, at: number): void {
  for (;;) {
    const head = r.buffered(at, FRAME_HEAD_BYTES);
    if (head === undefined) return r.readAhead(at);
    const length = head.readUInt32LE(0);
    if (length > MAX_RECORD_BYTES || length > r.size - at - FRAME_HEAD_BYTES) return r.readAhead(at); // damage or a cut: readFrame will say
    const frame = FRAME_HEAD_BYTES + length;
    if (r.buffered(at, frame) === undefined) {
      if (2 * frame >= r.chunkBytes) return r.readAhead(at, Math.min(frame + FRAME_HEAD_BYTES, r.size - at), true);
      return r.readAhead(at, frame);
    }
    at += frame;
  }
}

/** The frame at `at`: whole, cut by the end of the file (or torn: see the rules above), or bad. */
async function readFrame(r: ChunkReader, at: number, last: boolean): Promise<Frame> {
  const left = r.size - at;
  if (left === 0) return { kind: 'end' };
  if (left < FRAME_HEAD_BYTES) return { kind: 'cut', need: FRAME_HEAD_BYTES, have: left };
  const head = await r.view(at, FRAME_HEAD_BYTES);
  const length = head.readUInt32LE(0);
  const crc = head.readUInt32LE(4);
  if (length > MAX_RECORD_BYTES) return { kind: 'bad', problem: `Expected a payload length of at most ${MAX_RECORD_BYTES} bytes (MAX_RECORD_BYTES), got ${length}` };
  if (length > left - FRAME_HEAD_BYTES) return { kind: 'cut', need: FRAME_HEAD_BYTES + length, have: left };
  const payload = await r.view(at + FRAME_HEAD_BYTES, length);
  const end = at + FRAME_HEAD_BYTES + length;
  let problem: string | undefined;
  if (length === 0) problem = 'Expected a payload, got a frame of length 0';
  else {
    const actual = crc32(payload);
    if (actual !== crc) problem = `Expected the payload's CRC-32 to be ${hex32(crc)} as its frame says, got ${hex32(actual)}`;
  }
  if (problem !== undefined) {
    if (last && (await r.zerosFrom(end))) return { kind: 'cut', need: FRAME_HEAD_BYTES + length, have: left };
    return { kind: 'bad', problem };
  }
  return { kind: 'whole', payload, end };
}

/** The payload as a record, or what is wrong with it. */
function decodeRecord(payload: Buffer, decoder: PayloadDecoder): LogRecord | string {
  let value = decoder.decode(payload);
  if (value === undefined) {
    try {
      value = decodeMsgpack(payload);
    } catch (e) {
      return `Expected a plain MessagePack payload, got bytes the decoder refuses: ${(e as Error).message}`;
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || isUint8Array(value)) return `Expected the payload to be a map, got ${describe(value)}`;
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string') return `Expected the payload to have a string type, got ${describe(type)}`;
  return value as LogRecord;
}

/** What is wrong with a header, undefined when nothing. */
function headerProblem(h: LogRecord, number: number | undefined): string | undefined {
  if (h.type !== 'header') return `Expected the first frame to be the header (type "header"), got type ${describe(h.type)}`;
  if (h['format'] !== FORMAT_VERSION) return `Expected the header's format to be ${FORMAT_VERSION}, as the version before it says, got ${describe(h['format'])}`;
  if (typeof h['livegrad'] !== 'string') return `Expected the header's livegrad to be a version string, got ${describe(h['livegrad'])}`;
  const segment = h['segment'];
  if (typeof segment !== 'number' || !Number.isSafeInteger(segment) || segment < 1) return `Expected the header's segment to be an integer ≥ 1, got ${describe(segment)}`;
  if (number !== undefined && segment !== number) return `Expected the header of segment ${number}, as the file's name says, got one for segment ${segment}`;
  if (typeof h['created'] !== 'number' || !Number.isFinite(h['created'])) return `Expected the header's created to be a time in ms, got ${describe(h['created'])}`;
  return undefined;
}

type Stop = Extract<ScanEvent, { kind: 'stop' }>;

/** The header and record events of the segment `r` reads, in batches; returns how it stops. */
async function* frames(r: ChunkReader, options: ScanOptions): AsyncGenerator<ScanEvent[], Stop, undefined> {
  const { last } = options;
  const stop = (good: number, damage?: Damage): Stop => ({ kind: 'stop', size: r.size, good, damage });
  const headerDamage = (offset: number, problem: string, code: Damage['code'] = 'E_RECORD_CORRUPT'): Stop => stop(0, { code, offset, problem, inHeader: true });

  // the prefix: magic, then version (a cut or a zero-filled tail here leaves nothing whole)
  const prefix = await r.view(0, Math.min(PREFIX_BYTES, r.size), 4096);
  let same = 0;
  while (same < Math.min(MAGIC.length, prefix.length) && prefix[same] === MAGIC[same]) same++;
  if (same < Math.min(MAGIC.length, prefix.length)) {
    if (last && (await r.zerosFrom(same))) return stop(0);
    return headerDamage(0, `Expected the magic bytes ${hexBytes(MAGIC)} of a livegrad log segment, got ${hexBytes(prefix.subarray(0, MAGIC.length))}`);
  }
  if (prefix.length < PREFIX_BYTES) {
    if (last) return stop(0);
    return headerDamage(0, `Expected a segment of at least ${PREFIX_BYTES} bytes, got ${r.size}: only the last segment may be cut`);
  }
  const version = prefix.readUInt16LE(MAGIC.length);
  if (version !== FORMAT_VERSION) {
    if (version === 0 && last && (await r.zerosFrom(MAGIC.length))) return stop(0);
    if (version > FORMAT_VERSION) {
      return headerDamage(MAGIC.length, `Expected format version ${FORMAT_VERSION}, got ${version}: the segment was written by a newer livegrad, which can read it`, 'E_RECORD_VERSION');
    }
    return headerDamage(MAGIC.length, `Expected format version ${FORMAT_VERSION}, got ${version}`);
  }

  // the header frame
  const first = await readFrame(r, PREFIX_BYTES, last);
  if (first.kind === 'end' || first.kind === 'cut') {
    if (last) return stop(0);
    const got = first.kind === 'end' ? 'the end of the file' : `${first.have} of its ${first.need} bytes`;
    return headerDamage(PREFIX_BYTES, `Expected a whole header frame, got ${got}: only the last segment may be cut`);
  }
  if (first.kind === 'bad') return headerDamage(PREFIX_BYTES, first.problem);
  // NOTE: in memory of its own, so that a reader keeping the header does not keep the chunk it was read in
  const decoder = new PayloadDecoder();
  const header = decodeRecord(Buffer.from(first.payload), decoder);
  if (typeof header === 'string') return headerDamage(PREFIX_BYTES, header);
  const wrong = headerProblem(header, options.number);
  if (wrong !== undefined) return headerDamage(PREFIX_BYTES, wrong);
  yield [{ kind: 'header', header: header as LogHeader, end: first.end }];

  // the records: those whole in the chunk at hand at once, then the rest of the chunk read (ahead) next
  let batch: ScanEvent[] = [];
  for (let at = first.end; ; ) {
    const payload = wholeFrame(r, at);
    if (payload !== undefined) {
      const record = decodeRecord(payload, decoder);
      if (typeof record === 'string') {
        if (batch.length > 0) yield batch;
        return stop(at, { code: 'E_RECORD_CORRUPT', offset: at, problem: record, inHeader: false });
      }
      batch.push({ kind: 'record', offset: at, length: payload.length, record });
      at += FRAME_HEAD_BYTES + payload.length;
      continue;
    }
    if (batch.length > 0) {
      readAhead(r, at);
      yield batch;
      batch = [];
    }
    const frame = await readFrame(r, at, last);
    const damage = (problem: string): Stop => stop(at, { code: 'E_RECORD_CORRUPT', offset: at, problem, inHeader: false });
    switch (frame.kind) {
      case 'end':
        return stop(at);
      case 'cut':
        if (last) return stop(at);
        return damage(`Expected a whole frame of ${frame.need} bytes, got ${frame.have} before the end of the file: only the last segment may be cut`);
      case 'bad':
        return damage(frame.problem);
      case 'whole': {
        const record = decodeRecord(frame.payload, decoder);
        if (typeof record === 'string') return damage(record);
        batch.push({ kind: 'record', offset: at, length: frame.payload.length, record });
        at = frame.end;
        readAhead(r, at);
        break;
      }
      default: {
        const never: never = frame;
        throw new Error(`scanSegment: unknown frame ${JSON.stringify(never)}`);
      }
    }
  }
}

/**
 * The events of one segment file in batches, `stop` last, in a batch of its own.
 * Throws LivegradError E_RECORD_READ when the file cannot be read; damage is reported in `stop`,
 * not thrown. The file is closed when the generator ends or is returned early.
 */
export async function* scanSegment(file: string, options: ScanOptions): AsyncGenerator<readonly ScanEvent[], void, undefined> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (e) {
    throw fsError('E_RECORD_READ', 'open', file, e);
  }
  let r: ChunkReader | undefined;
  try {
    let size: number;
    try {
      size = (await handle.stat()).size;
    } catch (e) {
      throw fsError('E_RECORD_READ', 'stat', file, e);
    }
    r = new ChunkReader(handle, file, size, options.chunkBytes);
    const end = yield* frames(r, options);
    yield [end];
  } finally {
    await r?.settle();
    await handle.close();
  }
}
