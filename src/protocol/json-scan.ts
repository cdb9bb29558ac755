/**
 * A structural scan of a JSON text frame (UTF-8 bytes): one pass that counts, outside strings,
 * what JSON.parse would build, and refuses with LivegradError E_BAD_FRAME, naming the byte offset,
 * a frame over FRAME_LIMITS (nesting, values, allocated values: strings, arrays and objects; keys). It does not check
 * the syntax: JSON.parse does, after it. Counting is exact for valid JSON; for invalid text the
 * counts are only what the scan saw, and JSON.parse refuses the text anyway.
 *
 * Bytes of multi-byte UTF-8 characters are all ≥ 0x80, so no structural byte hides inside one.
 */
import { LivegradError } from '../errors.js';
import { FRAME_LIMITS } from './frame-limits.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** 1 for the bytes that end a number or literal: whitespace and the structural characters. */
const SEPARATOR = new Uint8Array(128);
for (const c of ' \t\r\n[]{},:"') SEPARATOR[c.charCodeAt(0)] = 1;

function bad(what: string, at: number): LivegradError {
  return new LivegradError('E_BAD_FRAME', `Expected a JSON message in a text frame, got ${what} at byte ${at}`);
}

/**
 * Checks that the JSON text in `data` stays within FRAME_LIMITS; throws LivegradError E_BAD_FRAME
 * naming the first limit passed and its byte offset.
 */
export function scanJson(data: Uint8Array): void {
  let depth = 0;
  let values = 0;
  let allocated = 0;
  let keys = 0;
  let inLiteral = false;
  for (let i = 0; i < data.length; i++) {
    const c = data[i]!;
    if (c >= 0x80 || SEPARATOR[c] === 0) {
      // a number, true, false or null: one value, however many bytes
      if (!inLiteral && ++values > FRAME_LIMITS.values) throw bad(`more than ${FRAME_LIMITS.values} values`, i);
      inLiteral = true;
      continue;
    }
    inLiteral = false;
    switch (c) {
      case QUOTE: {
        if (++values > FRAME_LIMITS.values) throw bad(`more than ${FRAME_LIMITS.values} values`, i);
        if (++allocated > FRAME_LIMITS.allocated) throw bad(`more than ${FRAME_LIMITS.allocated} strings, arrays and objects`, i);
        for (i++; i < data.length && data[i] !== QUOTE; i++) if (data[i] === BACKSLASH) i++;
        break; // at the closing quote (or past the end of an unterminated string, which JSON.parse refuses)
      }
      case 0x5b: // [
      case 0x7b: // {
        if (++values > FRAME_LIMITS.values) throw bad(`more than ${FRAME_LIMITS.values} values`, i);
        if (++depth > FRAME_LIMITS.depth) throw bad(`arrays and objects nested deeper than ${FRAME_LIMITS.depth}`, i);
        if (++allocated > FRAME_LIMITS.allocated) throw bad(`more than ${FRAME_LIMITS.allocated} strings, arrays and objects`, i);
        break;
      case 0x5d: // ]
      case 0x7d: // }
        if (depth > 0) depth--;
        break;
      case 0x3a: // : follows every key
        if (++keys > FRAME_LIMITS.keys) throw bad(`more than ${FRAME_LIMITS.keys} object keys`, i);
        break;
    }
  }
}
