/**
 * docs/recording.md is right: its constants and error table are the code's, and its Python
 * reader, run as written by a real Python (Debian's python3 with python3-msgpack, which .ci/run
 * installs), prints the records the TypeScript reader reads, stops at a cut or torn tail, and
 * refuses a flipped byte.
 */
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FRAME_HEAD_BYTES, MAGIC, MAX_RECORD_BYTES } from '../../src/record/format.js';
import { openLog } from '../../src/record/reader.js';
import { createLogWriter } from '../../src/record/writer.js';
import { useTempDir } from './fixtures.js';

const tmp = useTempDir();
const doc = readFileSync(new URL('../../docs/recording.md', import.meta.url), 'utf8');

const PYTHON = '/usr/bin/python3';
// CI installs it (.ci/run) and runs this test; a developer machine without it skips it, saying so
const hasPython = spawnSync(PYTHON, ['-c', 'import msgpack']).status === 0;
const runPython = hasPython || process.env['CI'] !== undefined;
if (!runPython) console.warn(`docs: the Python log reader test skipped: no ${PYTHON} with msgpack (apt-get install python3-msgpack)`);

function python(code: string, arg: string): Promise<{ out: string; err: string; code: number }> {
  return new Promise((resolve) => {
    execFile(PYTHON, ['-c', code, arg], { timeout: 30_000 }, (error, stdout, stderr) => resolve({ out: stdout, err: stderr, code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1 }));
  });
}

/** A payload as the Python reader prints it: json.dumps with sorted keys, bins as hex, non-ASCII escaped. */
function asPython(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Buffer.isBuffer(v)) return v.toString('hex');
    if (Array.isArray(v)) return v.map(sort);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort((v as Record<string, unknown>)[k])]));
    return v;
  };
  return JSON.stringify(sort(value)).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** What the Python reader should print for the log at `dir`, from the TypeScript reader. */
async function expectedLines(dir: string): Promise<string[]> {
  const log = await openLog(dir);
  const lines: string[] = [];
  let segment = 0;
  for await (const e of log.records()) {
    if (e.segment !== segment) {
      segment = e.segment;
      const s = log.segments.find((x) => x.number === segment)!;
      lines.push(`${basename(s.file)} 10 ${asPython(s.header)}`);
    }
    lines.push(`${basename(e.file)} ${e.offset} ${asPython(e.record)}`);
  }
  return lines;
}

describe('docs/recording.md', () => {
  it('states the magic, the version, the cap and the error codes of the code', () => {
    expect(doc).toContain([...MAGIC].map((b) => b.toString(16).padStart(2, '0')).join(' '));
    expect(doc).toContain(`at most **${MAX_RECORD_BYTES}**`);
    expect(doc).toContain('format version, uint16: `1`');
    const union = /export type ErrorCode =([^;]+);/.exec(readFileSync(new URL('../../src/errors.ts', import.meta.url), 'utf8'))![1]!;
    const codes = [...union.matchAll(/'(E_RECORD_[A-Z_]+)'/g)].map((m) => m[1]).sort();
    const rows = [...doc.matchAll(/^\| `(E_[A-Z_]+)` \|/gm)].map((m) => m[1]).sort();
    expect(rows).toEqual(codes);
  });

  it.skipIf(!runPython)('the Python reader runs as written and prints what the TypeScript reader reads, across segments', async () => {
    const code = /## Reading a log in Python[\s\S]*?```python\n([\s\S]*?)```/.exec(doc)![1]!;
    const dir = join(tmp(), 'log');
    let step = 0;
    const log = createLogWriter(dir, { segmentBytes: 400, header: { session: 'doc', config: { lr: 0.5, layers: [2, 3] } }, checkpoint: () => ({ type: 'checkpoint', step, w: Buffer.from([step, 255]) }) });
    for (; step < 12; step++) {
      void log.append({ type: 'samples', seq: step, x: Buffer.from(new Float64Array([step / 4, -1.25]).buffer), label: `ünï ${step} 🎉`, ok: step % 2 === 0, none: null, big: 2 ** 40 + step });
    }
    await log.append({ type: 'control', action: 'pause', at: { step: 12 } });
    await log.close();
    const expected = await expectedLines(dir);
    expect(new Set(expected.map((l) => l.split(' ')[0])).size).toBeGreaterThanOrEqual(3);

    const whole = await python(code, dir);
    expect(whole.err).toBe('');
    expect(whole.out.trimEnd().split('\n')).toEqual(expected);

    // one segment on its own
    const second = await python(code, join(dir, '000002.lgr'));
    expect(second.out.trimEnd().split('\n')).toEqual(expected.filter((l) => l.startsWith('000002.lgr ')));

    // a cut tail, then a torn one (zeros after a cut), both stop at the last whole record
    const opened = await openLog(dir);
    const last = opened.segments[opened.segments.length - 1]!.file;
    const bytes = readFileSync(last);
    const entries = [];
    for await (const e of opened.records()) if (e.file === last) entries.push(e);
    const final = entries[entries.length - 1]!;
    writeFileSync(last, bytes.subarray(0, final.offset + FRAME_HEAD_BYTES + 2));
    expect((await python(code, dir)).out.trimEnd().split('\n')).toEqual(expected.slice(0, -1));
    writeFileSync(last, Buffer.concat([bytes.subarray(0, final.offset + 5), Buffer.alloc(200)]));
    expect((await python(code, dir)).out.trimEnd().split('\n')).toEqual(expected.slice(0, -1));
    expect((await (await openLog(dir)).verify()).records).toBe(expected.length - opened.segments.length - 1);

    // a flipped byte before the end: a CRC mismatch, naming file and offset
    writeFileSync(last, bytes);
    const first = readFileSync(join(dir, '000001.lgr'));
    const victim = expected.find((l) => l.startsWith('000001.lgr ') && l.includes('"samples"'))!;
    const offset = Number(victim.split(' ')[1]);
    first[offset + FRAME_HEAD_BYTES + 3]! ^= 0x20;
    writeFileSync(join(dir, '000001.lgr'), first);
    const damaged = await python(code, dir);
    expect(damaged.code).not.toBe(0);
    expect(damaged.err).toContain(`000001.lgr at byte ${offset}: CRC mismatch`);
  });
});
