/**
 * A structural scan of MessagePack bytes: one pass that reads only headers and builds nothing,
 * run before the frame is decoded. It refuses, with LivegradError E_BAD_FRAME naming what and the
 * byte offset:
 *
 *   - any extension type (fixext 0xd4–0xd8, ext 0xc7–0xc9) and the never-used byte 0xc1;
 *   - a str, bin, array or map whose length runs past the end of the frame (the claimed size is
 *     compared with the bytes left, never allocated);
 *   - a map key that is not a string;
 *   - nesting, values, allocated values (strings, bins, arrays, maps) or map keys over FRAME_LIMITS;
 *   - anything after the one value, and a frame that ends inside it.
 *
 * str and bin bodies are skipped in O(1), so a `samples` frame (a few headers around two large
 * bins) costs a few dozen steps however large its tensors are. 64-bit integers are left to the
 * decoder: those that do not fit a double exactly decode as BigInt, which validation refuses.
 */
import { LivegradError } from '../errors.js';
import { FRAME_LIMITS } from './frame-limits.js';

/** Names of the format bytes 0xc0–0xdf, as the MessagePack spec calls them. */
const FORMAT_NAMES: readonly string[] = [
  'nil', 'never used', 'false', 'true', 'bin 8', 'bin 16', 'bin 32', 'ext 8', 'ext 16', 'ext 32', 'float 32', 'float 64',
  'uint 8', 'uint 16', 'uint 32', 'uint 64', 'int 8', 'int 16', 'int 32', 'int 64', 'fixext 1', 'fixext 2', 'fixext 4',
  'fixext 8', 'fixext 16', 'str 8', 'str 16', 'str 32', 'array 16', 'array 32', 'map 16', 'map 32',
];

/** The name of a format byte, as the MessagePack spec calls it. */
function formatName(b: number): string {
  if (b <= 0x7f) return 'positive fixint';
  if (b <= 0x8f) return 'fixmap';
  if (b <= 0x9f) return 'fixarray';
  if (b <= 0xbf) return 'fixstr';
  if (b >= 0xe0) return 'negative fixint';
  return FORMAT_NAMES[b - 0xc0]!;
}

/** The format's name with its article: "a str 8", "an array 16". */
function aFormat(b: number): string {
  const name = formatName(b);
  return `${/^[aeiou]/.test(name) ? 'an' : 'a'} ${name}`;
}

function bytesText(n: number): string {
  return n === 1 ? '1 byte' : `${n} bytes`;
}

function isStr(b: number): boolean {
  return (b >= 0xa0 && b <= 0xbf) || b === 0xd9 || b === 0xda || b === 0xdb;
}

/** Bytes of a format's fixed part after its first byte (numbers, nil, booleans), -1 for the rest. */
function fixedSize(b: number): number {
  switch (b) {
    case 0xc0: case 0xc2: case 0xc3: return 0;
    case 0xcc: case 0xd0: return 1;
    case 0xcd: case 0xd1: return 2;
    case 0xca: case 0xce: case 0xd2: return 4;
    case 0xcb: case 0xcf: case 0xd3: return 8;
    default: return -1;
  }
}

function bad(what: string, at: number): LivegradError {
  return new LivegradError('E_BAD_FRAME', `Expected one plain MessagePack value in a binary frame, got ${what} at byte ${at}`);
}

/** The unsigned big-endian length of `size` bytes after the format byte at `at`. */
function lengthAt(data: Uint8Array, at: number, size: number): number {
  if (at + 1 + size > data.length) throw bad(`${aFormat(data[at]!)} header cut off by the end of the frame (${bytesText(data.length)})`, at);
  let n = 0;
  for (let i = 1; i <= size; i++) n = n * 256 + data[at + i]!;
  return n;
}

/** The position after a str or bin of `n` bytes whose header (`header` bytes) starts at `at`. */
function skip(data: Uint8Array, at: number, header: number, n: number): number {
  if (at + header + n > data.length) throw bad(`${aFormat(data[at]!)} of ${bytesText(n)} that runs past the end of the frame (${bytesText(data.length)})`, at);
  return at + header + n;
}

