/**
 * Decodes a record's payload in one pass: what `decodeMsgpack` gives for the MessagePack a log
 * writer writes (encode-frame.ts), checked as its scan checks it (FRAME_LIMITS, lengths within
 * the payload, string keys, nothing after the value), but without a separate scan, and with
 * short strings (every map key) taken from a cache, so that each record's keys are the same
 * strings and its maps the same object shapes.
 *
 *   decode(payload):  map with string keys, arrays, ASCII strings, bins (views of `payload`),
 *                     nil, booleans, integers (64-bit ones a double holds), float 64  → the value
 *                     anything else, or anything the scan refuses                     → undefined
 *
 * undefined means "not taken": a float 32, a string that is not ASCII, a key `__proto__` (which
 * msgpackr renames), an integer beyond 2^53 (which it may give as a BigInt), an extension, a
 * length past the end, a limit exceeded. The caller then decodes the payload with
 * `decodeMsgpack`, which gives the value or says what is wrong, exactly as before.
 */
import { FRAME_LIMITS } from '../protocol/frame-limits.js';

const EMPTY = Buffer.alloc(0);
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** Thrown inside, caught in `decode`: the payload is left to decodeMsgpack. */
const NOT_TAKEN: unique symbol = Symbol('not taken');

/** Strings of at most this many bytes are cached (map keys are fixstr: 31 bytes at most). */
const CACHED_BYTES = 31;
const CACHE_SLOTS = 4096;

interface CachedString {
  /** The string's bytes (ASCII). */
  readonly bytes: Uint8Array;
  readonly string: string;
}

export class PayloadDecoder {
  private src: Buffer = EMPTY;
  private pos = 0;
  private end = 0;
  private values = 0;
  private allocated = 0;
  private keys = 0;
  private readonly cache: (CachedString | undefined)[] = new Array<CachedString | undefined>(CACHE_SLOTS);
  /** A float 64's bytes, reversed into place (big-endian on the wire). */
  private readonly f64 = new Float64Array(1);
  private readonly f64Bytes = new Uint8Array(this.f64.buffer);

  /** The value `payload` holds, or undefined to have `decodeMsgpack` decode it (see above). */
  decode(payload: Buffer): unknown {
    this.src = payload;
    this.pos = 0;
    this.end = payload.length;
    this.values = 0;
    this.allocated = 0;
    this.keys = 0;
    try {
      const value = this.value(0);
      return this.pos === this.end ? value : undefined;
    } catch (e) {
      if (e === NOT_TAKEN) return undefined;
      throw e;
    } finally {
      this.src = EMPTY; // the payload is not kept
    }
  }

