import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LivegradError } from '../../src/errors.js';
import { FRAME_HEAD_BYTES } from '../../src/record/format.js';
import { openLog, type LogEntry } from '../../src/record/reader.js';
import { repairLog } from '../../src/record/repair.js';
import { useTempDir } from './fixtures.js';
import { cutAt, layOut, prefixOf, readLog, writeSampleLog } from './log-bytes.js';

const tmp = useTempDir();

const where = (e: LogEntry) => ({ segment: e.segment, offset: e.offset, length: e.length, record: e.record });

describe('repairLog', () => {
  it('leaves a whole log alone', async () => {
    const dir = join(tmp(), 'log');
    const log = await writeSampleLog(dir);
    expect(await repairLog(dir)).toEqual({ file: null, offset: 0, bytes: 0, deleted: false });
    expect((await readLog(dir)).segments.map((s) => s.bytes)).toEqual(log.segments.map((s) => s.bytes));
  });

  it('cuts a cut tail back to the last whole record: the log then reads whole, with the same records', async () => {
    const dir = join(tmp(), 'log');
    const log = await writeSampleLog(dir);
    const last = log.segments[log.segments.length - 1]!;
    const lastEntry = log.entries[log.entries.length - 1]!;
    writeFileSync(join(dir, last.name), last.bytes.subarray(0, lastEntry.offset + 5));
    expect(await repairLog(dir)).toEqual({ file: join(dir, last.name), offset: lastEntry.offset, bytes: 5, deleted: false });
    expect(statSync(join(dir, last.name)).size).toBe(lastEntry.offset);
    const report = await (await openLog(dir)).verify();
    expect(report.truncated).toBe(0);
    expect(report.records).toBe(log.entries.length - 1);
  });

  it('after ANY cut, repair then read gives the same prefix and nothing dropped', async () => {
    const log = await writeSampleLog(join(tmp(), 'log'));
    const total = log.segments.reduce((n, s) => n + s.bytes.length, 0);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: total }), fc.integer({ min: 0, max: 40 }), async (k, zeros) => {
        const { files, index, offset } = cutAt(log, k);
        const padded = files.map((f, i) => (i === index ? { ...f, bytes: Buffer.concat([f.bytes, Buffer.alloc(zeros)]) } : f));
        const dir = layOut(tmp(), padded);
        const expected = prefixOf(log, index, offset);
        const result = await repairLog(dir);
        expect(result.bytes).toBe(offset + zeros - expected.good);
        expect(result.deleted).toBe(expected.good === 0 && offset + zeros > 0);
        const entries: LogEntry[] = [];
        const it = (await openLog(dir)).records();
        let next = await it.next();
        for (; next.done !== true; next = await it.next()) entries.push(next.value);
        expect(entries.map(where)).toEqual(expected.entries.map(where));
        expect(next.value.truncated).toBe(0);
      }),
      { numRuns: 120 },
    );
  });

  it('cuts the last segment at a damaged record in its middle: the log reads up to the damage', async () => {
    const dir = join(tmp(), 'log');
    const log = await writeSampleLog(dir);
    const lastNumber = log.segments.length;
    const inLast = log.entries.filter((e) => e.segment === lastNumber);
    expect(inLast.length).toBeGreaterThanOrEqual(3);
    const victim = inLast[1]!;
    const bytes = readFileSync(victim.file);
    bytes[victim.offset + FRAME_HEAD_BYTES]! ^= 0x10;
    writeFileSync(victim.file, bytes);
    await expect(openLog(dir).then((o) => o.verify())).rejects.toMatchObject({ code: 'E_RECORD_CORRUPT' });
    const result = await repairLog(dir);
    expect(result).toEqual({ file: victim.file, offset: victim.offset, bytes: bytes.length - victim.offset, deleted: false });
    const after = await readLog(dir);
    expect(after.entries.map(where)).toEqual(log.entries.slice(0, log.entries.indexOf(victim)).map(where));
  });

  it('deletes a last segment with no whole header', async () => {
    const dir = join(tmp(), 'log');
    const log = await writeSampleLog(dir);
    const last = log.segments[log.segments.length - 1]!;
    writeFileSync(join(dir, last.name), last.bytes.subarray(0, 7));
    expect(await repairLog(dir)).toEqual({ file: join(dir, last.name), offset: 0, bytes: 7, deleted: true });
    expect(existsSync(join(dir, last.name))).toBe(false);
    expect((await openLog(dir)).segments).toHaveLength(log.segments.length - 1);
  });

  it('throws for damage before the last segment, or in its header, and changes nothing', async () => {
    const dir = join(tmp(), 'log');
    const log = await writeSampleLog(dir);
    const victim = log.entries[1]!;
    const bytes = readFileSync(victim.file);
    bytes[victim.offset + FRAME_HEAD_BYTES + 1]! ^= 0x01;
    writeFileSync(victim.file, bytes);
    const before = readdirSync(dir).map((n) => readFileSync(join(dir, n)));
    const e = await repairLog(dir).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(LivegradError);
    expect((e as LivegradError).code).toBe('E_RECORD_CORRUPT');
    expect((e as LivegradError).message).toContain(`(in ${victim.file} at byte ${victim.offset})`);
    expect(readdirSync(dir).map((n) => readFileSync(join(dir, n)))).toEqual(before);

    const last = log.segments[log.segments.length - 1]!;
    writeFileSync(victim.file, log.segments[0]!.bytes);
    writeFileSync(join(dir, last.name), Buffer.concat([Buffer.from('not a log'), last.bytes]));
    await expect(repairLog(dir)).rejects.toMatchObject({ code: 'E_RECORD_CORRUPT' });
    expect(statSync(join(dir, last.name)).size).toBe(last.bytes.length + 9);
  });
});
