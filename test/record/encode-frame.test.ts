import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeMsgpack, encodeMsgpack } from '../../src/protocol/codec.js';
import { encodeFrame } from '../../src/record/encode-frame.js';
import { FRAME_HEAD_BYTES, MAX_RECORD_BYTES } from '../../src/record/format.js';
import { strictDecode } from '../helpers/msgpack-strict.js';

const payloadOf = (frame: Buffer): Buffer => frame.subarray(FRAME_HEAD_BYTES);

/** Plain values MessagePack keeps; numbers of every kind, -0, NaN and subnormals included. */
const plain: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.double(),
    fc.integer({ min: -(2 ** 31), max: 2 ** 32 }),
    fc.maxSafeInteger(),
    fc.constantFrom(-0, NaN, 5e-324, -Number.MIN_VALUE, 2 ** 53, -(2 ** 60), Infinity),
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
    fc.array(tie('value'), { maxLength: 20 }),
    fc.dictionary(fc.string({ maxLength: 10 }), tie('value'), { maxKeys: 20 }),
  ),
})).value;

/** Same value, -0 and NaN told apart (Object.is), Buffers by bytes. */
function same(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' || typeof b === 'number') return Object.is(a, b);
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k, i) => k === kb[i] && same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return a === b;
}

function hasNegativeZeroOrBigInteger(v: unknown): boolean {
  if (typeof v === 'number') return Object.is(v, -0) || (Number.isSafeInteger(v) && (v >= 2 ** 32 || v < -(2 ** 31)));
  if (Array.isArray(v)) return v.some(hasNegativeZeroOrBigInteger);
  if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v)) return Object.values(v).some(hasNegativeZeroOrBigInteger);
  return false;
}

describe('encodeFrame', () => {
  it('frames a payload: uint32 LE length, uint32 LE CRC-32, then the MessagePack map', () => {
    const frame = encodeFrame({ type: 'sample', x: 1 }, 'record');
    const payload = payloadOf(frame);
    expect(frame.readUInt32LE(0)).toBe(payload.length);
    expect(frame.readUInt32LE(4)).toBe(crc32(payload));
    expect(payload.toString('hex')).toBe('82a474797065a673616d706c65a17801');
  });

  it('decodeMsgpack(payload) gives the record back bit for bit, and the payload is plain MessagePack', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 8 }), plain, { maxKeys: 8 }), fc.string({ maxLength: 12 }), (fields, type) => {
        const record = { ...fields, type };
        const payload = payloadOf(encodeFrame(record, 'record'));
        expect(same(decodeMsgpack(payload), record)).toBe(true);
        expect(same(strictDecode(payload), record)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("writes what the protocol's encodeMsgpack writes, but for -0 (a float 64) and integers beyond 32 bits (int 64)", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 8 }), plain, { maxKeys: 8 }), (fields) => {
        const record = { type: 't', ...fields };
        fc.pre(!hasNegativeZeroOrBigInteger(record));
        expect(payloadOf(encodeFrame(record, 'record')).equals(encodeMsgpack(record))).toBe(true);
      }),
      { numRuns: 300 },
    );
    expect(payloadOf(encodeFrame({ type: 't', z: -0 }, 'record')).subarray(-9).toString('hex')).toBe('cb8000000000000000');
    expect(payloadOf(encodeFrame({ type: 't', n: 2 ** 40 }, 'record')).subarray(-9).toString('hex')).toBe('cf0000010000000000');
    expect(payloadOf(encodeFrame({ type: 't', n: -(2 ** 40) }, 'record')).subarray(-9).toString('hex')).toBe('d3ffffff0000000000');
  });

  it('refuses what MessagePack cannot give back as it was, with a TypeError naming where', () => {
    class Point {
      x = 1;
    }
    const cyclic: Record<string, unknown> = { type: 'c' };
    cyclic['self'] = cyclic;
    const cases: [object, RegExp][] = [
      [{ type: 't', a: undefined }, /Expected a plain value .* at the record\.a, got undefined/],
      [{ type: 't', a: [1, undefined] }, /at the record\.a\[1\], got undefined/],
      [{ type: 't', n: 5n }, /at the record\.n, got a BigInt \(5n\)/],
      [{ type: 't', d: new Date(0) }, /at the record\.d, got a Date/],
      [{ type: 't', m: new Map() }, /at the record\.m, got a Map/],
      [{ type: 't', s: new Set() }, /at the record\.s, got a Set/],
      [{ type: 't', p: new Point() }, /at the record\.p, got a Point/],
      [{ type: 't', f: () => 1 }, /at the record\.f, got a function/],
      [{ type: 't', 'odd key': { w: new Float32Array(1) } }, /at the record\["odd key"\]\.w, got a Float32Array \(store a typed array as its bytes/],
      [{ type: 't', ab: new ArrayBuffer(4) }, /at the record\.ab, got a ArrayBuffer/],
      [{ type: 't', s: 'a\uD800b' }, /Expected well-formed text at the record\.s, got a string with a lone surrogate/],
      [{ type: 't', [Symbol('k')]: 1 }, /Expected string keys only at the record, got a symbol key/],
      [cyclic, /nested deeper than 64 \(a cycle\?\)/],
      [{ type: 1 }, /Expected the record's type to be a string, got 1/],
      [[1, 2], /Expected the record to be a plain object, got an array of length 2/],
      [new Point(), /Expected the record to be a plain object, got a Point/],
    ];
    for (const [record, message] of cases) expect(() => encodeFrame(record, 'record'), String(message)).toThrow(message);
  });

  it('refuses a record over MAX_RECORD_BYTES before allocating its frame (RangeError)', () => {
    const huge = Buffer.allocUnsafe(MAX_RECORD_BYTES); // untouched: no memory is used for it
    expect(() => encodeFrame({ type: 'big', huge }, 'record')).toThrow(RangeError);
    expect(() => encodeFrame({ type: 'big', huge }, 'record')).toThrow(`Expected a record of at most ${MAX_RECORD_BYTES} bytes (MAX_RECORD_BYTES), got ${MAX_RECORD_BYTES + 20}`);
  });

  it('refuses a record the decoder would refuse (over its limits), so nothing written is unreadable', () => {
    const keys = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, i]));
    expect(() => encodeFrame({ type: 'wide', ...keys }, 'checkpoint')).toThrow(/Expected a checkpoint that decodeMsgpack reads back, got one it refuses: .*4096 map keys/);
    let deep: unknown = 1;
    for (let i = 0; i < 70; i++) deep = [deep];
    expect(() => encodeFrame({ type: 'deep', deep }, 'record')).toThrow(RangeError);
  });
});
