import { readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LivegradError } from '../../src/errors.js';
import { FRAME_HEAD_BYTES, MAGIC, segmentName, type LogRecordInput } from '../../src/record/format.js';
import { openLog, type LogEntry } from '../../src/record/reader.js';
import { nodeLogFs, type LogFs } from '../../src/record/log-fs.js';
import { createLogWriter, type LogWriterOptions } from '../../src/record/writer.js';
import { errno, probeFs, resources, useTempDir } from './fixtures.js';

const tmp = useTempDir();

interface Rec extends LogRecordInput {
  readonly type: 'sample' | 'checkpoint';
  readonly [field: string]: unknown;
}

async function readAll(dir: string): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const e of (await openLog(dir)).records()) out.push(e);
  return out;
}

async function rejection(p: Promise<unknown>): Promise<LivegradError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(LivegradError);
  return e as LivegradError;
}

/** A writer whose checkpoint says how many samples came before it. */
function counting(dir: string, options: Partial<LogWriterOptions<Rec>> = {}) {
  let samples = 0;
  const log = createLogWriter<Rec>(dir, { checkpoint: () => ({ type: 'checkpoint', samples }), ...options });
  return {
    log,
    append(fields: Record<string, unknown> = {}) {
      const p = log.append({ type: 'sample', i: samples, ...fields });
      samples++;
      return p;
    },
  };
}

