/**
 * The codec: what goes out is plain MessagePack (checked with an independent strict decoder),
 * float64 stays float64, decode(encode(m)) = m, and undecodable frames are E_BAD_FRAME; what comes
 * in is scanned first, so extension types and frames over the limits are never decoded.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeJSON, encodeMsgpack, LivegradError, parseClientMessage, wireTensor } from '../../src/index.js';
import { codeOf } from '../helpers/errors.js';
import { strictDecode } from '../helpers/msgpack-strict.js';

/** JSON-like values with -0 mapped to 0 (MessagePack has one integer zero). */
const plain: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double().map((d) => (Object.is(d, -0) ? 0 : d)),
    fc.string(),
    fc.uint8Array({ maxLength: 40 }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('value'), { maxKeys: 5 }),
  ),
})).value;

/** Buffers (what msgpackr decodes bin to) as plain Uint8Arrays, for toEqual. */
function normalize(v: unknown): unknown {
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map(normalize);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  return v;
}

describe('encodeMsgpack', () => {
  it('writes plain MessagePack an independent strict decoder reads back', () => {
    const m = { type: 'step', session: 's', step: 3, loss: 0.1, list: [1, -2, 300, 70000, 2 ** 40], ok: true, none: null, bytes: new Uint8Array([1, 2, 3]) };
    expect(strictDecode(encodeMsgpack(m))).toEqual({ ...m, bytes: new Uint8Array([1, 2, 3]) });
  });

  it('keeps every non-integer number a float64, bit for bit', () => {
    const values = [0.1, 1 / 3, Math.PI, 1e-310, -1.5e300, 2 ** 53 + 2, NaN, Infinity];
    const bytes = encodeMsgpack({ values });
    const back = strictDecode(bytes) as { values: number[] };
    back.values.forEach((v, i) => expect(Object.is(v, values[i]), `values[${i}]`).toBe(true));
    expect([...bytes].filter((b) => b === 0xca)).toEqual([]); // no float32 anywhere
  });

  it('writes undefined as nil, not as an extension', () => {
    expect(strictDecode(encodeMsgpack({ a: undefined, b: [undefined] }))).toEqual({ a: null, b: [null] });
  });

  it('writes tensors as {dtype, shape, data} with little-endian bytes', () => {
    const t = wireTensor({ dtype: 'float32', shape: [1, 2], data: Float32Array.of(1, -2) });
    const back = strictDecode(encodeMsgpack(t)) as { dtype: string; shape: number[]; data: Uint8Array };
    expect(back.dtype).toBe('float32');
    expect(back.shape).toEqual([1, 2]);
    expect([...back.data]).toEqual([0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0]);
  });

  it('round-trips any JSON-like value, and the strict decoder agrees', () => {
    fc.assert(
      fc.property(plain, (v) => {
        const bytes = encodeMsgpack({ v });
        expect(normalize(decodeFrame(bytes, true))).toEqual({ v });
        expect(strictDecode(bytes)).toEqual({ v });
      }),
      { seed: 4, numRuns: 300 },
    );
  });
});

describe('encodeJSON', () => {
  it('writes tensor data as numbers and non-finite numbers as null', () => {
    const t = wireTensor({ dtype: 'float64', shape: [2], data: Float64Array.of(0.1, -3) });
    expect(JSON.parse(encodeJSON({ w: t, loss: NaN }))).toEqual({ w: { dtype: 'float64', shape: [2], data: [0.1, -3] }, loss: null });
  });
});

