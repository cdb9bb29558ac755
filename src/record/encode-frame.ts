/**
 * A record as the bytes of its frame: uint32 LE payload length, uint32 LE CRC-32 of the payload,
 * then the payload, one plain MessagePack map. One buffer, so a batch of records is one writev.
 *
 * What a record may hold, so that reading it back gives the same values bit for bit:
 *
 *   null, booleans, strings (well-formed UTF-16), numbers, Uint8Array (and Buffer) as `bin`,
 *   arrays, and plain objects (string keys) of these.
 *
 * Anything else is a TypeError naming where it is: undefined (msgpack has no such value; it would
 * come back as null), BigInt, Date, Map, Set, class instances, other typed arrays (convert them
 * to their little-endian bytes), functions, symbols, lone surrogates, cycles.
 *
 * NOTE: the records are not encoded with the protocol's `encodeMsgpack`: msgpackr writes -0 as
 * the integer 0 (its integer test is `v >>> 0 === v`), so a float64 field holding -0 would read
 * back as +0, and it writes a Float64Array as the bytes of whatever its ArrayBuffer holds. This
 * encoder writes the same plain MessagePack as `encodeMsgpack` (same choices of format byte), with
 * two differences: -0, NaN and every non-integer are a float 64, and integers beyond 32 bits that
 * a double holds exactly are an int 64 / uint 64 rather than a float 64 (so other languages read
 * them as integers). `decodeMsgpack` reads both back to the same numbers. Every payload is decoded
 * once with `decodeMsgpack` before it is written, so that nothing written is refused when it is
 * read (the decoder's limits on nesting, values and map keys apply to records as to frames).
 */
import { isUint8Array } from 'node:util/types';
import { crc32 } from 'node:zlib';
import { describe } from '../errors.js';
import { FRAME_LIMITS } from '../protocol/frame-limits.js';
import { FRAME_HEAD_BYTES, MAX_RECORD_BYTES } from './format.js';

/**
 * False for text with a lone surrogate, which UTF-8 cannot keep.
 * NOTE: String.prototype.isWellFormed (Node 20; ES2024, beyond this project's lib): one native
 * pass, where a regular expression with a look-behind ran on every key of every record.
 */
function wellFormed(s: string): boolean {
  return (s as unknown as { isWellFormed(): boolean }).isWellFormed();
}

/** Where one encoding is, for messages. */
interface Walk {
  /** Names the record ("record", "checkpoint", …). */
  readonly what: string;
  /** Keys and indices from the record down to the value being measured. */
  readonly path: (string | number)[];
  /** Counted as decodeMsgpack counts them (FRAME_LIMITS): every value, the ones it allocates, map keys. */
  values: number;
  allocated: number;
  keys: number;
}

/** A record the decoder would refuse: RangeError, as decodeMsgpack's scan words it. */
function overLimit(walk: Walk, what: string): RangeError {
  return new RangeError(`Expected a ${walk.what} that decodeMsgpack reads back, got one it refuses: ${what} (at ${where(walk)})`);
}

/** Counts one value (and, for strings, bins, arrays and maps, one allocated value) against FRAME_LIMITS. */
function count(walk: Walk, allocates: boolean): void {
  if (++walk.values > FRAME_LIMITS.values) throw overLimit(walk, `more than ${FRAME_LIMITS.values} values`);
  if (allocates && ++walk.allocated > FRAME_LIMITS.allocated) throw overLimit(walk, `more than ${FRAME_LIMITS.allocated} strings, bins, arrays and maps`);
}

function where(walk: Walk): string {
  let at = `the ${walk.what}`;
  for (const p of walk.path) at += typeof p === 'number' ? `[${p}]` : /^[A-Za-z_$][\w$]*$/.test(p) ? `.${p}` : `[${JSON.stringify(p)}]`;
  return at;
}

function kindOf(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'bigint') return `a BigInt (${value}n)`;
  if (typeof value === 'symbol') return 'a symbol';
  if (typeof value === 'function') return 'a function';
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  const proto = Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null;
  return `a ${proto?.constructor?.name ?? 'exotic object'}`;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function strSize(n: number): number {
  return n < 32 ? 1 + n : n < 0x100 ? 2 + n : n < 0x10000 ? 3 + n : 5 + n;
}

/** True for the numbers written as a float 64: non-integers, -0, NaN, ±Infinity, integers a double holds inexactly. */
function isFloat(value: number): boolean {
  return !Number.isSafeInteger(value) || Object.is(value, -0);
}

const PLAIN = 'a plain value (null, boolean, number, string, Uint8Array, array or plain object)';

