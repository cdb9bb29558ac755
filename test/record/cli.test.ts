/**
 * `livegrad replay | inspect | repair` (src/cli-record.ts), run as a child process on a small
 * recorded session: what they print is what replayToEnd / openRecording / repairLog say. Each
 * spawn costs about a second, so each test asks one run for several things.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sgd, type Batch, type Mlp, type TrainConfig } from '../../src/index.js';
import { createTrainer, type Trainer } from '../../src/pipeline/trainer/trainer.js';
import { modelFromJSON } from '../../src/nn/serialize.js';
import { EVENTS_CSV_COLUMNS, parseReplay, runRecordCommand, type InspectSummary, type RecordCommand, type ReplaySummary } from '../../src/cli-record.js';
import { createRecorder } from '../../src/record/recorder.js';
import { openRecording, type Recording } from '../../src/record/recording.js';
import { replayToEnd } from '../../src/record/replay.js';
import { defaultThreads } from '../../src/nn/wasm/pool.js';
import { useCli } from '../helpers/cli.js';
import { digits, rows, W2 } from '../helpers/pipeline.js';
import { useTempDir } from './fixtures.js';

const { run } = useCli();
const tmp = useTempDir();

const config: TrainConfig = {
  session: 'cli',
  model: W2,
  loss: 'crossEntropy',
  optimizer: sgd({ lr: 0.5, momentum: 0.9 }),
  batchSize: 32,
  events: { metricsEvery: 5, metricsWindow: 10 },
};

const noop = { accepted: () => undefined, rejected: () => undefined, consumed: () => undefined };
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * Records a session of about 40 steps into `dir`: digits in chunks of odd sizes, an lr change,
 * checkpoints every 10 steps, several segments. With `trained`, the trainer is built from
 * `trained` while the log's header says `config`: a log that a verified replay must refuse.
 */
async function record(dir: string, trained: TrainConfig = config): Promise<void> {
  const recorder = createRecorder(dir, config, { fsync: 'never', checkpointEvery: 10, segmentBytes: 100_000 });
  const trainer: Trainer = createTrainer({ ...trained, journal: recorder.journal });
  recorder.attach(trainer);
  const done = new Promise<void>((resolve, reject) => trainer.events$.subscribe({ complete: resolve, error: reject }));
  trainer.start();
  const d = digits();
  for (let at = 0, i = 0; at < 1200; i++) {
    const m = 37 + (i % 5) * 11;
    const chunk: Batch = rows(d, at, at + m);
    trainer.offer(chunk, noop, { tag: { producer: 1, seq: i } });
    at += m;
    if (i === 6) trainer.control({ action: 'set', lr: 0.2 });
    if (i % 3 === 0) await tick();
  }
  trainer.end();
  await done;
  await recorder.close();
}

/** The hash the CLI prints, computed here on its own: every layer's w then b, little-endian (this machine's order, checked). */
function sha256(m: Mlp): string {
  expect(new Uint8Array(new Uint16Array([1]).buffer)[0]).toBe(1);
  const h = createHash('sha256');
  for (const l of m.layers) {
    h.update(new Uint8Array(l.w.buffer, l.w.byteOffset, l.w.byteLength));
    h.update(new Uint8Array(l.b.buffer, l.b.byteOffset, l.b.byteLength));
  }
  return h.digest('hex');
}

/** Runs the CLI and expects exit 0 and nothing on stderr (not a terminal: no progress bar). */
function ok(args: readonly string[]): string {
  const r = run(args);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout;
}

/** Runs a command in this process, with what it writes to stdout. */
async function inProcess(command: RecordCommand, args: readonly string[]): Promise<{ code: number; stdout: string }> {
  const writes: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    writes.push(String(chunk));
    return true;
  });
  try {
    return { code: await runRecordCommand(command, args), stdout: writes.join('') };
  } finally {
    spy.mockRestore();
  }
}

let shared: string;
let log: string;
let rec: Recording;

beforeAll(async () => {
  shared = mkdtempSync(join(tmpdir(), 'livegrad-cli-'));
  log = join(shared, 'log');
  await record(log);
  rec = await openRecording(log);
  expect(rec.segments.length).toBeGreaterThan(1);
  expect(rec.checkpoints.length).toBeGreaterThan(3);
  expect(rec.ended).toBe('end');
});

afterAll(() => rmSync(shared, { recursive: true, force: true }));

