import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { firstValueFrom, take, toArray } from 'rxjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LivegradError } from '../../src/errors.js';
import { encodeFrame } from '../../src/record/encode-frame.js';
import { FRAME_HEAD_BYTES, MAGIC, MAX_RECORD_BYTES, PREFIX_BYTES, segmentPrefix } from '../../src/record/format.js';
import { openLog, type LogEntry, type LogReport } from '../../src/record/reader.js';
import { createLogWriter } from '../../src/record/writer.js';
import { resources, useTempDir } from './fixtures.js';
import { cutAt, layOut, prefixOf, writeSampleLog } from './log-bytes.js';

const tmp = useTempDir();

afterEach(() => {
  vi.restoreAllMocks();
});

/** An entry without its file path (copies of a log live in other directories). */
const where = (e: LogEntry) => ({ segment: e.segment, offset: e.offset, length: e.length, checkpoint: e.checkpoint, record: e.record });

async function readDir(dir: string, chunkBytes?: number): Promise<{ entries: LogEntry[]; report: LogReport }> {
  const it = (await openLog(dir, chunkBytes === undefined ? {} : { chunkBytes })).records();
  const entries: LogEntry[] = [];
  for (;;) {
    const next = await it.next();
    if (next.done === true) return { entries, report: next.value };
    entries.push(next.value);
  }
}

async function failure(p: Promise<unknown>): Promise<LivegradError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof LivegradError)) throw new Error(`Expected a LivegradError, got ${String(e)}`);
  return e;
}

/** A segment by hand: prefix, header, then the given frames. */
function segment(frames: Buffer[], header: object = { type: 'header', format: 1, livegrad: 'test', segment: 1, created: 0 }): Buffer {
  return Buffer.concat([segmentPrefix(), encodeFrame(header, 'header'), ...frames]);
}

function frameOf(payload: Buffer): Buffer {
  const head = Buffer.alloc(FRAME_HEAD_BYTES);
  head.writeUInt32LE(payload.length, 0);
  head.writeUInt32LE(crc32(payload), 4);
  return Buffer.concat([head, payload]);
}

