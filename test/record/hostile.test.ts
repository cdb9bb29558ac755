/**
 * Damaged or hostile session logs (src/record/session-records.ts, recording.ts): every record is
 * checked as it is read, so a log whose frames are whole (right lengths, right CRCs) but whose
 * records lie is an E_RECORD_CORRUPT naming the segment file, the byte offset and the field —
 * never a crash, nor an allocation of a size the log claims. The logs here are a valid recording
 * rewritten record by record with the log writer, a few records made hostile on the way.
 */
import { describe, expect, it } from 'vitest';
import { LivegradError, sgd, type TrainConfig } from '../../src/index.js';
import { RESERVED_HEADER_FIELDS, segmentName, type LogRecord } from '../../src/record/format.js';
import { openLog } from '../../src/record/reader.js';
import { createRecordedTrainer } from '../../src/record/recorder.js';
import { openRecording } from '../../src/record/recording.js';
import { replayToEnd } from '../../src/record/replay.js';
import { createLogWriter } from '../../src/record/writer.js';
import { randomChunk, settled, TINY } from '../helpers/pipeline.js';
import { useTempDir } from './fixtures.js';

const config: TrainConfig = {
  session: 'hostile',
  model: TINY,
  loss: 'crossEntropy',
  optimizer: sgd({ lr: 0.3, momentum: 0.9 }),
  batchSize: 4,
  events: { metricsEvery: 2, metricsWindow: 5, gradientsEvery: 0, weightsEvery: 0 },
};

const SEGMENT = segmentName(1);
const noop = { accepted: () => undefined, rejected: (e: LivegradError) => expect.fail(e.message), consumed: () => undefined };
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

type Fields = Record<string, unknown>;
const fields = (v: unknown): Fields => v as Fields;

/** A valid log: its header's own fields (those a writer takes) and its records, the first checkpoint first. */
interface Log {
  readonly header: Fields;
  readonly records: readonly LogRecord[];
}

/** Records a small session (a control, odd chunk sizes, a checkpoint every 3 steps) and reads it back. */
async function validLog(dir: string): Promise<Log> {
  const { trainer, recorder } = createRecordedTrainer(config, dir, { fsync: 'never', checkpointEvery: 3 });
  const done = settled(trainer);
  trainer.start();
  for (let i = 0; i < 4; i++) trainer.offer(randomChunk(10 + i, 7), noop);
  trainer.control({ action: 'set', lr: 0.1 });
  await tick();
  for (let i = 0; i < 3; i++) trainer.offer(randomChunk(20 + i, 5), noop);
  trainer.end();
  await done;
  await recorder.close();
  const rec = await openRecording(dir);
  const header = Object.fromEntries(Object.entries(rec.header).filter(([k]) => !RESERVED_HEADER_FIELDS.includes(k)));
  const records: LogRecord[] = [];
  for await (const e of (await openLog(dir)).records()) records.push(e.record);
  return { header, records };
}

/** Writes `records` as a new log at `dir` (the first as the segment's checkpoint); resolves with every record's byte offset. */
async function writeLog(dir: string, header: Fields, records: readonly LogRecord[]): Promise<number[]> {
  const [first, ...rest] = records;
  const writer = createLogWriter<LogRecord>(dir, { fsync: 'never', header, checkpoint: () => first! });
  const appended = Promise.all(rest.map((r) => writer.append(r)));
  await writer.close();
  await appended;
  const offsets: number[] = [];
  for await (const e of (await openLog(dir)).records()) offsets.push(e.offset);
  return offsets;
}

/** The log with record `i` replaced. */
function replaced(log: Log, i: number, record: Fields): LogRecord[] {
  return log.records.map((r, j) => (j === i ? (record as LogRecord) : r));
}

function indexOf(log: Log, type: string, from = 0): number {
  const i = log.records.findIndex((r, j) => j >= from && r.type === type);
  expect(i, `a ${type} record`).toBeGreaterThanOrEqual(from);
  return i;
}

