/**
 * The MessagePack scan: it passes everything the encoder writes, refuses each bad form with
 * E_BAD_FRAME naming what and where, holds every limit exactly, and agrees with an independent
 * strict decoder on mutated frames.
 */
import fc from 'fast-check';
import { pack, Unpackr, type Options } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { LivegradError } from '../../src/index.js';
import { encodeMsgpack } from '../../src/protocol/codec.js';
import { FRAME_LIMITS } from '../../src/protocol/frame-limits.js';
import { scanMsgpack } from '../../src/protocol/msgpack-scan.js';
import { strictDecode } from '../helpers/msgpack-strict.js';

/** The scan's refusal of `bytes`: its message, or undefined when it passes (anything but E_BAD_FRAME is rethrown). */
function refusal(bytes: Uint8Array): string | undefined {
  try {
    scanMsgpack(bytes);
  } catch (e) {
    if (e instanceof LivegradError && e.code === 'E_BAD_FRAME') return e.message;
    throw e;
  }
  return undefined;
}

const bytes = (...parts: (number | Uint8Array)[]): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'number' ? Buffer.from([p]) : p)));
const u32 = (n: number): Buffer => Buffer.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
const u16 = (n: number): Buffer => Buffer.from([n >>> 8, n & 0xff]);
/** `{type: "ping", id: <raw>}`: the value under test starts at byte 14. */
const ping = (raw: Uint8Array): Buffer => bytes(0x82, pack('type'), pack('ping'), pack('id'), raw);
/** An array 32 of `n` copies of `item`. */
const arrayOf = (n: number, item: number | Uint8Array): Buffer => bytes(0xdd, u32(n), Buffer.alloc(n * (typeof item === 'number' ? 1 : item.length), item));
/** A map 16 of `n` entries "k0": 0, "k1": 0, …. */
const mapOf = (n: number): Buffer => bytes(0xde, u16(n), ...Array.from({ length: n }, (_, i) => bytes(pack(`k${i}`), 0x00)));
const nested = (depth: number): Buffer => bytes(Buffer.alloc(depth, 0x91), 0x00);

const plain: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.double(),
    fc.string(),
    fc.uint8Array({ maxLength: 300 }),
    fc.array(tie('value'), { maxLength: 20 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('value'), { maxKeys: 20 }),
  ),
})).value;