describe('createLogWriter', () => {
  it('writes records that read back deep-equal and bit-exact, in order, each resolved with its position', async () => {
    const dir = join(tmp(), 'log');
    const f64 = new Float64Array([NaN, -0, 5e-324, -2.2250738585072014e-308, Infinity, 0.1]);
    const records: Rec[] = [
      { type: 'sample', nan: NaN, negZero: -0, sub: 5e-324, inf: -Infinity, big: 2 ** 53 - 1, neg: -(2 ** 40), f: 0.1 },
      { type: 'sample', bin: Buffer.from(f64.buffer), empty: Buffer.alloc(0), nested: { a: [1, 'two', null, true, { b: [] }] } },
      { type: 'sample', text: 'δ → ∇ 🎉', long: 'x'.repeat(70_000), many: Array.from({ length: 20 }, (_, i) => i * 1.5) },
    ];
    const log = createLogWriter<Rec>(dir, { checkpoint: () => ({ type: 'checkpoint', step: 0 }) });
    const positions = await Promise.all(records.map((r) => log.append(r)));
    await log.close();

    const entries = await readAll(dir);
    expect(entries.map((e) => e.record.type)).toEqual(['checkpoint', 'sample', 'sample', 'sample']);
    const read = entries.slice(1);
    read.forEach((e, i) => {
      expect(e.record).toEqual({ ...records[i] });
      expect({ segment: e.segment, file: e.file, offset: e.offset, length: e.length }).toEqual(positions[i]);
    });
    const first = read[0]!.record as Record<string, number>;
    expect(Object.is(first['negZero'], -0)).toBe(true);
    expect(Number.isNaN(first['nan'])).toBe(true);
    expect(first['sub']).toBe(5e-324);
    const bin = read[1]!.record['bin'] as Uint8Array;
    expect(Buffer.from(bin).equals(Buffer.from(f64.buffer))).toBe(true);
    const back = new Float64Array(new Uint8Array(bin).buffer);
    expect(Object.is(back[1], -0)).toBe(true);
    expect(Number.isNaN(back[0])).toBe(true);
  });

  it('reuses the memory of large frames once written: many records of changing sizes, some in one round, read back as appended', async () => {
    const dir = tmp();
    // writes that take a while, so that appends are made while a round's frames are being written
    const fs: LogFs = {
      ...nodeLogFs,
      async open(path, flags) {
        const h = await nodeLogFs.open(path, flags);
        return { ...h, writev: async (buffers) => (await new Promise((r) => setTimeout(r, 1)), h.writev(buffers)), sync: () => h.sync(), stat: () => h.stat(), close: () => h.close() };
      },
    };
    const log = createLogWriter<Rec>(dir, { fsync: 'never', fs, segmentBytes: 2 ** 20, checkpoint: () => ({ type: 'checkpoint', w: Buffer.alloc(40_000, 9) }) });
    const sizes = [20_000, 20_000, 33_000, 17_000, 60_000, 20_000, 100, 39_000, 40_000, 20_001];
    const appended: Promise<unknown>[] = [];
    for (let i = 0; i < 60; i++) {
      const bin = Buffer.alloc(sizes[i % sizes.length]!, i);
      appended.push(log.append({ type: 'sample', i, bin }));
      bin.fill(255); // the frame was made at once: changing the caller's bytes changes nothing written
      if (i % 3 === 0) await new Promise((r) => setImmediate(r)); // rounds of one record and of several, some under way
      if (i % 7 === 0) await appended.at(-1);
    }
    await Promise.all(appended);
    await log.close();
    const read = (await readAll(dir)).filter((e) => e.record.type === 'sample');
    expect(read.map((e) => e.record['i'])).toEqual(appended.map((_, i) => i));
    read.forEach((e, i) => expect((e.record['bin'] as Buffer).equals(Buffer.alloc(sizes[i % sizes.length]!, i))).toBe(true));
    expect(readdirSync(dir).length).toBeGreaterThan(1);
  });

  it('takes bins as any Uint8Array and gives them back as Buffers of the same bytes', async () => {
    const dir = tmp();
    const log = createLogWriter<Rec>(dir, { checkpoint: () => ({ type: 'checkpoint' }) });
    const bytes = new Uint8Array([0, 1, 254, 255]);
    await log.append({ type: 'sample', bytes, view: bytes.subarray(1, 3) });
    await log.close();
    const record = (await readAll(dir))[1]!.record;
    expect(Buffer.isBuffer(record['bytes'])).toBe(true);
    expect([...(record['bytes'] as Buffer)]).toEqual([0, 1, 254, 255]);
    expect([...(record['view'] as Buffer)]).toEqual([1, 254]);
  });

  it('starts every segment with its header and a checkpoint of the state before it, across rollovers', async () => {
    const dir = tmp();
    const { log, append } = counting(dir, { segmentBytes: 500, header: { session: 's1', config: { lr: 0.1 } } });
    const all = [];
    for (let i = 0; i < 60; i++) {
      all.push(append({ x: Buffer.alloc(i % 7, i) }));
      if (i % 9 === 0) await all[all.length - 1];
    }
    await Promise.all(all);
    await log.close();

    const opened = await openLog(dir);
    expect(opened.segments.length).toBeGreaterThan(4);
    opened.segments.forEach((s, i) => {
      expect(s.number).toBe(i + 1);
      expect(s.file).toBe(join(dir, segmentName(i + 1)));
      expect(s.header).toMatchObject({ type: 'header', format: 1, segment: i + 1, session: 's1', config: { lr: 0.1 } });
      expect(typeof s.header!.livegrad).toBe('string');
      expect(readFileSync(s.file).subarray(0, 8).equals(MAGIC)).toBe(true);
    });
    const entries = await readAll(dir);
    let samples = 0;
    const seenSegments = new Set<number>();
    for (const e of entries) {
      expect(e.checkpoint).toBe(!seenSegments.has(e.segment));
      seenSegments.add(e.segment);
      if (e.checkpoint) expect(e.record).toEqual({ type: 'checkpoint', samples });
      else expect(e.record['i']).toBe(samples++);
    }
    expect(samples).toBe(60);
    // a segment ends at the first append after it reached segmentBytes
    for (const s of opened.segments.slice(0, -1)) {
      const size = statSync(s.file).size;
      expect(size).toBeGreaterThanOrEqual(500);
      const inIt = entries.filter((e) => e.segment === s.number);
      const lastFrame = inIt[inIt.length - 1]!;
      expect(lastFrame.offset).toBeLessThan(500);
      expect(lastFrame.offset + FRAME_HEAD_BYTES + lastFrame.length).toBe(size);
    }
  });

  it("with rollover 'manual', a full segment ends only when rollIfFull() is called, which starts the next with a checkpoint", async () => {
    const dir = join(tmp(), 'log');
    const { log, append } = counting(dir, { segmentBytes: 300, rollover: 'manual' });
    for (let i = 0; i < 20; i++) void append({ pad: 'x'.repeat(40) });
    expect(log.rollIfFull()).toBe(true);
    expect(log.rollIfFull()).toBe(false); // the new segment holds its header and checkpoint only
    await append();
    await log.close();
    expect(readdirSync(dir).sort()).toEqual([segmentName(1), segmentName(2)]);
    const records = await readAll(dir);
    expect(records.filter((r) => r.checkpoint).map((r) => r.record['samples'])).toEqual([0, 20]);
    expect(records.at(-1)!.record['i']).toBe(20);
    expect(() => createLogWriter(join(tmp(), 'other'), { checkpoint: () => ({ type: 'c' }), rollover: 'never' as 'manual' })).toThrow(/rollover "append" or "manual"/);
  });

  it('retention keeps at most retainSegments segments, and what remains reads from a checkpoint', async () => {
    const dir = tmp();
    const { log, append } = counting(dir, { segmentBytes: 300, retainSegments: 3 });
    for (let i = 0; i < 80; i++) await append({ x: Buffer.alloc(20, i) });
    await log.close();
    const names = readdirSync(dir).sort();
    expect(names).toHaveLength(3);
    const first = Number(names[0]!.slice(0, 6));
    expect(first).toBeGreaterThan(3);
    expect(names).toEqual([segmentName(first), segmentName(first + 1), segmentName(first + 2)]);
    const entries = await readAll(dir);
    expect(entries[0]!.checkpoint).toBe(true);
    let samples = entries[0]!.record['samples'] as number;
    for (const e of entries.slice(1)) if (!e.checkpoint) expect(e.record['i']).toBe(samples++);
    expect(samples).toBe(80);
  });

  it('retention by bytes keeps the newest segments within retainBytes, and always the current one', async () => {
    const dir = tmp();
    const { log, append } = counting(dir, { segmentBytes: 400, retainBytes: 1000 });
    for (let i = 0; i < 50; i++) await append({ x: Buffer.alloc(30, i) });
    await log.close();
    const sizes = readdirSync(dir).map((n) => statSync(join(dir, n)).size);
    // checked when a segment starts; the current one grows on to segmentBytes and one record more
    expect(sizes.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1000 + 400 + 100);
    expect(sizes.length).toBeGreaterThanOrEqual(1);
    const entries = await readAll(dir);
    expect(entries[0]!.checkpoint).toBe(true);
    expect(entries[entries.length - 1]!.record['i']).toBe(49);

    const tiny = join(tmp(), 'tiny');
    const t = counting(tiny, { segmentBytes: 100, retainBytes: 1 });
    for (let i = 0; i < 10; i++) await t.append({ x: Buffer.alloc(50) });
    await t.log.close();
    expect(readdirSync(tiny)).toHaveLength(1);
    expect((await readAll(tiny))[0]!.checkpoint).toBe(true);
  });

  it('close() writes what waits in the batch window, is idempotent, and leaves no timer or file open', async () => {
    const before = resources();
    const dir = tmp();
    const { log, append } = counting(dir, { batchMs: 1000 });
    await append(); // the first round; the next waits for the end of its window
    const pending = [append(), append(), append()];
    expect(log.pendingBytes).toBeGreaterThan(0);
    const t0 = Date.now();
    const closed = log.close();
    expect(log.close()).toBe(closed);
    await closed;
    await Promise.all(pending);
    expect(Date.now() - t0).toBeLessThan(900);
    expect(log.pendingBytes).toBe(0);
    // nothing left open: no more files or timers than before (one of the process's own may have ended meanwhile)
    const left = resources();
    expect(left.fds).toBeLessThanOrEqual(before.fds);
    expect(left.timers).toBeLessThanOrEqual(before.timers);
    expect((await readAll(dir)).map((e) => e.record.type)).toEqual(['checkpoint', 'sample', 'sample', 'sample', 'sample']);
    const after = await rejection(log.append({ type: 'sample' }));
    expect(after.code).toBe('E_RECORD_WRITE');
    expect(after.message).toContain('closed');
  });

  it('a writer closed at once leaves a log of a header and a checkpoint', async () => {
    const dir = tmp();
    await createLogWriter(dir, { checkpoint: () => ({ type: 'checkpoint', step: 0 }) }).close();
    const entries = await readAll(dir);
    expect(entries.map((e) => [e.record, e.checkpoint])).toEqual([[{ type: 'checkpoint', step: 0 }, true]]);
  });

  it('throws TypeError / RangeError at once for bad options, and for a record it cannot write without changing the log', async () => {
    const dir = tmp();
    const checkpoint = () => ({ type: 'checkpoint' });
    expect(() => createLogWriter(dir, { checkpoint: undefined as unknown as () => Rec })).toThrow(/Expected options.checkpoint to be a function/);
    expect(() => createLogWriter(dir, { checkpoint, header: { segment: 3 } })).toThrow(/Expected header fields other than .* got segment/);
    expect(() => createLogWriter(dir, { checkpoint, fsync: 'sometimes' as 'never' })).toThrow(TypeError);
    expect(() => createLogWriter(dir, { checkpoint, batchMs: -1 })).toThrow(RangeError);
    expect(() => createLogWriter(dir, { checkpoint, segmentBytes: 0 })).toThrow(RangeError);
    expect(() => createLogWriter(dir, { checkpoint, retainSegments: 0 })).toThrow(RangeError);
    expect(() => createLogWriter(dir, { checkpoint, retainBytes: 0 })).toThrow(RangeError);
    expect(() => createLogWriter('', { checkpoint })).toThrow(TypeError);
    expect(() => createLogWriter(dir, { checkpoint: () => ({ type: 'checkpoint', at: new Date() }) })).toThrow(/checkpoint\.at, got a Date/);
    expect(() => createLogWriter(dir, { checkpoint, header: { when: undefined } })).toThrow(/header\.when, got undefined/);

    const log = createLogWriter<LogRecordInput>(dir, { checkpoint });
    expect(() => log.append({ type: 'sample', x: new Float64Array(2) } as LogRecordInput)).toThrow(/record\.x, got a Float64Array/);
    expect(() => log.append({ kind: 'sample' } as unknown as LogRecordInput)).toThrow(/Expected the record's type to be a string, got undefined/);
    await log.append({ type: 'sample', ok: true } as LogRecordInput);
    await log.close();
    expect((await readAll(dir)).map((e) => e.record)).toEqual([{ type: 'checkpoint' }, { type: 'sample', ok: true }]);
  });

  it('a checkpoint callback that throws at a rollover throws from append, and the next append rolls over', async () => {
    const dir = tmp();
    let fail = false;
    const log = createLogWriter<Rec>(dir, {
      segmentBytes: 1,
      checkpoint: () => {
        if (fail) throw new Error('no state now');
        return { type: 'checkpoint' };
      },
    });
    await log.append({ type: 'sample', i: 0 });
    fail = true;
    expect(() => log.append({ type: 'sample', i: 1 })).toThrow('no state now');
    fail = false;
    await log.append({ type: 'sample', i: 2 });
    await log.close();
    // segment 1 reached segmentBytes with its header and checkpoint: each append starts a segment
    expect((await readAll(dir)).map((e) => [e.segment, e.record.type, e.record['i']])).toEqual([
      [1, 'checkpoint', undefined],
      [2, 'checkpoint', undefined],
      [2, 'sample', 0],
      [3, 'checkpoint', undefined],
      [3, 'sample', 2],
    ]);
  });

  it('refuses a directory that already holds a log', async () => {
    const dir = tmp();
    writeFileSync(join(dir, '000001.lgr'), 'old');
    const log = createLogWriter(dir, { checkpoint: () => ({ type: 'checkpoint' }) });
    const e = await rejection(log.append({ type: 'sample' }));
    expect(e.code).toBe('E_RECORD_WRITE');
    expect(e.message).toContain(dir);
    expect(e.message).toContain('000001.lgr');
    expect(await rejection(log.close())).toBe(e);
    expect(readFileSync(join(dir, '000001.lgr'), 'utf8')).toBe('old');
  });

  it('creates the directory and its parents', async () => {
    const dir = join(tmp(), 'a', 'b', 'log');
    const probe = probeFs();
    const log = createLogWriter(dir, { checkpoint: () => ({ type: 'checkpoint' }), fs: probe.fs, fsync: 'always' });
    await log.close();
    expect(readdirSync(dir)).toEqual(['000001.lgr']);
    // each new directory's entry is made durable in its parent
    expect(probe.syncs).toEqual([join(tmp(), 'a', 'b'), join(tmp(), 'a'), tmp(), join(dir, '000001.lgr'), dir]);
  });
});

describe('createLogWriter: fsync policies', () => {
  const file = (dir: string, n = 1) => join(dir, segmentName(n));

  it("'always' fsyncs once per round: each awaited append is a round of its own", async () => {
    const dir = tmp();
    const probe = probeFs();
    const { log, append } = counting(dir, { fsync: 'always', fs: probe.fs });
    for (let i = 0; i < 5; i++) {
      await append();
      expect(probe.syncs.filter((p) => p === file(dir))).toHaveLength(i + 1);
    }
    await log.close();
    expect(probe.syncs).toEqual([file(dir), dir, file(dir), file(dir), file(dir), file(dir)]);
  });

  it("'always' starts a round at once, and appends made while one is on disk share the next", async () => {
    const dir = tmp();
    const probe = probeFs();
    const { log, append } = counting(dir, { fsync: 'always', fs: probe.fs });
    const first = append();
    await new Promise((r) => setImmediate(r)); // the first round is under way
    const rest = Array.from({ length: 10 }, () => append());
    await Promise.all([first, ...rest]);
    await log.close();
    expect(probe.syncs.filter((p) => p === file(dir))).toHaveLength(2);
  });

  it("'batch' groups the appends made within a window of the last round into one write and one fsync", async () => {
    const dir = tmp();
    const probe = probeFs();
    const { log, append } = counting(dir, { fsync: 'batch', batchMs: 300, fs: probe.fs });
    const t0 = performance.now();
    await append(); // a quiet writer: the round starts at once
    expect(probe.writes).toBe(1);
    expect(probe.syncs).toEqual([file(dir), dir]);
    const waiting: Promise<unknown>[] = [];
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setImmediate(r));
      waiting.push(append());
    }
    const settled: number[] = [];
    waiting.forEach((p, i) => void p.then(() => settled.push(i)));
    await Promise.all(waiting);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(295); // they waited for the window
    expect(settled).toEqual([...Array(10).keys()]);
    expect(probe.writes).toBe(2);
    expect(probe.syncs.filter((p) => p === file(dir))).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 310));
    const t1 = performance.now();
    await append(); // the window has passed: at once again
    expect(performance.now() - t1).toBeLessThan(250);
    expect(probe.writes).toBe(3);
    await log.close();
    expect(await readAll(dir)).toHaveLength(13);
  });

  it("'batch' resolves an append only after the fsync that covers it", async () => {
    const dir = tmp();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const probe = probeFs();
    const slowSync = { ...probe.fs, open: async (path: string, flags: 'wx' | 'r') => {
      const h = await probe.fs.open(path, flags);
      return { ...h, writev: h.writev, stat: h.stat, close: h.close, sync: async () => { await gate; return h.sync(); } };
    } };
    const { log, append } = counting(dir, { fsync: 'batch', batchMs: 0, fs: slowSync });
    let done = false;
    const p = append().then(() => (done = true));
    await new Promise((r) => setTimeout(r, 30));
    expect(done).toBe(false);
    release();
    await p;
    expect(done).toBe(true);
    await log.close();
  });

  it("'never' resolves once written, and never fsyncs, not even at close", async () => {
    const dir = join(tmp(), 'log');
    const probe = probeFs();
    const { log, append } = counting(dir, { fsync: 'never', fs: probe.fs });
    for (let i = 0; i < 5; i++) await append();
    await Promise.all([append(), append()]);
    await log.close();
    expect(probe.syncs).toEqual([]);
    expect(probe.writes).toBe(6);
    expect(await readAll(dir)).toHaveLength(8);
  });

  it('fsyncs the old segment before the new one is written, and the directory after a segment is created', async () => {
    const dir = tmp();
    const probe = probeFs();
    const { log, append } = counting(dir, { fsync: 'always', segmentBytes: 150, fs: probe.fs });
    await append({ x: Buffer.alloc(30) });
    await append({ x: Buffer.alloc(30) }); // segment 1 has reached 150 bytes: this one starts segment 2
    await log.close();
    expect(probe.syncs).toEqual([file(dir, 1), dir, file(dir, 1), file(dir, 2), dir]);
  });
});

