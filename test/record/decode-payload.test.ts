import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeMsgpack, encodeMsgpack } from '../../src/protocol/codec.js';
import { FRAME_LIMITS } from '../../src/protocol/frame-limits.js';
import { PayloadDecoder } from '../../src/record/decode-payload.js';
import { encodeFrame } from '../../src/record/encode-frame.js';
import { FRAME_HEAD_BYTES } from '../../src/record/format.js';

const payloadOf = (record: object): Buffer => encodeFrame(record, 'record').subarray(FRAME_HEAD_BYTES);

/** Plain values a log writer keeps: numbers of every kind, strings ASCII or not, bins, arrays, maps. */
const plain: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.double(),
    fc.integer({ min: -(2 ** 31), max: 2 ** 32 }),
    fc.maxSafeInteger(),
    fc.constantFrom(-0, NaN, 5e-324, 2 ** 53, -(2 ** 53), -(2 ** 60), 2 ** 64, Infinity),
    fc.string({ maxLength: 40 }),
    fc.string({ unit: 'grapheme', maxLength: 10 }),
    fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
    fc.array(tie('value'), { maxLength: 20 }),
    fc.dictionary(fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('__proto__', 'constructor', 'type', 'data')), tie('value'), { maxKeys: 20 }),
  ),
})).value;

/** The same value, -0 and NaN told apart, Buffers by bytes, keys in the same order, arrays and plain objects as such. */
function same(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' || typeof b === 'number') return Object.is(a, b);
  if (Buffer.isBuffer(a) || Buffer.isBuffer(b)) return Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b);
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k, i) => k === kb[i] && same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return a === b;
}

/** decodeMsgpack's value, or its error's message. */
function reference(payload: Buffer): { value: unknown } | { error: string } {
  try {
    return { value: decodeMsgpack(payload) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/** {a: n} with n a uint 64 (0xcf) or an int 64 (0xd3). */
function int64(format: 0xcf | 0xd3, n: bigint): Buffer {
  const b = Buffer.from([0x81, 0xa1, 0x61, format, 0, 0, 0, 0, 0, 0, 0, 0]);
  if (format === 0xcf) b.writeBigUInt64BE(n, 4);
  else b.writeBigInt64BE(n, 4);
  return b;
}

describe('PayloadDecoder', () => {
  it('gives what decodeMsgpack gives for any record a log writer writes, or leaves it to decodeMsgpack', () => {
    const decoder = new PayloadDecoder();
    let taken = 0;
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 8 }), plain, { maxKeys: 8 }), (fields) => {
        const payload = payloadOf({ ...fields, type: 'x' });
        const got = decoder.decode(payload);
        if (got === undefined) return;
        taken++;
        const want = reference(payload);
        expect('value' in want && same(got, want.value)).toBe(true);
      }),
      { numRuns: 500 },
    );
    expect(taken).toBeGreaterThan(100);
  });

  it('never takes bytes decodeMsgpack refuses, and gives what it gives for the rest: any bytes, any cut or flipped byte of a record', () => {
    const decoder = new PayloadDecoder();
    const check = (payload: Buffer): void => {
      const got = decoder.decode(payload);
      if (got === undefined) return;
      const want = reference(payload);
      expect('value' in want ? same(got, want.value) : want.error).toBe(true);
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => check(Buffer.from(bytes))), { numRuns: 2000 });
    fc.assert(
      fc.property(plain, fc.nat(), fc.nat(255), fc.boolean(), (value, at, byte, cut) => {
        const payload = Buffer.from(payloadOf({ type: 'x', value }));
        const i = at % payload.length;
        if (cut) check(payload.subarray(0, i));
        else {
          payload[i] = byte;
          check(payload);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('takes 64-bit integers a double holds exactly, as numbers', () => {
    const decoder = new PayloadDecoder();
    for (const [format, n] of [[0xcf, 2n ** 53n - 1n], [0xcf, 2n ** 32n], [0xd3, -(2n ** 53n)], [0xd3, -1n], [0xd3, 2n ** 53n - 1n]] as const) {
      expect(decoder.decode(int64(format, n))).toEqual({ a: Number(n) });
      expect(decodeMsgpack(int64(format, n))).toEqual({ a: Number(n) });
    }
  });

  it('takes a samples record: bins are views of the payload, keys the same strings every time', () => {
    const decoder = new PayloadDecoder();
    const x = Buffer.from(new Float32Array([1, 2, 3, 4]).buffer);
    const payload = payloadOf({ type: 'samples', step: 3, first: 4, rows: 2, oneStep: false, producer: 'p', seq: 2 ** 40, x: { dtype: 'float32', shape: [2, 2], data: x } });
    const a = decoder.decode(payload) as { x: { data: Buffer } };
    expect(same(a, decodeMsgpack(payload))).toBe(true);
    expect(Buffer.isBuffer(a.x.data)).toBe(true);
    expect(a.x.data.buffer).toBe(payload.buffer);
    const b = decoder.decode(payload) as object;
    expect(Object.keys(b)).toEqual(Object.keys(a));
  });

  it('leaves to decodeMsgpack what it does not take: float 32, non-ASCII text, a key __proto__, integers from 2^53, extensions', () => {
    const decoder = new PayloadDecoder();
    const cases = [
      Buffer.from([0x81, 0xa1, 0x61, 0xca, 0x3f, 0x80, 0, 0]), // {a: float 32 1}
      payloadOf({ type: 'é' }),
      payloadOf({ type: 'x', ['__proto__']: 1 }),
      int64(0xcf, 2n ** 53n), // msgpackr gives 2^53 as a number, 2^53 + 1 as a BigInt
      int64(0xd3, -(2n ** 53n) - 1n),
      Buffer.from([0x81, 0xa1, 0x61, 0xd4, 0x01, 0x00]), // {a: fixext 1}
      Buffer.from([0x81, 0xa1, 0x61, 0xc1]),
      Buffer.from([0x81, 0x01, 0x02]), // a key that is not a string
      Buffer.from([0x80, 0x80]), // trailing bytes
      Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]), // an array of 4 G items in 5 bytes
      Buffer.from([0x91, ...Array<number>(FRAME_LIMITS.depth).fill(0x91), 0x01]), // nested too deep
    ];
    for (const payload of cases) expect(decoder.decode(payload)).toBeUndefined();
  });

  it('counts map keys as decodeMsgpack does: a record with more than FRAME_LIMITS.keys is left to it', () => {
    const decoder = new PayloadDecoder();
    const many = Object.fromEntries(Array.from({ length: FRAME_LIMITS.keys }, (_, i) => [`k${i}`, i]));
    expect(decoder.decode(encodeMsgpack(many))).toEqual(many);
    const over = encodeMsgpack({ ...many, type: 'x' });
    expect(decoder.decode(over)).toBeUndefined();
    expect(() => decodeMsgpack(over)).toThrow(/map keys/);
  });
});