describe('openLog', () => {
  it('gives the segments with their headers, then every record with its position, and a report', async () => {
    const log = await writeSampleLog(join(tmp(), 'log'));
    const opened = await openLog(join(tmp(), 'log'));
    expect(opened.segments.length).toBe(log.segments.length);
    expect(opened.segments.length).toBeGreaterThanOrEqual(3);
    expect(opened.segments.map((s) => [s.number, s.header?.segment, s.header?.['session']])).toEqual(log.segments.map((_, i) => [i + 1, i + 1, 's1']));
    const { entries, report } = await readDir(join(tmp(), 'log'));
    expect(entries.map((e) => e.record['i'] ?? `cp${e.record['samples']}`)).toEqual(log.entries.map((e) => e.record['i'] ?? `cp${e.record['samples']}`));
    expect(entries.filter((e) => e.checkpoint).map((e) => e.record.type)).toEqual(log.segments.map(() => 'checkpoint'));
    for (const e of entries) {
      const bytes = readFileSync(e.file);
      expect(bytes.readUInt32LE(e.offset)).toBe(e.length);
    }
    const size = log.segments.reduce((n, s) => n + s.bytes.length, 0);
    expect(report).toEqual({ segments: log.segments.length, records: 14 + log.segments.length, bytes: size, truncated: 0, truncatedAt: null });
    expect(await opened.verify()).toEqual(report);
  });

  it('reads the same records with any chunk size, records larger than the chunk by their length', async () => {
    const dir = join(tmp(), 'log');
    const log = createLogWriter(dir, { fsync: 'never', segmentBytes: 10_000, checkpoint: () => ({ type: 'checkpoint', w: Buffer.alloc(3000, 1) }) });
    for (let i = 0; i < 20; i++) void log.append({ type: 'sample', i, x: Buffer.alloc(i * 97, i), f: [i / 3, -0, NaN] });
    await log.close();
    const big = await readDir(dir);
    const small = await readDir(dir, 64);
    expect(small.entries.map(where)).toEqual(big.entries.map(where));
    expect(small.entries.some((e) => e.length > 64)).toBe(true);
  });

  it('records$ emits the records in order and completes; unsubscribing early closes the file', async () => {
    const dir = join(tmp(), 'log');
    await writeSampleLog(dir);
    const opened = await openLog(dir);
    const all = await firstValueFrom(opened.records$.pipe(toArray()));
    expect(all.map(where)).toEqual((await readDir(dir)).entries.map(where));
    const before = resources();
    const two = await firstValueFrom(opened.records$.pipe(take(2), toArray()));
    expect(two).toHaveLength(2);
    await expect.poll(() => resources().fds).toBe(before.fds);
  });

  it('records$ errors at damage after the records before it', async () => {
    const dir = join(tmp(), 'log');
    const log = await writeSampleLog(dir);
    const victim = log.entries[3]!;
    const bytes = readFileSync(victim.file);
    bytes[victim.offset + FRAME_HEAD_BYTES + 1]! ^= 0xff;
    writeFileSync(victim.file, bytes);
    const seen: LogEntry[] = [];
    const error = await new Promise<unknown>((resolve) => (openLog(dir).then((o) => o.records$.subscribe({ next: (e) => seen.push(e), error: resolve, complete: () => resolve(undefined) }))));
    expect(seen).toHaveLength(3);
    expect((error as LivegradError).code).toBe('E_RECORD_CORRUPT');
  });

  it('opens one segment file as a log of its own', async () => {
    const dir = join(tmp(), 'log');
    const log = await writeSampleLog(dir);
    const file = join(dir, log.segments[1]!.name);
    const { entries, report } = await readDir(file);
    expect(entries.map(where)).toEqual(log.entries.filter((e) => e.segment === 2).map(where));
    expect(report.segments).toBe(1);
    writeFileSync(join(tmp(), 'copy.lgr'), readFileSync(file));
    const renamed = await openLog(join(tmp(), 'copy.lgr'));
    expect(renamed.segments[0]!.number).toBe(2);
  });

  it('an empty directory is an empty log; a missing one is E_RECORD_READ', async () => {
    expect((await readDir(tmp())).report).toEqual({ segments: 0, records: 0, bytes: 0, truncated: 0, truncatedAt: null });
    const e = await failure(openLog(join(tmp(), 'nope')));
    expect(e.code).toBe('E_RECORD_READ');
    expect(e.message).toContain(join(tmp(), 'nope'));
    expect(e.message).toContain('ENOENT');
  });

  it('refuses a gap in the segment numbers and a name that is not a segment name', async () => {
    const dir = join(tmp(), 'log');
    await writeSampleLog(dir);
    const files = (await openLog(dir)).segments;
    const gap = layOut(tmp(), [
      { name: '000001.lgr', bytes: readFileSync(files[0]!.file) },
      { name: '000003.lgr', bytes: readFileSync(files[2]!.file) },
    ]);
    const e = await failure(openLog(gap));
    expect(e.code).toBe('E_RECORD_CORRUPT');
    expect(e.message).toMatch(/Expected 000002\.lgr after 000001\.lgr .*got 000003\.lgr: a segment is missing/);
    const odd = layOut(tmp(), [{ name: '1.lgr', bytes: readFileSync(files[0]!.file) }]);
    expect((await failure(openLog(odd))).message).toMatch(/named like 000001\.lgr .*got 1\.lgr/);
    // the header's number must be the file's
    const renumbered = layOut(tmp(), [{ name: '000002.lgr', bytes: readFileSync(files[0]!.file) }]);
    expect((await failure(openLog(renumbered))).message).toMatch(/Expected the header of segment 2, as the file's name says, got one for segment 1/);
  });
});

describe('openLog: a cut tail', () => {
  it('ANY cut of a valid log reads as a prefix of its records, the dropped bytes reported, never an error', async () => {
    const log = await writeSampleLog(join(tmp(), 'log'));
    const total = log.segments.reduce((n, s) => n + s.bytes.length, 0);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: total }), fc.constantFrom(64, 100, 2 ** 20), async (k, chunkBytes) => {
        const { files, index, offset } = cutAt(log, k);
        const dir = layOut(tmp(), files);
        const { entries, report } = await readDir(dir, chunkBytes);
        const expected = prefixOf(log, index, offset);
        expect(entries.map(where)).toEqual(expected.entries.map(where));
        expect(report.truncated).toBe(offset - expected.good);
        expect(report.truncatedAt).toEqual(report.truncated === 0 ? null : { file: join(dir, files[index]!.name), offset: expected.good });
        expect(report.bytes).toBe(files.reduce((n, f) => n + f.bytes.length, 0) - report.truncated);
      }),
      { numRuns: 250 },
    );
  });

  it('a cut followed by zero bytes (what a file system leaves after a crash) reads as the same prefix', async () => {
    const log = await writeSampleLog(join(tmp(), 'log'));
    const total = log.segments.reduce((n, s) => n + s.bytes.length, 0);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: total - 1 }), fc.integer({ min: 1, max: 300 }), async (k, zeros) => {
        const { files, index, offset } = cutAt(log, k);
        const padded = files.map((f, i) => (i === index ? { ...f, bytes: Buffer.concat([f.bytes, Buffer.alloc(zeros)]) } : f));
        const { entries, report } = await readDir(layOut(tmp(), padded), 64);
        const expected = prefixOf(log, index, offset);
        expect(entries.map(where)).toEqual(expected.entries.map(where));
        expect(report.truncated).toBe(offset + zeros - expected.good);
      }),
      { numRuns: 150 },
    );
  });

  it('a cut in the middle of a record: the records before it, and the bytes after the last whole one', async () => {
    const dir = join(tmp(), 'log');
    const log = await writeSampleLog(dir);
    const last = log.segments[log.segments.length - 1]!;
    const lastEntry = log.entries[log.entries.length - 1]!;
    const file = join(dir, last.name);
    writeFileSync(file, last.bytes.subarray(0, lastEntry.offset + 11));
    const { entries, report } = await readDir(dir);
    expect(entries.map(where)).toEqual(log.entries.slice(0, -1).map(where));
    expect(report.truncated).toBe(11);
    expect(report.truncatedAt).toEqual({ file, offset: lastEntry.offset });
  });

  it('a CRC failure on the very last record of the last segment is a torn write: truncation, not an error', async () => {
    const dir = join(tmp(), 'log');
    const log = await writeSampleLog(dir);
    const lastEntry = log.entries[log.entries.length - 1]!;
    const bytes = readFileSync(lastEntry.file);
    bytes[bytes.length - 3]! ^= 0x01;
    writeFileSync(lastEntry.file, bytes);
    const { entries, report } = await readDir(dir);
    expect(entries).toHaveLength(log.entries.length - 1);
    expect(report.truncated).toBe(FRAME_HEAD_BYTES + lastEntry.length);
  });

  it('a cut in a segment that is not the last is corruption', async () => {
    const dir = join(tmp(), 'log');
    const log = await writeSampleLog(dir);
    const first = log.segments[0]!;
    writeFileSync(join(dir, first.name), first.bytes.subarray(0, first.bytes.length - 5));
    const e = await failure(readDir(dir));
    expect(e.code).toBe('E_RECORD_CORRUPT');
    expect(e.message).toMatch(/only the last segment may be cut/);
    expect(e.message).toContain(join(dir, first.name));
    writeFileSync(join(dir, first.name), first.bytes.subarray(0, 6));
    expect((await failure(openLog(dir))).message).toMatch(/at least 10 bytes, got 6/);
  });
});