/** Bytes `value` takes as MessagePack; checks it on the way. `depth`: arrays and maps around it. */
function sizeOf(value: unknown, depth: number, walk: Walk): number {
  count(walk, typeof value === 'string' || (typeof value === 'object' && value !== null));
  if (value === null || typeof value === 'boolean') return 1;
  if (typeof value === 'number') {
    if (isFloat(value)) return 9;
    if (value >= 0) return value < 0x80 ? 1 : value < 0x100 ? 2 : value < 0x10000 ? 3 : value < 0x100000000 ? 5 : 9;
    return value >= -0x20 ? 1 : value >= -0x80 ? 2 : value >= -0x8000 ? 3 : value >= -0x80000000 ? 5 : 9;
  }
  if (typeof value === 'string') {
    if (!wellFormed(value)) throw new TypeError(`Expected well-formed text at ${where(walk)}, got a string with a lone surrogate (UTF-8 cannot keep it)`);
    return strSize(Buffer.byteLength(value, 'utf8'));
  }
  if (typeof value !== 'object') throw new TypeError(`Expected ${PLAIN} at ${where(walk)}, got ${kindOf(value)}`);
  if (isUint8Array(value)) {
    const n = value.byteLength;
    return (n < 0x100 ? 2 : n < 0x10000 ? 3 : 5) + n;
  }
  if (ArrayBuffer.isView(value)) {
    throw new TypeError(`Expected ${PLAIN} at ${where(walk)}, got ${kindOf(value)} (store a typed array as its bytes: new Uint8Array(a.buffer, a.byteOffset, a.byteLength))`);
  }
  const isArray = Array.isArray(value);
  if (!isArray && !isPlainObject(value)) throw new TypeError(`Expected ${PLAIN} at ${where(walk)}, got ${kindOf(value)}`);
  if (depth + 1 > FRAME_LIMITS.depth) throw overLimit(walk, `arrays and maps nested deeper than ${FRAME_LIMITS.depth} (a cycle?)`);
  if (isArray) {
    const n = value.length;
    let bytes = n < 16 ? 1 : n < 0x10000 ? 3 : 5;
    for (let i = 0; i < n; i++) {
      walk.path.push(i);
      bytes += sizeOf(value[i], depth + 1, walk);
      walk.path.pop();
    }
    return bytes;
  }
  if (Object.getOwnPropertySymbols(value).length > 0) throw new TypeError(`Expected string keys only at ${where(walk)}, got a symbol key`);
  const keys = Object.keys(value);
  const n = keys.length;
  let bytes = n < 16 ? 1 : n < 0x10000 ? 3 : 5;
  for (const key of keys) {
    if (!wellFormed(key)) throw new TypeError(`Expected well-formed text in the keys at ${where(walk)}, got a key with a lone surrogate`);
    count(walk, true);
    if (++walk.keys > FRAME_LIMITS.keys) throw overLimit(walk, `more than ${FRAME_LIMITS.keys} map keys`);
    bytes += strSize(Buffer.byteLength(key, 'utf8'));
    walk.path.push(key);
    bytes += sizeOf((value as Record<string, unknown>)[key], depth + 1, walk);
    walk.path.pop();
  }
  return bytes;
}

function writeHead(buf: Buffer, pos: number, n: number, fix: number, fixMax: number, b8: number, b16: number, b32: number): number {
  if (n < fixMax) {
    buf[pos] = fix | n;
    return pos + 1;
  }
  if (b8 !== 0 && n < 0x100) {
    buf[pos] = b8;
    buf[pos + 1] = n;
    return pos + 2;
  }
  if (n < 0x10000) {
    buf[pos] = b16;
    buf.writeUInt16BE(n, pos + 1);
    return pos + 3;
  }
  buf[pos] = b32;
  buf.writeUInt32BE(n, pos + 1);
  return pos + 5;
}

function writeString(buf: Buffer, pos: number, s: string): number {
  const n = Buffer.byteLength(s, 'utf8');
  pos = writeHead(buf, pos, n, 0xa0, 32, 0xd9, 0xda, 0xdb);
  return pos + buf.write(s, pos, n, 'utf8');
}