describe('decodeFrame', () => {
  it('is E_BAD_FRAME for empty, truncated, trailing and unparsable input', () => {
    const good = encodeMsgpack({ type: 'ping' });
    expect(codeOf(() => decodeFrame(new Uint8Array(0), true))).toBe('E_BAD_FRAME');
    expect(codeOf(() => decodeFrame(good.subarray(0, good.length - 1), true))).toBe('E_BAD_FRAME');
    expect(codeOf(() => decodeFrame(Buffer.concat([good, good]), true))).toBe('E_BAD_FRAME');
    expect(codeOf(() => decodeFrame(Buffer.from('{"type":'), false))).toBe('E_BAD_FRAME');
    expect(decodeFrame(Buffer.from('{"type":"ping"}'), false)).toEqual({ type: 'ping' });
  });

  it('decodes no extension type: a BigInt, a Date, undefined, a Set are E_BAD_FRAME naming the byte', () => {
    const head = encodeMsgpack({ type: 'ping', id: 0 }).subarray(0, -1); // the value of id starts at byte 14
    const bigint = Buffer.concat([Buffer.from([0xc9, 0x00, 0x30, 0x00, 0x00, 0x42]), Buffer.alloc(3 * 2 ** 20, 0x7f)]);
    for (const ext of [bigint, Buffer.from([0xd6, 0xff, 0, 0, 0, 1]), Buffer.from([0xd4, 0x00, 0x00]), Buffer.from([0xc7, 0x01, 0x73, 0x90])]) {
      const frame = Buffer.concat([head, ext]);
      expect(() => decodeFrame(frame, true)).toThrow(new RegExp(`^Expected one plain MessagePack value in a binary frame, got an extension type \\(0x${ext[0]!.toString(16)}, (fixext|ext) \\d+\\) at byte 14$`));
    }
  });

  it('refuses the never-used byte 0xc1 wherever it is, not only as the whole frame', () => {
    expect(codeOf(() => decodeFrame(Buffer.from([0xc1]), true))).toBe('E_BAD_FRAME');
    expect(() => decodeFrame(Buffer.from([0x81, 0xa1, 0x61, 0x91, 0xc1]), true)).toThrow('got the never-used byte 0xc1 at byte 4');
  });

  it('never allocates what a length claims: a str of 4 GiB in a 10-byte frame is E_BAD_FRAME', () => {
    const frame = Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5]);
    expect(() => decodeFrame(frame, true)).toThrow('got a str 32 of 4294967295 bytes that runs past the end of the frame (10 bytes) at byte 0');
    expect(() => decodeFrame(Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5]), true)).toThrow('got an array 32 of 4294967295 items, more than the 5 bytes left in the frame at byte 0');
  });

  it('refuses frames over the limits in both encodings: deep nesting, too many values', () => {
    expect(() => decodeFrame(Buffer.concat([Buffer.alloc(100_000, 0x91), Buffer.from([0])]), true)).toThrow('got arrays and maps nested deeper than 64 at byte 64');
    expect(() => decodeFrame(Buffer.from(`{"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`), false)).toThrow('Expected a JSON message in a text frame, got arrays and objects nested deeper than 64 at byte 68');
    expect(() => decodeFrame(Buffer.concat([Buffer.from([0xdd, 0x00, 0x3f, 0xff, 0xff]), Buffer.alloc(0x3fffff, 0x80)]), true)).toThrow('got more than 65536 strings, bins, arrays and maps at byte 65540');
    expect(() => decodeFrame(Buffer.from(`[${'0,'.repeat(2 ** 21)}0]`), false)).toThrow(/^Expected a JSON message in a text frame, got more than 1048576 values at byte \d+$/);
  });

  it('still refuses, in validation, 64-bit integers that do not fit a double', () => {
    const withSeq = (seq: bigint): Buffer => {
      const u64 = Buffer.alloc(9);
      u64[0] = 0xcf;
      u64.writeBigUInt64BE(seq, 1);
      return Buffer.concat([encodeMsgpack({ type: 'samples', session: 's', x: [[1]], y: [0], seq: 0 }).subarray(0, -1), u64]);
    };
    expect(parseClientMessage(decodeFrame(withSeq(2n ** 53n - 1n), true))).toMatchObject({ seq: 2 ** 53 - 1 });
    expect(() => parseClientMessage(decodeFrame(withSeq(2n ** 53n + 1n), true))).toThrow('Expected seq to be an integer in [0, 9007199254740991], got 9007199254740993');
  });

  it('never throws anything but a LivegradError on random bytes, nor does validation after it', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (bytes, binary) => {
        let value: unknown;
        try {
          value = decodeFrame(bytes, binary);
        } catch (e) {
          expect(e).toBeInstanceOf(LivegradError);
          expect((e as LivegradError).code).toBe('E_BAD_FRAME');
          return;
        }
        try {
          parseClientMessage(value);
        } catch (e) {
          expect(e).toBeInstanceOf(LivegradError);
        }
      }),
      { seed: 7, numRuns: 2000 },
    );
  });
});