describe('openLog: damage', () => {
  it('a flipped byte in the CRC or payload of any frame but the last → E_RECORD_CORRUPT naming the file and the frame offset', async () => {
    const dir = join(tmp(), 'log');
    const log = await writeSampleLog(dir);
    const frames = [
      ...log.segments.map((s, i) => ({ segment: i + 1, name: s.name, offset: PREFIX_BYTES, length: s.headerEnd - PREFIX_BYTES - FRAME_HEAD_BYTES })),
      ...log.entries.slice(0, -1).map((e) => ({ segment: e.segment, name: log.segments[e.segment - 1]!.name, offset: e.offset, length: e.length })),
    ];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...frames), fc.nat(), fc.integer({ min: 1, max: 255 }), async (frame, at, xor) => {
        const files = log.segments.map((s) => ({ ...s, bytes: Buffer.from(s.bytes) }));
        const bytes = files[frame.segment - 1]!.bytes;
        bytes[frame.offset + 4 + (at % (4 + frame.length))]! ^= xor;
        const copy = layOut(tmp(), files);
        const e = await failure(readDir(copy));
        expect(e.code).toBe('E_RECORD_CORRUPT');
        expect(e.message).toContain(`(in ${join(copy, frame.name)} at byte ${frame.offset})`);
      }),
      { numRuns: 150 },
    );
  });

  it('a CRC mismatch reads "Expected the payload\'s CRC-32 to be …, got …"', async () => {
    const dir = join(tmp(), 'log');
    const log = await writeSampleLog(dir);
    const victim = log.entries[2]!;
    const bytes = readFileSync(victim.file);
    bytes[victim.offset + FRAME_HEAD_BYTES + 2]! ^= 0x40;
    writeFileSync(victim.file, bytes);
    const e = await failure(readDir(dir));
    expect(e.message).toMatch(new RegExp(`^Expected the payload's CRC-32 to be 0x[0-9a-f]{8} as its frame says, got 0x[0-9a-f]{8} \\(in .*000001\\.lgr at byte ${victim.offset}\\)$`));
  });

  it('wrong magic (a text-mode copy that turned CRLF into LF) → E_RECORD_CORRUPT', async () => {
    const dir = join(tmp(), 'log');
    const log = await writeSampleLog(dir);
    const first = log.segments[0]!;
    const crlf = Buffer.from(first.bytes.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
    writeFileSync(join(dir, first.name), crlf);
    const e = await failure(openLog(dir));
    expect(e.code).toBe('E_RECORD_CORRUPT');
    expect(e.message).toMatch(/^Expected the magic bytes 89 4c 47 52 0d 0a 1a 0a of a livegrad log segment, got 89 4c 47 52 0a 1a 0a 01 \(in .*000001\.lgr at byte 0\)$/);
    writeFileSync(join(dir, first.name), 'just some text that is long enough');
    expect((await failure(openLog(dir))).message).toMatch(/magic bytes/);
    // also in the last segment: only zero bytes there are a torn write
    const last = log.segments[log.segments.length - 1]!;
    writeFileSync(join(dir, first.name), first.bytes);
    writeFileSync(join(dir, last.name), Buffer.from('\x89LGX'));
    expect((await failure(openLog(dir))).code).toBe('E_RECORD_CORRUPT');
  });

  it('a future format version → E_RECORD_VERSION; version 0 → E_RECORD_CORRUPT', async () => {
    const dir = join(tmp(), 'log');
    const log = await writeSampleLog(dir);
    const first = log.segments[0]!;
    const bytes = Buffer.from(first.bytes);
    bytes.writeUInt16LE(2, MAGIC.length);
    writeFileSync(join(dir, first.name), bytes);
    const e = await failure(openLog(dir));
    expect(e.code).toBe('E_RECORD_VERSION');
    expect(e.message).toMatch(/^Expected format version 1, got 2: .*newer livegrad.* \(in .*000001\.lgr at byte 8\)$/);
    bytes.writeUInt16LE(0, MAGIC.length);
    writeFileSync(join(dir, first.name), bytes);
    expect((await failure(openLog(dir))).code).toBe('E_RECORD_CORRUPT');
  });

  it('a length field of 4 GB (or just over the cap) → E_RECORD_CORRUPT, and nothing of that size is allocated', async () => {
    const sizes: number[] = [];
    for (const name of ['alloc', 'allocUnsafe', 'allocUnsafeSlow'] as const) {
      const real = Buffer[name].bind(Buffer);
      vi.spyOn(Buffer, name).mockImplementation(((n: number, ...rest: unknown[]) => {
        sizes.push(n);
        return (real as (n: number, ...r: unknown[]) => Buffer)(n, ...rest);
      }) as typeof real);
    }
    for (const length of [0xffffffff, MAX_RECORD_BYTES + 1]) {
      const head = Buffer.alloc(FRAME_HEAD_BYTES);
      head.writeUInt32LE(length, 0);
      const ok = frameOf(Buffer.from(encodeFrame({ type: 'checkpoint' }, 'x').subarray(FRAME_HEAD_BYTES)));
      const dir = layOut(tmp(), [{ name: '000001.lgr', bytes: segment([ok, head, Buffer.alloc(100, 7)]) }]);
      const e = await failure(readDir(dir));
      expect(e.code).toBe('E_RECORD_CORRUPT');
      expect(e.message).toContain(`Expected a payload length of at most ${MAX_RECORD_BYTES} bytes (MAX_RECORD_BYTES), got ${length}`);
    }
    // a length within the cap but past the end of the last segment: a cut, read as such
    const head = Buffer.alloc(FRAME_HEAD_BYTES);
    head.writeUInt32LE(MAX_RECORD_BYTES, 0);
    const dir = layOut(tmp(), [{ name: '000001.lgr', bytes: segment([head, Buffer.alloc(100, 7)]) }]);
    expect((await readDir(dir)).report.truncated).toBe(108);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(2 ** 20);
  });

  it('a payload that is not a map, a map without a string type, undecodable bytes → E_RECORD_CORRUPT', async () => {
    const cases: [Buffer, RegExp][] = [
      [Buffer.from([0x93, 1, 2, 3]), /Expected the payload to be a map, got an array of length 3/],
      [Buffer.from([0x2a]), /Expected the payload to be a map, got 42/],
      [Buffer.from([0x81, 0xa4, 0x6b, 0x69, 0x6e, 0x64, 0x01]), /Expected the payload to have a string type, got undefined/],
      [Buffer.from([0x81, 0xa4, 0x74, 0x79, 0x70, 0x65, 0x07]), /Expected the payload to have a string type, got 7/],
      [Buffer.from([0xc1]), /Expected a plain MessagePack payload, got bytes the decoder refuses/],
      [Buffer.from([0xd6, 0xff, 0, 0, 0, 0]), /Expected a plain MessagePack payload/],
    ];
    const tail = encodeFrame({ type: 'after' }, 'x');
    for (const [payload, message] of cases) {
      const dir = layOut(tmp(), [{ name: '000001.lgr', bytes: segment([encodeFrame({ type: 'checkpoint' }, 'x'), frameOf(payload), tail]) }]);
      const e = await failure(readDir(dir));
      expect(e.code).toBe('E_RECORD_CORRUPT');
      expect(e.message).toMatch(message);
      expect(e.message).toContain(`at byte ${segment([encodeFrame({ type: 'checkpoint' }, 'x')]).length})`);
    }
  });

  it('a frame of length 0 in the middle is corruption; at the end, followed by zeros, a torn write', async () => {
    const cp = encodeFrame({ type: 'checkpoint' }, 'x');
    const zero = Buffer.alloc(FRAME_HEAD_BYTES);
    const middle = layOut(tmp(), [{ name: '000001.lgr', bytes: segment([cp, zero, encodeFrame({ type: 'after' }, 'x')]) }]);
    expect((await failure(readDir(middle))).message).toMatch(/Expected a payload, got a frame of length 0/);
    const end = layOut(tmp(), [{ name: '000001.lgr', bytes: segment([cp, zero, Buffer.alloc(50)]) }]);
    const { entries, report } = await readDir(end);
    expect(entries.map((e) => e.record)).toEqual([{ type: 'checkpoint' }]);
    expect(report.truncated).toBe(58);
  });

  it('a header that is not a map, or lacks its fields → E_RECORD_CORRUPT at byte 10', async () => {
    const headers: [object, RegExp][] = [
      [{ type: 'checkpoint', format: 1, livegrad: 'x', segment: 1, created: 0 }, /Expected the first frame to be the header \(type "header"\), got type "checkpoint"/],
      [{ type: 'header', format: 2, livegrad: 'x', segment: 1, created: 0 }, /Expected the header's format to be 1, as the version before it says, got 2/],
      [{ type: 'header', format: 1, segment: 1, created: 0 }, /Expected the header's livegrad to be a version string, got undefined/],
      [{ type: 'header', format: 1, livegrad: 'x', segment: 0, created: 0 }, /Expected the header's segment to be an integer ≥ 1, got 0/],
      [{ type: 'header', format: 1, livegrad: 'x', segment: 1 }, /Expected the header's created to be a time in ms, got undefined/],
    ];
    for (const [header, message] of headers) {
      const dir = layOut(tmp(), [{ name: '000001.lgr', bytes: segment([encodeFrame({ type: 'checkpoint' }, 'x')], header) }]);
      const e = await failure(openLog(dir));
      expect(e.code).toBe('E_RECORD_CORRUPT');
      expect(e.message).toMatch(message);
      expect(e.message).toMatch(/at byte 10\)$/);
    }
    const notMap = layOut(tmp(), [{ name: '000001.lgr', bytes: Buffer.concat([segmentPrefix(), frameOf(Buffer.from([0x92, 1, 2])), encodeFrame({ type: 'checkpoint' }, 'x')]) }]);
    expect((await failure(openLog(notMap))).message).toMatch(/Expected the payload to be a map, got an array of length 2 \(in .* at byte 10\)/);
  });

  it('a last segment cut inside its header has no header and no records; an empty last segment too', async () => {
    const dir = join(tmp(), 'log');
    const log = await writeSampleLog(dir);
    const last = log.segments[log.segments.length - 1]!;
    for (const cut of [0, 5, 9, 12, last.headerEnd - 1]) {
      writeFileSync(join(dir, last.name), last.bytes.subarray(0, cut));
      const opened = await openLog(dir);
      expect(opened.segments[opened.segments.length - 1]!.header).toBeNull();
      const report = await opened.verify();
      expect(report.truncated).toBe(cut);
      expect(report.records).toBe(log.entries.filter((e) => e.segment < log.segments.length).length);
    }
  });
});
