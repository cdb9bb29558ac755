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
 *
 * Decoding reads the same plain MessagePack and nothing else. Every frame is scanned first
 * (msgpack-scan.ts, json-scan.ts): one pass over the headers that refuses extension types, lengths
 * past the end of the frame, non-string map keys, trailing bytes and frames over FRAME_LIMITS,
 * before anything is built. NOTE: msgpackr would otherwise decode its own extensions (BigInt,
 * Date, Set, Error, RegExp, typed arrays): a 3 MB BigInt as a `ping` id took 0.2 s to decode and
 * 3.4 s more to render in the error message, and every session waited.
 */
import { Packr, Unpackr, type Options } from 'msgpackr';
import { LivegradError } from '../errors.js';
import { scanJson } from './json-scan.js';
import { scanMsgpack } from './msgpack-scan.js';
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
 * for anything that is not exactly one well-formed plain value within FRAME_LIMITS. Costs time
 * linear in the frame: str and bin bodies are skipped by the scan and copied or viewed once.
 */
export function decodeFrame(data: Uint8Array, binary: boolean): unknown {
  if (binary) {
    if (data.length === 0) throw new LivegradError('E_BAD_FRAME', 'Expected a MessagePack message in a binary frame, got an empty frame');
    scanMsgpack(data);
    try {
      return unpackr.unpack(data);
    } catch (e) {
      throw new LivegradError('E_BAD_FRAME', `Expected a MessagePack message in a binary frame, got undecodable bytes: ${(e as Error).message.slice(0, 120)}`, { cause: e });
    }
  }
  scanJson(data);
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
