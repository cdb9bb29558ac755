/**
 * The session log's on-disk format, version 1 (docs/recording.md is its full description):
 *
 *   segment file  000001.lgr, 000002.lgr, …  (six digits or more, numbered from 1, no gaps)
 *   segment       MAGIC (8) · format version (uint16 LE) · header frame · record frame · record frame · …
 *   frame         payload length (uint32 LE) · CRC-32 of the payload (uint32 LE) · payload
 *   payload       one plain MessagePack map with a string `type`
 *
 * The first frame of a segment is its header (`type: 'header'`), the second a checkpoint. These
 * are the constants and the small pure helpers the writer and the reader share.
 */

/**
 * The first 8 bytes of every segment, PNG's trick: 0x89 catches a transfer that clears the high
 * bit, "\r\n" one that turns CRLF into LF, 0x1a stops a DOS `type`, the final "\n" catches LF → CRLF.
 */
export const MAGIC: Buffer = Buffer.from([0x89, 0x4c, 0x47, 0x52, 0x0d, 0x0a, 0x1a, 0x0a]); // \x89 L G R \r \n \x1a \n

/** The format version this code writes and the only one it reads. */
export const FORMAT_VERSION = 1;

/** Bytes before the header frame: MAGIC and the uint16 format version. */
export const PREFIX_BYTES = MAGIC.length + 2;

/** Bytes of a frame before its payload: the uint32 length and the uint32 CRC-32. */
export const FRAME_HEAD_BYTES = 8;

/**
 * The hard cap on one payload: 256 MiB. A writer refuses a larger record; a reader that finds a
 * larger length reports corruption and allocates nothing for it.
 */
export const MAX_RECORD_BYTES = 256 * 2 ** 20;

/** The file name extension of segments. */
export const SEGMENT_EXTENSION = '.lgr';

/** Header fields the writer sets itself; a caller's header may not use them. */
export const RESERVED_HEADER_FIELDS: readonly string[] = ['type', 'format', 'livegrad', 'segment', 'created'];

/** A record as written: a plain object with a string `type` (see encode-frame.ts for what its values may be). */
export interface LogRecordInput {
  readonly type: string;
}

/** A record as read back: a map with a string `type`; bins come back as Buffers. */
export interface LogRecord {
  readonly type: string;
  readonly [field: string]: unknown;
}

/** The payload of a segment's header frame: the writer's fields, then the caller's. */
export interface LogHeader {
  readonly type: 'header';
  readonly format: number;
  /** The livegrad version that wrote the segment. */
  readonly livegrad: string;
  readonly segment: number;
  /** When the segment was started, ms since the epoch. */
  readonly created: number;
  readonly [field: string]: unknown;
}

/** Where a record is: its segment, the byte offset of its frame in that file, its payload's length. */
export interface RecordPosition {
  readonly segment: number;
  /** Path of the segment file. */
  readonly file: string;
  /** Byte offset of the frame (its length field) in the file. */
  readonly offset: number;
  /** Bytes of the payload; the frame is FRAME_HEAD_BYTES more. */
  readonly length: number;
}

/** The file name of segment `n`: `000001.lgr`. */
export function segmentName(n: number): string {
  return `${String(n).padStart(6, '0')}${SEGMENT_EXTENSION}`;
}

/** The number of a segment file name, undefined for a name that is not one (`000001.lgr` → 1). */
export function segmentNumber(name: string): number | undefined {
  const m = /^(\d{6,})\.lgr$/.exec(name);
  if (m === null) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) && n >= 1 && segmentName(n) === name ? n : undefined;
}

/** The 10 bytes a segment starts with. */
export function segmentPrefix(): Buffer {
  const prefix = Buffer.alloc(PREFIX_BYTES);
  MAGIC.copy(prefix, 0);
  prefix.writeUInt16LE(FORMAT_VERSION, MAGIC.length);
  return prefix;
}