/** E_RECORD_CORRUPT naming the segment file, the byte offset and the field. */
async function expectCorrupt(p: Promise<unknown>, offset: number, field: string | RegExp): Promise<void> {
  const e = await p.then(
    () => expect.fail('Expected the log to be refused'),
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(LivegradError);
  expect((e as LivegradError).code, (e as Error).message).toBe('E_RECORD_CORRUPT');
  expect((e as LivegradError).message).toContain(`${SEGMENT} at byte ${offset}`);
  if (typeof field === 'string') expect((e as LivegradError).message).toContain(field);
  else expect((e as LivegradError).message).toMatch(field);
}

/** Opens a recording and replays it to the end: what a user of a log does. */
async function openAndReplay(dir: string, from?: number): Promise<unknown> {
  const rec = await openRecording(dir);
  return replayToEnd(rec, from === undefined ? {} : { from });
}

describe('hostile session logs', () => {
  const tmp = useTempDir();

  it('a valid log rewritten record by record stays valid: it opens, and replays with verify (checkpoints that do not start a segment are allowed)', async () => {
    const log = await validLog(`${tmp()}/valid`);
    const dir = `${tmp()}/copy`;
    await writeLog(dir, log.header, log.records);
    const rec = await openRecording(dir);
    expect(rec.segments).toHaveLength(1);
    expect(rec.checkpoints.filter((c) => !c.segmentStart).length).toBeGreaterThan(1);
    expect(rec.ended).toBe('end');
    const result = await replayToEnd(rec, { verify: true });
    expect(result.verified).toBe(rec.counts.checkpoint - 1);
    // and from a checkpoint in the middle, which a replay restores
    const middle = rec.checkpoints.find((c) => !c.segmentStart && c.at === 'step')!;
    expect((await replayToEnd(rec, { from: middle.step, verify: true })).steps).toBe(result.steps);
  });

  it('a checkpoint whose layer w has fewer bytes than the model needs', async () => {
    const log = await validLog(`${tmp()}/valid`);
    // as the segment's first record
    const cp = fields(log.records[0]);
    const layers = cp['layers'] as Fields[];
    const short = { ...cp, layers: [{ ...layers[0], w: (layers[0]!['w'] as Buffer).subarray(0, 8) }, ...layers.slice(1)] };
    const first = `${tmp()}/first`;
    const offsets = await writeLog(first, log.header, replaced(log, 0, short));
    await expectCorrupt(openRecording(first), offsets[0]!, 'checkpoint record.layers[0].w: expected 6 float32 values (24 bytes), got "8 bytes"');
    // and further on
    const i = indexOf(log, 'checkpoint', 1);
    const later = fields(log.records[i]);
    const laterLayers = later['layers'] as Fields[];
    const b = { ...later, layers: [laterLayers[0], { ...laterLayers[1], b: Buffer.alloc(0) }] };
    const mid = `${tmp()}/mid`;
    const at = await writeLog(mid, log.header, replaced(log, i, b));
    await expectCorrupt(openRecording(mid), at[i]!, 'checkpoint record.layers[1].b');
  });

  it('a checkpoint whose tensors claim shape [2^31, 2^31]: refused before anything of that size exists', async () => {
    const log = await validLog(`${tmp()}/valid`);
    const huge = { dtype: 'float32', shape: [2 ** 31, 2 ** 31], data: Buffer.alloc(0) };
    const labels = { dtype: 'float32', shape: [2 ** 31], data: Buffer.alloc(0) };
    const cp = fields(log.records[0]);
    const before = process.memoryUsage().arrayBuffers;
    const held = `${tmp()}/held`;
    const a = await writeLog(held, log.header, replaced(log, 0, { ...cp, held: { x: huge, y: labels } }));
    await expectCorrupt(openRecording(held), a[0]!, 'checkpoint record.held.x.data: expected 4611686018427388000 float32 values');
    const queued = `${tmp()}/queued`;
    const b = await writeLog(queued, log.header, replaced(log, 0, { ...cp, queue: [{ kind: 'batch', x: huge, y: labels }] }));
    await expectCorrupt(openRecording(queued), b[0]!, 'checkpoint record.queue[0].x.data');
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 2 ** 20);
  });

  it('a samples record whose x bytes do not match its shape', async () => {
    const log = await validLog(`${tmp()}/valid`);
    const i = indexOf(log, 'samples');
    const s = fields(log.records[i]);
    const x = fields(s['x']);
    const dir = `${tmp()}/log`;
    const at = await writeLog(dir, log.header, replaced(log, i, { ...s, x: { ...x, data: (x['data'] as Buffer).subarray(4) } }));
    await expectCorrupt(openRecording(dir), at[i]!, 'samples record.x.data: expected 14 float32 values (56 bytes), got "52 bytes"');
  });

  it('a samples record whose rows are not its x rows', async () => {
    const log = await validLog(`${tmp()}/valid`);
    const i = indexOf(log, 'samples');
    const s = fields(log.records[i]);
    const dir = `${tmp()}/log`;
    const at = await writeLog(dir, log.header, replaced(log, i, { ...s, rows: (s['rows'] as number) + 1 }));
    await expectCorrupt(openRecording(dir), at[i]!, 'samples record.x: expected 8 rows, got 7');
  });

  it('a control record with an unknown action', async () => {
    const log = await validLog(`${tmp()}/valid`);
    const i = indexOf(log, 'control');
    const dir = `${tmp()}/log`;
    const at = await writeLog(dir, log.header, replaced(log, i, { ...fields(log.records[i]), control: { action: 'explode' } }));
    await expectCorrupt(openRecording(dir), at[i]!, /control record\.control: expected a control \(Expected control action one of .*got "explode"\)/);
  });

  it('a record of an unknown type', async () => {
    const log = await validLog(`${tmp()}/valid`);
    const i = indexOf(log, 'samples');
    const dir = `${tmp()}/log`;
    const at = await writeLog(dir, log.header, replaced(log, i, { type: 'mystery', step: 0 }));
    await expectCorrupt(openRecording(dir), at[i]!, 'mystery record.type: expected an input record type (samples, control, end, close), got "mystery"');
  });

  it('a header without config', async () => {
    const log = await validLog(`${tmp()}/valid`);
    const { config: _config, ...header } = log.header;
    const dir = `${tmp()}/log`;
    await writeLog(dir, header, log.records);
    await expectCorrupt(openRecording(dir), 10, `expected a session log's header with "config"`);
  });

  it('a config with an unknown loss', async () => {
    const log = await validLog(`${tmp()}/valid`);
    const dir = `${tmp()}/log`;
    await writeLog(dir, { ...log.header, config: { ...fields(log.header['config']), loss: 'hinge' } }, log.records);
    await expectCorrupt(openRecording(dir), 10, `header.config.loss: expected a loss livegrad knows, got "hinge"`);
  });

  it('a segment whose first record is not a checkpoint', async () => {
    const log = await validLog(`${tmp()}/valid`);
    const i = indexOf(log, 'samples');
    const dir = `${tmp()}/log`;
    const at = await writeLog(dir, log.header, [log.records[i]!, ...log.records.slice(1)]);
    await expectCorrupt(openRecording(dir), at[0]!, 'expected a checkpoint as the first record of a segment, got a "samples" record');
  });

  it('a samples record altered, with a right CRC: replay with verify names the step of the first checkpoint that differs', async () => {
    const log = await validLog(`${tmp()}/valid`);
    const i = indexOf(log, 'samples');
    const s = fields(log.records[i]);
    const x = fields(s['x']);
    const data = Buffer.from(x['data'] as Buffer);
    const j = [...Array(data.length / 4).keys()].find((k) => data.readFloatLE(4 * k) !== 0)!;
    data[4 * j + 3]! ^= 0x80; // the sign bit of a float32 (little-endian)
    const dir = `${tmp()}/log`;
    await writeLog(dir, log.header, replaced(log, i, { ...s, x: { ...x, data } }));
    const rec = await openRecording(dir);
    const next = fields(log.records[indexOf(log, 'checkpoint', i + 1)]);
    await expect(replayToEnd(rec, { verify: true })).rejects.toMatchObject({ code: 'E_REPLAY_DIVERGED', message: expect.stringContaining(`Expected the replay to equal the checkpoint at step ${next['step'] as number} (`) });
    // without verify, the altered log replays (to other weights)
    await expect(replayToEnd(rec)).resolves.toMatchObject({ ended: 'end' });
  });

  it('a checkpoint whose metrics window says next 1000 of 5 is damage, named by file, offset and field', async () => {
    const log = await validLog(`${tmp()}/valid`);
    const i = indexOf(log, 'checkpoint', 1);
    const cp = fields(log.records[i]);
    const dir = `${tmp()}/log`;
    const at = await writeLog(dir, log.header, replaced(log, i, { ...cp, window: { ...fields(cp['window']), next: 1000 } }));
    await expectCorrupt(openAndReplay(dir, cp['step'] as number), at[i]!, 'checkpoint record.window.next');
  });

  it('a samples record whose x has another width than the model: the log is damaged (a recorded chunk was admitted)', async () => {
    const log = await validLog(`${tmp()}/valid`);
    // the last chunk, admitted at the step of the end: nothing after it waits for its rows
    const i = log.records.map((r) => r.type).lastIndexOf('samples');
    const s = fields(log.records[i]);
    expect(s['step']).toBe(fields(log.records[indexOf(log, 'end')])['step']);
    const wide = randomChunk(99, s['rows'] as number, 3); // x [5, 3] for a model of 2 inputs: bytes and shape agree
    const x = { dtype: 'float32', shape: wide.x.shape, data: Buffer.from(wide.x.data.buffer) };
    const dir = `${tmp()}/log`;
    const at = await writeLog(dir, log.header, replaced(log, i, { ...s, x }));
    await expectCorrupt(openAndReplay(dir), at[i]!, /samples record: Expected x of shape \[m ≥ 1, 2\], got \[5, 3\]/);
  });
});