/**
 * Checks that `data` is exactly one plain MessagePack value within FRAME_LIMITS; throws
 * LivegradError E_BAD_FRAME naming the first problem and its byte offset. Linear in the number of
 * values, never in the size of str or bin bodies; allocates only its stack of open containers.
 *
 * NOTE: no closures inside: tsx (esbuild's keepNames) wraps each one in a call to `__name`, which
 * costs more than scanning a whole `samples` frame. Nor typed arrays for the stack, for the same reason.
 */
export function scanMsgpack(data: Uint8Array): void {
  const end = data.length;
  // open containers: left[d] items still to read at depth d (a map counts keys and values), map[d] 1 for a
  // map; depth 0 is the frame itself, which holds one value
  const left: number[] = [1];
  const map: number[] = [0];
  let depth = 0;
  let pos = 0;
  let values = 0;
  let allocated = 0;
  let keys = 0;

  for (;;) {
    while (left[depth] === 0) {
      if (depth === 0) {
        if (pos !== end) throw bad(`${bytesText(end - pos)} more after the value`, pos);
        return;
      }
      depth--;
    }
    if (pos >= end) throw bad(`the end of the frame inside ${depth === 0 ? 'its value' : 'an array or map'}`, pos);
    const b = data[pos]!;
    // in a map, keys are the items read when an even number is left
    if (map[depth] === 1 && left[depth]! % 2 === 0) {
      if (!isStr(b)) throw bad(`a map key that is not a string (${formatName(b)})`, pos);
      if (++keys > FRAME_LIMITS.keys) throw bad(`more than ${FRAME_LIMITS.keys} map keys`, pos);
    }
    left[depth] = left[depth]! - 1;
    if (++values > FRAME_LIMITS.values) throw bad(`more than ${FRAME_LIMITS.values} values`, pos);

    // numbers, nil and booleans: step over them and go on
    if (b <= 0x7f || b >= 0xe0) {
      pos += 1;
      continue;
    }
    const fixed = fixedSize(b);
    if (fixed >= 0) {
      if (pos + 1 + fixed > end) throw bad(`${aFormat(b)} cut off by the end of the frame (${bytesText(end)})`, pos);
      pos += 1 + fixed;
      continue;
    }
    if (b === 0xc1) throw bad('the never-used byte 0xc1', pos);
    if ((b >= 0xc7 && b <= 0xc9) || (b >= 0xd4 && b <= 0xd8)) throw bad(`an extension type (0x${b.toString(16)}, ${formatName(b)})`, pos);

    // everything else is allocated when decoded: str and bin (skip their bodies), arrays and maps
    if (++allocated > FRAME_LIMITS.allocated) throw bad(`more than ${FRAME_LIMITS.allocated} strings, bins, arrays and maps`, pos);
    if (b >= 0xa0 && b <= 0xbf) {
      pos = skip(data, pos, 1, b & 0x1f);
      continue;
    }
    switch (b) {
      case 0xc4: case 0xd9: pos = skip(data, pos, 2, lengthAt(data, pos, 1)); continue;
      case 0xc5: case 0xda: pos = skip(data, pos, 3, lengthAt(data, pos, 2)); continue;
      case 0xc6: case 0xdb: pos = skip(data, pos, 5, lengthAt(data, pos, 4)); continue;
    }

    // an array or a map: fixmap, fixarray, array 16 / 32, map 16 / 32
    const isMap = b <= 0x8f || b >= 0xde ? 1 : 0;
    const header = b <= 0x9f ? 1 : b === 0xdc || b === 0xde ? 3 : 5;
    const n = header === 1 ? b & 0x0f : lengthAt(data, pos, header - 1);
    const items = isMap ? 2 * n : n;
    // every item takes at least one byte: a larger count cannot be true, whatever follows
    if (items > end - pos - header) throw bad(`${aFormat(b)} of ${n} ${isMap ? 'entries' : 'items'}, more than the ${bytesText(end - pos - header)} left in the frame`, pos);
    if (depth + 1 > FRAME_LIMITS.depth) throw bad(`arrays and maps nested deeper than ${FRAME_LIMITS.depth}`, pos);
    pos += header;
    if (items > 0) {
      depth++;
      left[depth] = items;
      map[depth] = isMap;
    }
  }
}