/** Writes `value` (already checked by sizeOf) at `pos`; returns the position after it. */
function write(buf: Buffer, pos: number, value: unknown): number {
  if (value === null) {
    buf[pos] = 0xc0;
    return pos + 1;
  }
  if (typeof value === 'boolean') {
    buf[pos] = value ? 0xc3 : 0xc2;
    return pos + 1;
  }
  if (typeof value === 'number') {
    if (isFloat(value)) {
      buf[pos] = 0xcb;
      buf.writeDoubleBE(value, pos + 1);
      return pos + 9;
    }
    if (value >= 0) {
      if (value < 0x80) {
        buf[pos] = value;
        return pos + 1;
      }
      if (value < 0x100) {
        buf[pos] = 0xcc;
        buf[pos + 1] = value;
        return pos + 2;
      }
      if (value < 0x10000) {
        buf[pos] = 0xcd;
        buf.writeUInt16BE(value, pos + 1);
        return pos + 3;
      }
      if (value < 0x100000000) {
        buf[pos] = 0xce;
        buf.writeUInt32BE(value, pos + 1);
        return pos + 5;
      }
      buf[pos] = 0xcf;
      buf.writeBigUInt64BE(BigInt(value), pos + 1);
      return pos + 9;
    }
    if (value >= -0x20) {
      buf[pos] = 0x100 + value;
      return pos + 1;
    }
    if (value >= -0x80) {
      buf[pos] = 0xd0;
      buf.writeInt8(value, pos + 1);
      return pos + 2;
    }
    if (value >= -0x8000) {
      buf[pos] = 0xd1;
      buf.writeInt16BE(value, pos + 1);
      return pos + 3;
    }
    if (value >= -0x80000000) {
      buf[pos] = 0xd2;
      buf.writeInt32BE(value, pos + 1);
      return pos + 5;
    }
    buf[pos] = 0xd3;
    buf.writeBigInt64BE(BigInt(value), pos + 1);
    return pos + 9;
  }
  if (typeof value === 'string') return writeString(buf, pos, value);
  if (isUint8Array(value)) {
    pos = writeHead(buf, pos, value.byteLength, 0, 0, 0xc4, 0xc5, 0xc6);
    buf.set(value, pos);
    return pos + value.byteLength;
  }
  if (Array.isArray(value)) {
    pos = writeHead(buf, pos, value.length, 0x90, 16, 0, 0xdc, 0xdd);
    for (let i = 0; i < value.length; i++) pos = write(buf, pos, value[i]);
    return pos;
  }
  const keys = Object.keys(value as object);
  pos = writeHead(buf, pos, keys.length, 0x80, 16, 0, 0xde, 0xdf);
  for (const key of keys) {
    pos = writeString(buf, pos, key);
    pos = write(buf, pos, (value as Record<string, unknown>)[key]);
  }
  return pos;
}

/**
 * The frame of one record: length, CRC-32, payload. Throws TypeError for a record that is not a
 * plain object with a string `type` or holds a value MessagePack cannot keep bit for bit, and
 * RangeError for one over MAX_RECORD_BYTES or that `decodeMsgpack` refuses (over its limits).
 *
 * @param what      names the record in messages ("record", "checkpoint", "header").
 * @param allocate  gives the frame's memory: `bytes` of it, which the encoder overwrites all of
 *                  (default Buffer.allocUnsafe; a writer passes its own, to reuse frames once written).
 */
export function encodeFrame(record: object, what: string, allocate: (bytes: number) => Buffer = Buffer.allocUnsafe): Buffer {
  if (typeof record !== 'object' || record === null || Array.isArray(record) || !isPlainObject(record)) {
    throw new TypeError(`Expected the ${what} to be a plain object, got ${typeof record === 'object' && record !== null && !Array.isArray(record) ? kindOf(record) : describe(record)}`);
  }
  const type = (record as { type?: unknown }).type;
  if (typeof type !== 'string') throw new TypeError(`Expected the ${what}'s type to be a string, got ${describe(type)}`);
  // NOTE: sizeOf counts what decodeMsgpack's scan counts, so a record it passes is one the reader reads back
  const size = sizeOf(record, 0, { what, path: [], values: 0, allocated: 0, keys: 0 });
  if (size > MAX_RECORD_BYTES) throw new RangeError(`Expected a ${what} of at most ${MAX_RECORD_BYTES} bytes (MAX_RECORD_BYTES), got ${size}`);
  const frame = allocate(FRAME_HEAD_BYTES + size);
  const end = write(frame, FRAME_HEAD_BYTES, record);
  // NOTE: only a getter that answers differently the second time can make the two passes disagree
  if (end !== frame.length) throw new TypeError(`Expected the ${what}'s values to stay the same while it is encoded, got ${end - FRAME_HEAD_BYTES} bytes written for ${size} measured (a getter?)`);
  const payload = frame.subarray(FRAME_HEAD_BYTES);
  frame.writeUInt32LE(size, 0);
  frame.writeUInt32LE(crc32(payload), 4);
  return frame;
}