describe('livegrad replay', () => {
  it('--verify --json --out --events .jsonl: the hash, checkpoints, model and events of replayToEnd', async () => {
    const expected = await replayToEnd(rec, { verify: true });
    expect(expected.verified).toBeGreaterThan(2);
    const out = join(tmp(), 'model.json');
    const events = join(tmp(), 'events.jsonl');
    const s = JSON.parse(ok(['replay', log, '--verify', '--json', '--out', out, '--events', events])) as ReplaySummary;
    expect(s).toMatchObject({ session: 'cli', fromStep: 0, steps: expected.steps, stepsReplayed: expected.steps, samples: expected.samples, verified: expected.verified, stoppedBy: 'end', fork: null });
    expect(s.weightsSha256).toBe(sha256(expected.model));
    const model = modelFromJSON(readFileSync(out, 'utf8'));
    model.layers.forEach((l, i) => {
      expect(l.w).toEqual(expected.model.layers[i]!.w);
      expect(l.b).toEqual(expected.model.layers[i]!.b);
    });
    const lines = readFileSync(events, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { type: string; step: number; loss?: number; runningLoss?: number });
    const steps = lines.filter((l) => l.type === 'step');
    expect(steps.map((l) => l.step)).toEqual(Array.from({ length: expected.steps }, (_, i) => i + 1));
    expect(lines.filter((l) => l.type === 'metrics').map((l) => l.step)).toEqual(steps.map((l) => l.step).filter((n) => n % 5 === 0));
    expect(lines.length).toBe(s.events!.lines);
    expect(s.loss).toBe(steps.at(-1)!.loss);
    expect(readdirSync(tmp()).sort()).toEqual(['events.jsonl', 'model.json']); // no temporary file left
  }, 30_000);

  it('--until and --events .csv: stops at that step, a summary for people, one csv row per event', async () => {
    const expected = await replayToEnd(rec, { until: 20 });
    const csv = join(tmp(), 'events.csv');
    const stdout = ok(['replay', log, '--until', '20', '--events', csv]);
    expect(stdout).toContain(`sha256 ${sha256(expected.model)}`);
    expect(stdout).toMatch(/^replayed +20 steps, from the checkpoint at step 0 to step 20$/m);
    expect(stdout).toMatch(/^stopped by +--until$/m);
    const [header, ...body] = readFileSync(csv, 'utf8').trimEnd().split('\n');
    expect(header).toBe('type,step,loss,running_loss,accuracy,lr,samples,batch_size,applied');
    expect(EVENTS_CSV_COLUMNS.join(',')).toBe(header);
    const cells = body.map((l) => l.split(','));
    expect(cells.every((c) => c.length === EVENTS_CSV_COLUMNS.length)).toBe(true);
    expect(cells.filter((c) => c[0] === 'step').map((c) => Number(c[1]))).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(cells.filter((c) => c[0] === 'metrics').map((c) => Number(c[1]))).toEqual([5, 10, 15, 20]);
    const last = cells.filter((c) => c[0] === 'step').at(-1)!;
    expect(Number(last[6])).toBe(expected.samples);
    expect(last[8]).toBe('true');
  }, 30_000);

  it('--at --lr: a fork, with the hash of replayToEnd with the same fork and not the recorded one', async () => {
    const plain = await replayToEnd(rec);
    const forked = await replayToEnd(rec, { at: 15, change: { lr: 0.05 } });
    const s = JSON.parse(ok(['replay', log, '--at', '15', '--lr', '0.05', '--json'])) as ReplaySummary;
    expect(s.fork).toEqual({ at: 15, change: { lr: 0.05 } });
    expect(s.weightsSha256).toBe(sha256(forked.model));
    expect(s.weightsSha256).not.toBe(sha256(plain.model));
  }, 30_000);

  it('--verify rejects with E_REPLAY_DIVERGED for a log the replay does not match, and writes no file (in this process)', async () => {
    const dir = join(tmp(), 'log');
    await record(dir, { ...config, optimizer: sgd({ lr: 0.4, momentum: 0.9 }) }); // trained at 0.4, the header says 0.5
    const out = join(tmp(), 'model.json');
    await expect(inProcess('replay', [dir, '--verify', '--out', out, '--events', join(tmp(), 'e.csv')])).rejects.toMatchObject({
      code: 'E_REPLAY_DIVERGED',
      message: expect.stringMatching(/^Expected the replay to equal the checkpoint at step \d+ .*layers\[\d\]\.[wb]\[\d+\]: recorded/),
    });
    expect(readdirSync(tmp())).toEqual(['log']);
  });

  it('answers a bad flag with exit 2 and the usage, a missing log with exit 1 and what is missing', () => {
    const bad = run(['replay', log, '--verfiy']);
    expect(bad.status).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toContain('livegrad replay: Expected an option of replay (see livegrad replay --help), got --verfiy\n');
    expect(bad.stderr).toContain('Usage: livegrad replay LOG [options]');
    const missing = join(tmp(), 'no-such-log');
    const gone = run(['replay', missing]);
    expect(gone.status).toBe(1);
    expect(gone.stderr).toBe(`livegrad: Expected to find ${missing}, got ENOENT: no such file or directory, stat '${missing}'\n`);
  }, 30_000);
});