describe('createLogWriter: write failures', () => {
  it('ENOSPC on the 5th write rejects that append and every later one with E_RECORD_WRITE naming the path', async () => {
    const dir = tmp();
    const probe = probeFs({ write: (n) => (n === 5 ? errno('ENOSPC', 'write') : undefined) });
    const { log, append } = counting(dir, { fsync: 'always', fs: probe.fs });
    for (let i = 0; i < 4; i++) await append();
    const e = await rejection(append());
    expect(e.code).toBe('E_RECORD_WRITE');
    expect(e.message).toContain(join(dir, '000001.lgr'));
    expect(e.message).toContain('ENOSPC');
    expect((e.cause as NodeJS.ErrnoException).code).toBe('ENOSPC');
    expect(await rejection(append())).toBe(e);
    expect(log.pendingBytes).toBe(0);
    expect(await rejection(log.close())).toBe(e);
    expect(probe.open).toBe(0);
    // what was reported durable is in the log
    expect((await readAll(dir)).map((x) => x.record['i'])).toEqual([undefined, 0, 1, 2, 3]);
  });

  it('rejects every append of the failed round and those queued behind it', async () => {
    const dir = tmp();
    const probe = probeFs({ write: (n) => (n === 2 ? errno('EIO', 'write') : undefined) });
    const { log, append } = counting(dir, { fsync: 'batch', batchMs: 5, fs: probe.fs });
    await append();
    const round = [append(), append(), append()];
    const errors = await Promise.all(round.map(rejection));
    expect(new Set(errors).size).toBe(1);
    expect(errors[0]!.message).toContain('EIO');
    await expect(log.close()).rejects.toBe(errors[0]);
  });

  it('EACCES on open rejects the first append, naming the segment file', async () => {
    const dir = tmp();
    const probe = probeFs({ open: (path) => (path.endsWith('.lgr') ? errno('EACCES', 'open', path) : undefined) });
    const { log, append } = counting(dir, { fs: probe.fs });
    const e = await rejection(append());
    expect(e.code).toBe('E_RECORD_WRITE');
    expect(e.message).toMatch(new RegExp(`^Expected to create ${join(dir, '000001.lgr').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, got EACCES`));
    expect(await rejection(append())).toBe(e);
    await expect(log.close()).rejects.toBe(e);
  });

  it('a failed fsync fails the writer: the append is not reported durable', async () => {
    const dir = tmp();
    const probe = probeFs({ sync: (path, n) => (n === 3 ? errno('EIO', 'fsync', path) : undefined) });
    const { log, append } = counting(dir, { fsync: 'always', fs: probe.fs });
    await append();
    const e = await rejection(append());
    expect(e.message).toMatch(/^Expected to fsync .*000001\.lgr, got EIO/);
    expect(await rejection(append())).toBe(e);
    await expect(log.close()).rejects.toBe(e);
    expect(probe.open).toBe(0);
  });

  it('a segment removed underneath fails the next append instead of writing into a deleted file', async () => {
    const dir = tmp();
    const { log, append } = counting(dir, { fsync: 'never' });
    await append();
    unlinkSync(join(dir, '000001.lgr'));
    const e = await rejection(append());
    expect(e.code).toBe('E_RECORD_WRITE');
    expect(e.message).toContain(join(dir, '000001.lgr'));
    expect(e.message).toContain('ENOENT');
    await expect(log.close()).rejects.toBe(e);
  });

  it.each([
    ['', false],
    [', also through a file system without statSync', true],
  ] as const)('a segment replaced underneath fails the next append%s', async (_, withoutStat) => {
    const dir = tmp();
    const fs = withoutStat ? probeFs().fs : undefined;
    if (fs) expect(fs.statSync).toBeUndefined();
    const { log, append } = counting(dir, fs ? { fs } : {});
    await append();
    unlinkSync(join(dir, '000001.lgr'));
    writeFileSync(join(dir, '000001.lgr'), 'someone else');
    const e = await rejection(append());
    expect(e.message).toMatch(/000001\.lgr to be the segment being written, got another file in its place/);
    await expect(log.close()).rejects.toBe(e);
  });

  it('the directory removed underneath fails the next rollover', async () => {
    const dir = join(tmp(), 'log');
    const { log, append } = counting(dir, { segmentBytes: 1 });
    await append();
    rmSync(dir, { recursive: true });
    const e = await rejection(append());
    expect(e.code).toBe('E_RECORD_WRITE');
    await expect(log.close()).rejects.toBe(e);
  });

  it('short writes go on where they stopped', async () => {
    const dir = tmp();
    const probe = probeFs({ writeAtMost: 7 });
    const { log, append } = counting(dir, { fs: probe.fs });
    await Promise.all(Array.from({ length: 10 }, (_, i) => append({ x: Buffer.alloc(i * 3, i) })));
    await log.close();
    expect(probe.writes).toBeGreaterThan(20);
    const entries = await readAll(dir);
    expect(entries.slice(1).map((e) => (e.record['x'] as Buffer).length)).toEqual([...Array(10).keys()].map((i) => i * 3));
  });

  it('a write that makes no progress fails instead of spinning', async () => {
    const dir = tmp();
    const probe = probeFs();
    const stuck = { ...probe.fs, open: async (path: string, flags: 'wx' | 'r') => ({ ...(await probe.fs.open(path, flags)), writev: async () => ({ bytesWritten: 0 }) }) };
    const { log, append } = counting(dir, { fs: stuck });
    const e = await rejection(append());
    expect(e.message).toMatch(/got 0 bytes written/);
    await expect(log.close()).rejects.toBe(e);
  });

  it('a retention delete that fails fails the writer; one already gone does not', async () => {
    const dir = tmp();
    const probe = probeFs({ unlink: (path) => (path.endsWith('000002.lgr') ? errno('EACCES', 'unlink', path) : undefined) });
    // segmentBytes 1: every append starts a segment (the first append, segment 2)
    const { log, append } = counting(dir, { segmentBytes: 1, retainSegments: 2, fs: probe.fs });
    await append();
    unlinkSync(join(dir, '000001.lgr')); // gone before retention gets to it
    await append(); // segment 3: deleting 1 finds it gone
    expect(readdirSync(dir).sort()).toEqual(['000002.lgr', '000003.lgr']);
    await append(); // segment 4: deleting 2 fails, after this append is durable
    const e = await rejection(append());
    expect(e.message).toMatch(/^Expected to delete .*000002\.lgr, got EACCES/);
    await expect(log.close()).rejects.toBe(e);
  });
});