  /** The value at `pos`; `depth`: maps and arrays around it. */
  private value(depth: number): unknown {
    if (this.pos >= this.end || ++this.values > FRAME_LIMITS.values) throw NOT_TAKEN;
    const src = this.src;
    const b = src[this.pos++]!;
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    if (b <= 0x8f) return this.map(b & 0x0f, depth);
    if (b <= 0x9f) return this.array(b & 0x0f, depth);
    if (b <= 0xbf) return this.string(b & 0x1f);
    switch (b) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return this.bin(this.length(1));
      case 0xc5:
        return this.bin(this.length(2));
      case 0xc6:
        return this.bin(this.length(4));
      case 0xcb:
        return this.float64();
      case 0xcc:
        return this.length(1);
      case 0xcd:
        return this.length(2);
      case 0xce:
        return this.length(4);
      case 0xcf: {
        const hi = this.length(4);
        const lo = this.length(4);
        if (hi >= 0x200000) throw NOT_TAKEN; // 2^53 or more: msgpackr's own rule decides
        return hi * 0x100000000 + lo;
      }
      case 0xd0:
        return (this.length(1) << 24) >> 24;
      case 0xd1:
        return (this.length(2) << 16) >> 16;
      case 0xd2:
        return this.length(4) | 0;
      case 0xd3: {
        const hi = this.length(4) | 0;
        const lo = this.length(4);
        if (hi >= 0x200000 || hi < -0x200000) throw NOT_TAKEN;
        return hi * 0x100000000 + lo;
      }
      case 0xd9:
        return this.string(this.length(1));
      case 0xda:
        return this.string(this.length(2));
      case 0xdb:
        return this.string(this.length(4));
      case 0xdc:
        return this.array(this.length(2), depth);
      case 0xdd:
        return this.array(this.length(4), depth);
      case 0xde:
        return this.map(this.length(2), depth);
      case 0xdf:
        return this.map(this.length(4), depth);
      default:
        throw NOT_TAKEN; // 0xc1, extensions, float 32
    }
  }

  /** An unsigned big-endian integer of `size` bytes at `pos` (a length, or a uint). */
  private length(size: number): number {
    const src = this.src;
    let at = this.pos;
    if (at + size > this.end) throw NOT_TAKEN;
    let n = 0;
    for (let i = 0; i < size; i++) n = n * 256 + src[at++]!;
    this.pos = at;
    return n;
  }

  private float64(): number {
    const at = this.pos;
    if (at + 8 > this.end) throw NOT_TAKEN;
    const src = this.src;
    const bytes = this.f64Bytes;
    for (let i = 0; i < 8; i++) bytes[LITTLE_ENDIAN ? 7 - i : i] = src[at + i]!;
    this.pos = at + 8;
    return this.f64[0]!;
  }

  private allocate(): void {
    if (++this.allocated > FRAME_LIMITS.allocated) throw NOT_TAKEN;
  }

  private bin(n: number): Buffer {
    this.allocate();
    const at = this.pos;
    if (at + n > this.end) throw NOT_TAKEN;
    this.pos = at + n;
    return this.src.subarray(at, at + n);
  }

  /** An ASCII string of `n` bytes at `pos` (a short one from the cache). */
  private string(n: number): string {
    this.allocate();
    const src = this.src;
    const at = this.pos;
    if (at + n > this.end) throw NOT_TAKEN;
    this.pos = at + n;
    if (n > CACHED_BYTES) {
      for (let i = at; i < at + n; i++) if (src[i]! >= 0x80) throw NOT_TAKEN;
      return src.toString('latin1', at, at + n);
    }
    const slot = ((n << 5) ^ (n > 1 ? (src[at]! << 8) | src[at + 1]! : n > 0 ? src[at]! : 0)) & (CACHE_SLOTS - 1);
    const hit = this.cache[slot];
    if (hit !== undefined && hit.bytes.length === n) {
      const bytes = hit.bytes;
      let i = 0;
      while (i < n && bytes[i] === src[at + i]) i++;
      if (i === n) return hit.string;
    }
    for (let i = at; i < at + n; i++) if (src[i]! >= 0x80) throw NOT_TAKEN;
    const string = src.toString('latin1', at, at + n);
    this.cache[slot] = { bytes: Uint8Array.prototype.slice.call(src, at, at + n), string };
    return string;
  }

  private array(n: number, depth: number): unknown[] {
    this.allocate();
    // every item takes at least one byte: a larger count cannot be true (and is not allocated)
    if (n > this.end - this.pos || depth + 1 > FRAME_LIMITS.depth) throw NOT_TAKEN;
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) out[i] = this.value(depth + 1);
    return out;
  }

  private map(n: number, depth: number): Record<string, unknown> {
    this.allocate();
    if (2 * n > this.end - this.pos || depth + 1 > FRAME_LIMITS.depth) throw NOT_TAKEN;
    const out: Record<string, unknown> = {};
    const src = this.src;
    for (let i = 0; i < n; i++) {
      // a key: a string, counted as a value, an allocation and a key
      if (this.pos >= this.end || ++this.values > FRAME_LIMITS.values || ++this.keys > FRAME_LIMITS.keys) throw NOT_TAKEN;
      const b = src[this.pos++]!;
      let key: string;
      if (b >= 0xa0 && b <= 0xbf) key = this.string(b & 0x1f);
      else if (b === 0xd9) key = this.string(this.length(1));
      else throw NOT_TAKEN;
      if (key === '__proto__') throw NOT_TAKEN;
      out[key] = this.value(depth + 1);
    }
    return out;
  }
}

