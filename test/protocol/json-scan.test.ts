/**
 * The JSON scan: it passes every JSON text within the limits, counts only what is outside strings,
 * and holds each limit exactly, naming the byte offset.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LivegradError } from '../../src/index.js';
import { FRAME_LIMITS } from '../../src/protocol/frame-limits.js';
import { scanJson } from '../../src/protocol/json-scan.js';

function refusal(text: string): string | undefined {
  try {
    scanJson(Buffer.from(text, 'utf8'));
  } catch (e) {
    if (e instanceof LivegradError && e.code === 'E_BAD_FRAME') return e.message;
    throw e;
  }
  return undefined;
}

const list = (n: number, item: string): string => `[${Array(n).fill(item).join(',')}]`;

describe('scanJson', () => {
  it('passes any JSON value within the limits', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), (v) => {
        expect(refusal(JSON.stringify({ v }))).toBeUndefined();
      }),
      { seed: 3, numRuns: 500 },
    );
  });

  it('counts nothing inside strings, escaped quotes included', () => {
    const s = JSON.stringify({ type: 'ping', id: `\\"${'[{:,'.repeat(20_000)}"é😀` });
    expect(refusal(s)).toBeUndefined();
  });

  it('holds each limit exactly: at the limit it passes, one over it is refused, naming the byte', () => {
    const prefix = 'Expected a JSON message in a text frame, got';
    // nesting
    expect(refusal(`${'['.repeat(FRAME_LIMITS.depth)}${']'.repeat(FRAME_LIMITS.depth)}`)).toBeUndefined();
    expect(refusal(`${'['.repeat(FRAME_LIMITS.depth + 1)}${']'.repeat(FRAME_LIMITS.depth + 1)}`)).toBe(`${prefix} arrays and objects nested deeper than 64 at byte 64`);
    // values: the outer array is one; numbers, true, false and null are one each, however long
    expect(refusal(list(FRAME_LIMITS.values - 1, '1'))).toBeUndefined();
    expect(refusal(list(FRAME_LIMITS.values - 1, '-12.5e3'))).toBeUndefined();
    expect(refusal(list(FRAME_LIMITS.values, 'null'))).toBe(`${prefix} more than 1048576 values at byte ${1 + 5 * (FRAME_LIMITS.values - 1)}`);
    // allocated: strings, arrays and objects
    for (const item of ['""', '[]', '{}']) {
      expect(refusal(list(FRAME_LIMITS.allocated - 1, item))).toBeUndefined();
      expect(refusal(list(FRAME_LIMITS.allocated, item))).toMatch(new RegExp(`^${prefix} more than 65536 strings, arrays and objects at byte \\d+$`));
    }
    // keys, all objects together
    const keys = (n: number) => JSON.stringify(Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 0])));
    expect(refusal(keys(FRAME_LIMITS.keys))).toBeUndefined();
    expect(refusal(keys(FRAME_LIMITS.keys + 1))).toMatch(new RegExp(`^${prefix} more than 4096 object keys at byte \\d+$`));
    expect(refusal(list(FRAME_LIMITS.keys + 1, '{"a":1}'))).toMatch(/more than 4096 object keys/);
  });
});