describe('scanMsgpack', () => {
  it('passes every value the encoder writes', () => {
    fc.assert(
      fc.property(plain, (v) => {
        expect(refusal(encodeMsgpack({ v }))).toBeUndefined();
      }),
      { seed: 11, numRuns: 500 },
    );
  });

  it.each([
    ['fixext 1', bytes(0xd4, 0x00, 0x00), 'got an extension type (0xd4, fixext 1) at byte 14'],
    ['fixext 2', bytes(0xd5, 0x01, 0, 0), 'got an extension type (0xd5, fixext 2) at byte 14'],
    ['a Date (fixext 4, type -1)', bytes(0xd6, 0xff, 0, 0, 0, 1), 'got an extension type (0xd6, fixext 4) at byte 14'],
    ['fixext 8', bytes(0xd7, 0xff, Buffer.alloc(8)), 'got an extension type (0xd7, fixext 8) at byte 14'],
    ['fixext 16', bytes(0xd8, 0x01, Buffer.alloc(16)), 'got an extension type (0xd8, fixext 16) at byte 14'],
    ['ext 8', bytes(0xc7, 0x01, 0x42, 0x01), 'got an extension type (0xc7, ext 8) at byte 14'],
    ['ext 16', bytes(0xc8, u16(1), 0x73, 0x90), 'got an extension type (0xc8, ext 16) at byte 14'],
    ['a BigInt (ext 32, type 0x42)', bytes(0xc9, u32(3), 0x42, 1, 2, 3), 'got an extension type (0xc9, ext 32) at byte 14'],
    ['the never-used byte, nested', bytes(0x91, 0xc1), 'got the never-used byte 0xc1 at byte 15'],
    ['a str 32 claiming 4 GiB', bytes(0xdb, u32(2 ** 32 - 1), 0x61), 'got a str 32 of 4294967295 bytes that runs past the end of the frame (20 bytes) at byte 14'],
    ['a bin 32 claiming 4 GiB', bytes(0xc6, u32(2 ** 32 - 1), 0x61), 'got a bin 32 of 4294967295 bytes that runs past the end of the frame (20 bytes) at byte 14'],
    ['a bin 8 one byte short', bytes(0xc4, 0x03, 1, 2), 'got a bin 8 of 3 bytes that runs past the end of the frame (18 bytes) at byte 14'],
    ['an array 32 claiming 4 G items', bytes(0xdd, u32(2 ** 32 - 1), 0x00), 'got an array 32 of 4294967295 items, more than the 1 byte left in the frame at byte 14'],
    ['a map 32 claiming 4 G entries', bytes(0xdf, u32(2 ** 32 - 1), 0xa1, 0x61), 'got a map 32 of 4294967295 entries, more than the 2 bytes left in the frame at byte 14'],
    ['a map 16 whose entries need more bytes than are left', bytes(0xde, u16(2), 0xa1, 0x61, 0x00), 'got a map 16 of 2 entries, more than the 3 bytes left in the frame at byte 14'],
    ['a header cut off', bytes(0xda, 0x01), 'got a str 16 header cut off by the end of the frame (16 bytes) at byte 14'],
    ['a float 64 cut off', bytes(0xcb, 0x3f, 0xf0), 'got a float 64 cut off by the end of the frame (17 bytes) at byte 14'],
    ['an array that ends early', bytes(0x92, 0x91, 0x01), 'got the end of the frame inside an array or map at byte 17'],
    ['an integer map key', bytes(0x81, 0x01, 0x02), 'got a map key that is not a string (positive fixint) at byte 15'],
    ['a nil map key', bytes(0x81, 0xc0, 0x02), 'got a map key that is not a string (nil) at byte 15'],
    ['a bin map key', bytes(0x81, 0xc4, 0x01, 0x61, 0x02), 'got a map key that is not a string (bin 8) at byte 15'],
    ['a map as a map key', bytes(0x81, 0x80, 0x02), 'got a map key that is not a string (fixmap) at byte 15'],
    ['nesting 65 deep', nested(FRAME_LIMITS.depth), 'got arrays and maps nested deeper than 64 at byte 77'],
  ])('refuses %s', (_what, raw, message) => {
    expect(refusal(ping(raw))).toBe(`Expected one plain MessagePack value in a binary frame, ${message}`);
  });

  it('refuses bytes after the value, and a frame that ends before it does', () => {
    expect(refusal(bytes(encodeMsgpack({ type: 'ping' }), 0x00))).toBe('Expected one plain MessagePack value in a binary frame, got 1 byte more after the value at byte 11');
    expect(refusal(bytes(0x01, 0x02, 0x03))).toMatch(/got 2 bytes more after the value at byte 1$/);
    expect(refusal(new Uint8Array(0))).toMatch(/got the end of the frame inside its value at byte 0$/);
  });

  it('skips str and bin bodies without reading them', () => {
    // a bin whose body is made of format bytes that would each be refused if read
    expect(refusal(ping(bytes(0xc6, u32(100_000), Buffer.alloc(100_000, 0xc1))))).toBeUndefined();
    expect(refusal(ping(bytes(0xdb, u32(1000), Buffer.alloc(1000, 0xd4))))).toBeUndefined();
  });

  it('holds each limit exactly: at the limit it passes, one over it is refused', () => {
    // nesting: the message map is depth 1
    expect(refusal(ping(nested(FRAME_LIMITS.depth - 1)))).toBeUndefined();
    // values: the array itself is one
    expect(refusal(arrayOf(FRAME_LIMITS.values - 1, 0x00))).toBeUndefined();
    expect(refusal(arrayOf(FRAME_LIMITS.values, 0x00))).toBe(`Expected one plain MessagePack value in a binary frame, got more than 1048576 values at byte ${5 + FRAME_LIMITS.values - 1}`);
    // allocated: strings, bins, arrays and maps, empty ones included
    for (const empty of [0x90, 0x80, 0xa0]) {
      expect(refusal(arrayOf(FRAME_LIMITS.allocated - 1, empty))).toBeUndefined();
      expect(refusal(arrayOf(FRAME_LIMITS.allocated, empty))).toBe(`Expected one plain MessagePack value in a binary frame, got more than 65536 strings, bins, arrays and maps at byte ${5 + FRAME_LIMITS.allocated - 1}`);
    }
    expect(refusal(arrayOf(FRAME_LIMITS.allocated, bytes(0xc4, 0x00)))).toMatch(/got more than 65536 strings, bins, arrays and maps/);
    // map keys, all maps together
    expect(refusal(mapOf(FRAME_LIMITS.keys))).toBeUndefined();
    expect(refusal(mapOf(FRAME_LIMITS.keys + 1))).toMatch(/got more than 4096 map keys at byte \d+$/);
    expect(refusal(arrayOf(FRAME_LIMITS.keys + 1, bytes(0x81, 0xa1, 0x61, 0x00)))).toMatch(/got more than 4096 map keys at byte \d+$/);
  });

  it('agrees with an independent strict decoder on mutated frames', () => {
    const msgpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'auto' } as unknown as Options);
    fc.assert(
      fc.property(plain, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 2 }), (v, at, byte, how) => {
        const frame = Buffer.from(encodeMsgpack({ v }));
        const i = at % frame.length;
        const bad = how === 0 ? (frame[i] = byte, frame) : how === 1 ? frame.subarray(0, i) : bytes(frame, byte);
        const refused = refusal(bad);
        let strict: unknown;
        try {
          strictDecode(bad);
        } catch (e) {
          strict = e;
        }
        // the strict decoder also stops at invalid UTF-8 and at 64-bit integers that do not fit a
        // double: not structure, which the scan leaves to the decoder and to validation
        const unknowable = /does not fit a double|encoded data was not valid/.test(String(strict));
        if (!unknowable) expect(refused !== undefined, `scan: ${refused}; strict: ${String(strict)}`).toBe(strict !== undefined);
        // whatever the scan passes, msgpackr decodes
        if (refused === undefined) expect(() => msgpackr.unpack(bad)).not.toThrow();
      }),
      { seed: 5, numRuns: 3000 },
    );
  });
});
