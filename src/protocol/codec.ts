/**
 * The codec: one message per WebSocket frame, MessagePack in binary frames, JSON in text frames.
 *
 * What goes on the wire is plain MessagePack that any implementation decodes: maps with string
 * keys, arrays, strings, bin, nil, booleans, integers and float64. No msgpackr records or
 * structures (`useRecords: false`), no extension types (`moreTypes` off: typed arrays would be
 * extensions, so tensors are converted to little-endian `bin` first, see tensors.ts), no float32
 * shortening (`useFloat32` off: every non-integer number is a float64, bit for bit).
 *
 * NOTE: msgpackr writes `undefined` as the extension fixext1(0) unless told otherwise; the
 * encoder writes it as nil, and messages are built without undefined fields in the first place.
 */
import { C1, Packr, Unpackr, type Options } from 'msgpackr';
import { LivegradError } from '../errors.js';
import { isWireTensor, wireTensorNumbers } from './tensors.js';

export type Format = 'msgpack' | 'json';

const packr = new Packr({
  useRecords: false,
  moreTypes: false,
  structuredClone: false,
  bundleStrings: false,
  variableMapSize: true,
  encodeUndefinedAsNil: true,
});

// int64AsType 'auto': 64-bit integers that fit a double exactly decode as numbers (some
// implementations write every integer as int64), larger ones as BigInt (rejected by validation).
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'auto' } as unknown as Options);

/** A message as MessagePack bytes. */
export function encodeMsgpack(message: object): Buffer {
  return packr.pack(message);
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (isWireTensor(value)) return { dtype: value.dtype, shape: value.shape, data: wireTensorNumbers(value) };
  return value;
}

/** A message as JSON text; tensors' `data` as arrays of numbers, non-finite numbers as null. */
export function encodeJSON(message: object): string {
  return JSON.stringify(message, jsonReplacer);
}

export function encode(message: object, format: Format): Buffer | string {
  return format === 'msgpack' ? encodeMsgpack(message) : encodeJSON(message);
}

/**
 * Decodes one frame: MessagePack when `binary`, else UTF-8 JSON. Throws LivegradError E_BAD_FRAME
 * for anything that is not exactly one well-formed value.
 */
export function decodeFrame(data: Uint8Array, binary: boolean): unknown {
  if (binary) {
    if (data.length === 0) throw new LivegradError('E_BAD_FRAME', 'Expected a MessagePack message in a binary frame, got an empty frame');
    let value: unknown;
    try {
      value = unpackr.unpack(data);
    } catch (e) {
      throw new LivegradError('E_BAD_FRAME', `Expected a MessagePack message in a binary frame, got undecodable bytes: ${(e as Error).message.slice(0, 120)}`, { cause: e });
    }
    // msgpackr decodes the never-used byte 0xc1 to a marker object instead of failing
    if (value === C1) throw new LivegradError('E_BAD_FRAME', 'Expected a MessagePack message in a binary frame, got the never-used byte 0xc1');
    return value;
  }
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new LivegradError('E_BAD_FRAME', `Expected a JSON message in a text frame, got unparsable text: ${(e as Error).message.slice(0, 120)}`, { cause: e });
  }
}

/** Decodes MessagePack bytes the server wrote (tests, clients written in TypeScript). */
export function decodeMsgpack(data: Uint8Array): unknown {
  return decodeFrame(data, true);
}