describe('livegrad replay arguments', () => {
  it('reads steps as integers, rates as finite numbers ≥ 0, a fork as --at with a change', () => {
    expect(parseReplay([log, '--from', '10', '--until=30', '--verify'])).toMatchObject({ log, options: { from: 10, until: 30, verify: true }, json: false });
    // (the threads: the machine's default unless --threads says; the replay API's own default is 1)
    expect(parseReplay(['--at', '5', '--lr', '1e-3', '--momentum', '0', '--weight-decay', '.5', '--clip-norm', 'off', log]).options).toEqual({ at: 5, change: { lr: 0.001, momentum: 0, weightDecay: 0.5, clipNorm: null }, threads: defaultThreads() });
    expect(parseReplay([log, '--threads', '1']).options).toEqual({ threads: 1 });
    expect(parseReplay([log, '--events', 'e.CSV', '--out', 'm.json']).events).toEqual({ file: 'e.CSV', format: 'csv' });
    expect(parseReplay(['--', '-log-']).log).toBe('-log-');
  });

  it.each([
    [['--until', '1.5'], RangeError, 'Expected --until to be an integer ≥ 0, got "1.5"'],
    [['--from', '-1'], RangeError, 'Expected --from to be an integer ≥ 0, got "-1"'],
    [['--from', ' 1'], RangeError, 'Expected --from to be an integer ≥ 0, got " 1"'],
    [['--at', '1', '--lr', 'NaN'], RangeError, 'Expected --lr to be a finite number ≥ 0, got "NaN"'],
    [['--at', '1', '--lr', '1e999'], RangeError, 'Expected --lr to be a finite number ≥ 0, got "1e999"'],
    [['--at', '1', '--lr', '0x10'], RangeError, 'Expected --lr to be a finite number ≥ 0, got "0x10"'],
    [['--at', '1', '--clip-norm', '0'], RangeError, 'Expected --clip-norm to be a finite number > 0, got "0"'],
    [['--at', '1'], TypeError, 'Expected --at with at least one of --lr, --momentum, --weight-decay, --clip-norm, got none'],
    [['--at', '1', '--lr', '1', '--verify'], TypeError, 'Expected --verify without --at, got both (a fork differs from its log by design)'],
    [['--from', '9', '--until', '3'], RangeError, 'Expected --until ≥ --from, got --from 9 --until 3'],
    [['--events', 'e.txt'], TypeError, 'Expected --events to name a .jsonl or .csv file, got "e.txt"'],
    [['--out', 'a.json', '--out', 'b.json'], TypeError, 'Expected --out once, got it twice'],
    [['--json=yes'], TypeError, 'Expected --json without a value, got --json=yes'],
    [['--lr'], TypeError, 'Expected a value after --lr, got nothing'],
    [['--batch-size', '3'], TypeError, 'Expected an option of replay (see livegrad replay --help), got --batch-size'],
    [['other'], TypeError, 'Expected one LOG (a log directory or segment file), got "log" "other"'],
  ] as const)('refuses %j', (args, type, message) => {
    expect(() => parseReplay(['log', ...args])).toThrow(type);
    expect(() => parseReplay(['log', ...args])).toThrow(message);
  });
});

describe('livegrad inspect and repair', () => {
  it('inspect --json reports what openRecording reports', () => {
    const s = JSON.parse(ok(['inspect', log, '--json'])) as InspectSummary;
    expect(s).toMatchObject({
      session: 'cli',
      format: 1,
      counts: rec.counts,
      records: rec.report.records,
      rows: rec.rows,
      firstStep: rec.firstStep,
      lastStep: rec.lastStep,
      checkpoints: { count: rec.checkpoints.length, steps: rec.checkpoints.map((c) => c.step) },
      segments: { count: rec.segments.length, bytes: rec.report.bytes },
      producers: [{ producer: 1, seq: rec.producers.get(1) }],
      ended: 'end',
      truncated: 0,
      truncatedAt: null,
    });
    expect(s.config).toMatchObject({ dtype: 'float32', inputSize: 64, layers: [{ units: 64, activation: 'sigmoid' }, { units: 10, activation: 'softmax' }], seed: 1, loss: 'crossEntropy', optimizer: { kind: 'sgd', lr: 0.5, momentum: 0.9 }, batchSize: 32 });
  }, 30_000);

  it('repair cuts 5 garbage bytes off the last segment, says so, and inspect then finds the log whole', async () => {
    // (inspect before and repair after in this process: a spawn costs a second)
    const dir = join(tmp(), 'log');
    cpSync(log, dir, { recursive: true });
    const last = rec.segments.at(-1)!;
    const lastFile = join(dir, last.file.slice(log.length + 1));
    const size = readFileSync(lastFile).length;
    appendFileSync(lastFile, Buffer.from([1, 2, 3, 4, 5]));
    const before = await inProcess('inspect', [dir]);
    expect(before.stdout).toMatch(new RegExp(`^integrity +cut tail: 5 bytes at byte ${size} of ${lastFile}`, 'm'));
    expect(ok(['repair', dir])).toBe(`${dir}: cut ${lastFile} at byte ${size}, removed 5 bytes\n`);
    expect(readFileSync(lastFile).length).toBe(size);
    const after = JSON.parse(ok(['inspect', dir, '--json'])) as InspectSummary;
    expect(after).toMatchObject({ truncated: 0, truncatedAt: null, counts: rec.counts });
    // nothing left to cut
    expect(await inProcess('repair', [dir])).toEqual({ code: 0, stdout: `${dir}: whole, nothing to repair\n` });
  }, 30_000);
});
