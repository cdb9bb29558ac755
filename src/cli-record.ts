/**
 * The command line of recorded sessions (docs/recording.md, "The command line"):
 *
 *   livegrad replay LOG [options]   train the log again; print where it ended and a hash of the weights
 *   livegrad inspect LOG [--json]   what the log holds: header, records, checkpoints, integrity
 *   livegrad repair LOG [--json]    cut a torn or damaged tail off the log's last segment
 *
 * Results go to stdout; a progress bar goes to stderr, only when stderr is a terminal. Bad
 * arguments are a TypeError / RangeError: the command's usage and exit 2. Anything else (a
 * LivegradError: damage, divergence, a file that cannot be read) goes on to `main`, which prints
 * its message and exits 1. Files written (`--out`, `--events`) appear whole or not at all.
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { LivegradError } from './errors.js';
import type { Mlp } from './nn/mlp.js';
import type { Optimizer } from './nn/optimizers.js';
import { KERNEL_CHOICES, type KernelChoice } from './nn/step.js';
import { defaultThreads } from './nn/wasm/pool.js';
import { floatsToBytes, modelToJSON } from './nn/serialize.js';
import type { HyperParams } from './pipeline/controls.js';
import type { MetricsEvent, StepEvent, TrainEvent } from './pipeline/events.js';
import { isSpec } from './pipeline/trainer/config.js';
import { openRecording, type Recording } from './record/recording.js';
import { repairLog, type RepairResult } from './record/repair.js';
import { replayToEnd, type ReplayOptions, type ReplayResult } from './record/replay.js';
import { listSegments } from './record/segments.js';
import { createLogger, LOG_LEVELS, type LogLevel } from './server/log.js';
import { checkSpeed, type ReplaySpeed } from './server/replay-session.js';
import { createServer } from './server/server.js';
import { statusLine } from './cli-terminal.js';

export type RecordCommand = 'replay' | 'inspect' | 'repair';

/** The lines `livegrad --help` shows for these commands. */
export const RECORD_USAGE = `Recorded sessions (livegrad <command> --help for each):
  livegrad replay LOG [options]   train a recorded session again; print its end state and weight hash
  livegrad inspect LOG [--json]   what a log holds: header, records, checkpoints, integrity
  livegrad repair LOG [--json]    cut a torn or damaged tail off a log's last segment
`;

const REPLAY_USAGE = `Usage: livegrad replay LOG [options]

Trains a recorded session again from its log (a log directory or one segment file), through the
same trainer, and prints where it ended: steps, samples, the last step's loss, the last metrics
(running loss, accuracy), and the SHA-256 of the final weights: of every layer's w ([nin, nout],
row-major), then its b, layer by layer in order, as little-endian bytes of the model's dtype
(float32 or float64). Two replays that print the same hash ended with the same bits.

Options:
  --verify              hold every input and checkpoint against the replay, bit for bit;
                        exit 1 at the first difference (E_REPLAY_DIVERGED)
  --from <step>         start from the last checkpoint at or before this step
  --until <step>        stop once this many steps are taken
  --at <step>           fork: at this step apply the changes below, then go on with the
                        recorded inputs (give at least one)
    --lr <x>              learning rate, a finite number ≥ 0
    --momentum <x>        SGD momentum, finite ≥ 0
    --weight-decay <x>    finite ≥ 0
    --clip-norm <x|off>   finite > 0, or off
  --kernels <js|wasm>   compute with these kernels instead of the recorded ones: within float32
                        tolerance of the log, not bit for bit (so not with --verify)
  --threads <1|2>       threads for the wasm kernels (default 2 where the machine has two or more
                        CPUs, else 1; never changes a result)
  --out <file.json>     write the final model (JSON, docs/model-format.md)
  --events <file>       write every step and metrics event: <file>.jsonl (JSON lines) or
                        <file>.csv (columns ${'type,step,loss,running_loss,accuracy,lr,samples,batch_size,applied'})
  --json                print the summary as one JSON object
  -h, --help            this text

Serving: play the recording on a livegrad server of its own, as a session named after it that
dashboards and clients subscribe to exactly like a live one (docs/protocol.md, \`replay\`: play,
pause, seek to any step, speed). Logs JSON lines (the first ready one is {"msg":"listening",…});
stops on SIGINT / SIGTERM.
  --serve               serve instead of printing a summary (not with the options above)
  --host <host>         interface to bind (default 127.0.0.1)
  --port <port>         port, 0 for any free one (default 8080)
  --speed <n|max>       steps per second, or max (default max)
  --paused              wait for a replay play message before the first step
  --read-token <token>  token required to list and subscribe (env LIVEGRAD_READ_TOKEN)
  --producer-token <t>  token required to steer it (env LIVEGRAD_PRODUCER_TOKEN)
  --log-level <level>   debug | info | warn | error | silent (default info)
`;

const INSPECT_USAGE = `Usage: livegrad inspect LOG [--json]

Reads a recorded session's log (a directory or one segment file) through once and prints its
header (session, livegrad version, format, config), its records by type, rows, first and last
step, checkpoints, segments and bytes, each producer's last seq, how the session ended
(end, close or none: live or crashed), and the bytes of a cut tail, if any.

Options:
  --json                print it as one JSON object
  -h, --help            this text
`;

const REPAIR_USAGE = `Usage: livegrad repair LOG [--json]

Cuts the last segment of a log back to its last whole record (a crash's torn tail, or damage
there), or deletes a last segment with no whole header, and says what it removed. Damage
anywhere else is left alone and reported (exit 1): cutting there would drop every later segment.
Do not run it on a log that is being written.

Options:
  --json                print what it did as one JSON object
  -h, --help            this text
`;

const USAGES: Readonly<Record<RecordCommand, string>> = { replay: REPLAY_USAGE, inspect: INSPECT_USAGE, repair: REPAIR_USAGE };

/** Runs one of the commands; resolves with the exit code (rejects with what is not a usage error). */
export async function runRecordCommand(command: RecordCommand, argv: readonly string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(USAGES[command]);
    return 0;
  }
  try {
    switch (command) {
      case 'replay':
        return await replayCommand(parseReplay(argv));
      case 'inspect':
        return await inspectCommand(parseArgs('inspect', argv, { '--json': false }));
      case 'repair':
        return await repairCommand(parseArgs('repair', argv, { '--json': false }));
      default: {
        const never: never = command;
        throw new TypeError(`Expected a record command, got ${String(never)}`);
      }
    }
  } catch (e) {
    if (!(e instanceof TypeError || e instanceof RangeError)) throw e;
    process.stderr.write(`livegrad ${command}: ${e.message}\n\n${USAGES[command]}`);
    return 2;
  }
}

// ---------------------------------------------------------------------------------------------
// arguments

interface Args {
  readonly log: string;
  /** Flags given: a value, or true for a flag that takes none. */
  readonly flags: ReadonlyMap<string, string | true>;
}

/**
 * LOG and the flags of `command`: `spec` maps each flag to whether it takes a value. Accepts
 * `--flag value` and `--flag=value`, each flag once, and `--` before a LOG that starts with "-".
 */
function parseArgs(command: string, argv: readonly string[], spec: Readonly<Record<string, boolean>>): Args {
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const takes = Object.hasOwn(spec, flag) ? spec[flag] : undefined;
    if (takes === undefined) throw new TypeError(`Expected an option of ${command} (see livegrad ${command} --help), got ${flag}`);
    if (flags.has(flag)) throw new TypeError(`Expected ${flag} once, got it twice`);
    if (!takes) {
      if (flag !== arg) throw new TypeError(`Expected ${flag} without a value, got ${arg}`);
      flags.set(flag, true);
      continue;
    }
    const value = flag !== arg ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new TypeError(`Expected a value after ${flag}, got nothing`);
    flags.set(flag, value);
  }
  if (positional.length !== 1) throw new TypeError(`Expected one LOG (a log directory or segment file), got ${positional.length === 0 ? 'none' : positional.map((p) => JSON.stringify(p)).join(' ')}`);
  return { log: positional[0]!, flags };
}

/** A step count: decimal digits only, a safe integer. */
function stepArg(s: string, flag: string): number {
  const n = Number(s);
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(n)) throw new RangeError(`Expected ${flag} to be an integer ≥ 0, got ${JSON.stringify(s)}`);
  return n;
}

/** A finite decimal number ≥ 0 (> 0 with `positive`), written plainly: no sign, hex, or whitespace. */
function numberArg(s: string, flag: string, positive = false): number {
  const n = Number(s);
  if (!/^(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i.test(s) || !Number.isFinite(n) || (positive && n === 0)) throw new RangeError(`Expected ${flag} to be a finite number ${positive ? '> 0' : '≥ 0'}, got ${JSON.stringify(s)}`);
  return n;
}

export type EventsFormat = 'jsonl' | 'csv';

export interface ReplayArgs {
  readonly log: string;
  readonly options: ReplayOptions;
  readonly out: string | undefined;
  readonly events: { readonly file: string; readonly format: EventsFormat } | undefined;
  readonly json: boolean;
  /** `--serve`: play it on a server of its own instead. */
  readonly serve: ServeArgs | undefined;
}

export interface ServeArgs {
  readonly host: string;
  readonly port: number;
  readonly speed: ReplaySpeed;
  readonly paused: boolean;
  readonly readToken: string | undefined;
  readonly producerToken: string | undefined;
  readonly level: LogLevel;
}

const REPLAY_FLAGS = {
  '--verify': false,
  '--from': true,
  '--until': true,
  '--at': true,
  '--lr': true,
  '--momentum': true,
  '--weight-decay': true,
  '--clip-norm': true,
  '--kernels': true,
  '--threads': true,
  '--out': true,
  '--events': true,
  '--json': false,
  '--serve': false,
  '--host': true,
  '--port': true,
  '--speed': true,
  '--paused': false,
  '--read-token': true,
  '--producer-token': true,
  '--log-level': true,
} as const;

/** The flags of `replay --serve` (and only they may go with it). */
const SERVE_FLAGS: readonly string[] = ['--serve', '--host', '--port', '--speed', '--paused', '--read-token', '--producer-token', '--log-level'];

/** `livegrad replay`'s arguments → what to replay and where its results go. Throws TypeError / RangeError naming the bad one. */
export function parseReplay(argv: readonly string[]): ReplayArgs {
  const { log, flags } = parseArgs('replay', argv, REPLAY_FLAGS);
  const text = (flag: keyof typeof REPLAY_FLAGS): string | undefined => {
    const v = flags.get(flag);
    return typeof v === 'string' ? v : undefined;
  };
  const step = (flag: '--from' | '--until' | '--at'): number | undefined => {
    const v = text(flag);
    return v === undefined ? undefined : stepArg(v, flag);
  };
  const change: { -readonly [K in keyof Omit<HyperParams, 'batchSize'>]: HyperParams[K] } = {};
  const lr = text('--lr'), momentum = text('--momentum'), weightDecay = text('--weight-decay'), clipNorm = text('--clip-norm');
  if (lr !== undefined) change.lr = numberArg(lr, '--lr');
  if (momentum !== undefined) change.momentum = numberArg(momentum, '--momentum');
  if (weightDecay !== undefined) change.weightDecay = numberArg(weightDecay, '--weight-decay');
  if (clipNorm !== undefined) change.clipNorm = clipNorm === 'off' ? null : numberArg(clipNorm, '--clip-norm', true);
  const from = step('--from'), until = step('--until'), at = step('--at');
  const changes = Object.keys(change).length > 0;
  if (at !== undefined && !changes) throw new TypeError('Expected --at with at least one of --lr, --momentum, --weight-decay, --clip-norm, got none');
  if (at === undefined && changes) throw new TypeError('Expected --at <step> with --lr, --momentum, --weight-decay or --clip-norm (the step of the fork), got none');
  const verify = flags.has('--verify');
  if (verify && at !== undefined) throw new TypeError('Expected --verify without --at, got both (a fork differs from its log by design)');
  if (from !== undefined && until !== undefined && until < from) throw new RangeError(`Expected --until ≥ --from, got --from ${from} --until ${until}`);
  const kernelsText = text('--kernels');
  if (kernelsText !== undefined && !(KERNEL_CHOICES as readonly string[]).includes(kernelsText)) throw new TypeError(`Expected --kernels js or wasm, got ${JSON.stringify(kernelsText)}`);
  const kernels = kernelsText as KernelChoice | undefined;
  // (whether they differ from the recorded ones is known once the log is open: replayToEnd refuses --verify then)
  const threadsText = text('--threads');
  if (threadsText !== undefined && threadsText !== '1' && threadsText !== '2') throw new RangeError(`Expected --threads to be 1 or 2, got ${JSON.stringify(threadsText)}`);
  const out = text('--out');
  const eventsFile = text('--events');
  let events: ReplayArgs['events'];
  if (eventsFile !== undefined) {
    const format = /\.jsonl$|\.ndjson$/i.test(eventsFile) ? 'jsonl' : /\.csv$/i.test(eventsFile) ? 'csv' : undefined;
    if (format === undefined) throw new TypeError(`Expected --events to name a .jsonl or .csv file, got ${JSON.stringify(eventsFile)}`);
    events = { file: eventsFile, format };
  }
  if (out !== undefined && eventsFile !== undefined && resolve(out) === resolve(eventsFile)) throw new TypeError(`Expected --out and --events to name two files, got ${out} for both`);
  const options: ReplayOptions = {
    ...(from === undefined ? {} : { from }),
    ...(until === undefined ? {} : { until }),
    ...(verify ? { verify } : {}),
    ...(at === undefined ? {} : { at, change }),
    ...(kernels === undefined ? {} : { kernels }),
    // (a replay of its own, in this process: both cores where there are two, as a training would use)
    ...(threadsText !== undefined ? { threads: Number(threadsText) } : flags.has('--serve') ? {} : { threads: defaultThreads() }),
  };
  let serve: ServeArgs | undefined;
  if (flags.has('--serve')) {
    const others = [...flags.keys()].filter((f) => !SERVE_FLAGS.includes(f));
    if (others.length > 0) throw new TypeError(`Expected --serve with only ${SERVE_FLAGS.slice(1).join(', ')}, got ${others.join(', ')}`);
    const port = text('--port') ?? '8080';
    if (!/^\d+$/.test(port) || Number(port) > 65535) throw new RangeError(`Expected --port to be an integer in [0, 65535], got ${JSON.stringify(port)}`);
    const speedText = text('--speed') ?? 'max';
    const level = text('--log-level') ?? 'info';
    if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new TypeError(`Expected --log-level one of ${LOG_LEVELS.join(', ')}, got ${level}`);
    serve = {
      host: text('--host') ?? '127.0.0.1',
      port: Number(port),
      speed: checkSpeed(speedText === 'max' ? 'max' : numberArg(speedText, '--speed', true)),
      paused: flags.has('--paused'),
      readToken: text('--read-token') ?? (process.env['LIVEGRAD_READ_TOKEN'] || undefined),
      producerToken: text('--producer-token') ?? (process.env['LIVEGRAD_PRODUCER_TOKEN'] || undefined),
      level: level as LogLevel,
    };
  } else {
    const serveOnly = SERVE_FLAGS.filter((f) => flags.has(f));
    if (serveOnly.length > 0) throw new TypeError(`Expected ${serveOnly.join(', ')} only with --serve, got them without it`);
  }
  return { log, options, out, events, json: flags.has('--json'), serve };
}

/** `replay --serve`: a server playing the recording until SIGINT / SIGTERM; resolves with the exit code. */
async function serveCommand(log: string, a: ServeArgs): Promise<number> {
  const logger = createLogger({ level: a.level });
  // the handlers go in before the server listens: a signal right after `listening` must still be graceful
  let signalled: (s: NodeJS.Signals) => void = () => undefined;
  const signal = new Promise<NodeJS.Signals>((resolve) => (signalled = resolve));
  process.once('SIGINT', signalled);
  process.once('SIGTERM', signalled);
  const server = await createServer({
    host: a.host,
    port: a.port,
    log: logger,
    replays: [{ path: log, speed: a.speed, paused: a.paused }],
    ...(a.readToken === undefined ? {} : { readToken: a.readToken }),
    ...(a.producerToken === undefined ? {} : { producerToken: a.producerToken }),
  });
  logger.info('signal', { signal: await signal });
  await server.close();
  return 0;
}

// ---------------------------------------------------------------------------------------------
// output files

/**
 * A file written whole or not at all: into `<file>.<pid>.tmp` beside it (opened at once, so that
 * a bad path fails before a long replay), renamed over `file` by `commit`, removed by `discard`.
 * Writes are buffered; a write that fails is remembered and thrown by `commit`.
 */
class AtomicFile {
  private readonly tmp: string;
  private fd: number | undefined;
  private buffered: string[] = [];
  private size = 0;
  private failure: Error | undefined;

  constructor(readonly file: string) {
    this.tmp = `${file}.${process.pid}.tmp`;
    try {
      this.fd = openSync(this.tmp, 'w');
    } catch (e) {
      throw writeError(file, e);
    }
  }

  write(text: string): void {
    if (this.failure) return;
    this.buffered.push(text);
    this.size += text.length;
    if (this.size >= 1 << 16) this.flush();
  }

  private flush(): void {
    if (this.buffered.length === 0 || this.failure || this.fd === undefined) return;
    try {
      const bytes = Buffer.from(this.buffered.join(''));
      for (let at = 0; at < bytes.length; ) at += writeSync(this.fd, bytes, at);
    } catch (e) {
      this.failure = writeError(this.file, e);
    }
    this.buffered = [];
    this.size = 0;
  }

  commit(): void {
    this.flush();
    try {
      if (this.failure) throw this.failure;
      fsyncSync(this.fd!);
      closeSync(this.fd!);
      this.fd = undefined;
      renameSync(this.tmp, this.file);
    } catch (e) {
      this.discard();
      throw e === this.failure ? e : writeError(this.file, e);
    }
  }

  discard(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    rmSync(this.tmp, { force: true });
  }
}

function writeError(file: string, cause: unknown): Error {
  return new Error(`Expected to write ${file}, got ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
}

/** The CSV columns of `--events`, in order (docs/recording.md, "The command line"). */
export const EVENTS_CSV_COLUMNS = ['type', 'step', 'loss', 'running_loss', 'accuracy', 'lr', 'samples', 'batch_size', 'applied'] as const;

/** One `--events` line: the event's session-level fields (not the replay's timings: time, durationMs, queueDepth). */
function eventLine(e: StepEvent | MetricsEvent, format: EventsFormat): string {
  const n = (v: number | undefined): string => (v === undefined ? '' : String(v));
  if (format === 'csv') {
    return e.type === 'step'
      ? `step,${e.step},${n(e.loss)},,,${n(e.lr)},${e.samples},${e.batchSize},${e.applied}\n`
      : `metrics,${e.step},,${n(e.runningLoss)},${n(e.accuracy)},,${e.samples},,\n`;
  }
  return `${JSON.stringify(
    e.type === 'step'
      ? { type: e.type, step: e.step, loss: e.loss, lr: e.lr, batchSize: e.batchSize, samples: e.samples, applied: e.applied, dropped: e.dropped, gradNorms: e.gradNorms }
      : { type: e.type, step: e.step, runningLoss: e.runningLoss, accuracy: e.accuracy ?? null, window: e.window, samples: e.samples },
  )}\n`;
}

// ---------------------------------------------------------------------------------------------
// replay

/** SHA-256 (hex) of every layer's w then b, in layer order, as little-endian bytes of the model's dtype. */
export function weightsSha256(model: Mlp): string {
  const h = createHash('sha256');
  for (const l of model.layers) {
    h.update(floatsToBytes(l.w));
    h.update(floatsToBytes(l.b));
  }
  return h.digest('hex');
}

/** What `livegrad replay --json` prints. */
export interface ReplaySummary {
  readonly log: string;
  readonly session: string;
  /** The step of the checkpoint the replay started from, the steps it took, and where it stopped. */
  readonly fromStep: number;
  readonly stepsReplayed: number;
  readonly steps: number;
  readonly samples: number;
  /** The last `step` event's loss and step; null when none was emitted. */
  readonly loss: number | null;
  readonly lossStep: number | null;
  /** The last `metrics` event's; accuracy null for regression. */
  readonly runningLoss: number | null;
  readonly accuracy: number | null;
  readonly metricsStep: number | null;
  /** Checkpoints held against the replay and found equal; null without --verify. */
  readonly verified: number | null;
  /** What stopped the replay: the log's end or close record, --until, or the end of a log that has neither. */
  readonly stoppedBy: 'end' | 'close' | 'until' | 'log';
  readonly fork: { readonly at: number; readonly change: Omit<HyperParams, 'batchSize'> } | null;
  /** The kernels the replay computed with, and those the log states; the threads it computed with. */
  readonly kernels: KernelChoice;
  readonly recordedKernels: KernelChoice;
  readonly threads: number;
  readonly weightsSha256: string;
  readonly out: string | null;
  readonly events: { readonly file: string; readonly format: EventsFormat; readonly lines: number } | null;
}

/** A progress bar on a terminal (a status line): step of target, redrawn at most ten times a second, cleared at the end. */
function progressBar(stream: NodeJS.WriteStream, target: number): { update(step: number): void; clear(): void } {
  const line = statusLine(stream);
  const width = 30;
  return {
    update(step) {
      line.update(() => {
        const done = Number.isFinite(target) && target > 0 ? Math.min(1, step / target) : 0;
        const filled = Math.round(done * width);
        const of = Number.isFinite(target) ? ` / ${target}` : '';
        return `replay [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] step ${step}${of}`;
      });
    },
    clear: () => line.clear(),
  };
}

async function replayCommand(a: ReplayArgs): Promise<number> {
  if (a.serve) return serveCommand(a.log, a.serve);
  const rec = await openRecording(a.log);
  let events: AtomicFile | undefined;
  let out: AtomicFile | undefined;
  let bar: ReturnType<typeof progressBar> | undefined;
  let lastStep: StepEvent | undefined;
  let lastMetrics: MetricsEvent | undefined;
  let lines = 0;
  let result: ReplayResult;
  const discard = (): void => {
    bar?.clear();
    events?.discard();
    out?.discard();
  };
  // a replay stopped by a signal leaves no half-written file behind
  const onSignal = (signal: NodeJS.Signals): void => {
    discard();
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    events = a.events === undefined ? undefined : new AtomicFile(a.events.file);
    out = a.out === undefined ? undefined : new AtomicFile(a.out);
    if (a.events?.format === 'csv') events!.write(`${EVENTS_CSV_COLUMNS.join(',')}\n`);
    bar = process.stderr.isTTY ? progressBar(process.stderr, Math.min(a.options.until ?? Infinity, rec.lastStep)) : undefined;
    result = await replayToEnd(rec, a.options, (e: TrainEvent): void => {
      if (e.type === 'step') lastStep = e;
      else if (e.type === 'metrics') lastMetrics = e;
      else return;
      if (events) {
        events.write(eventLine(e, a.events!.format));
        lines++;
      }
      bar?.update(e.step);
    });
    bar?.clear();
    out?.write(`${JSON.stringify(modelToJSON(result.model))}\n`);
    events?.commit();
    out?.commit();
  } catch (e) {
    discard();
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const until = a.options.until;
  const summary: ReplaySummary = {
    log: rec.path,
    session: result.session,
    fromStep: result.startStep,
    stepsReplayed: result.steps - result.startStep,
    steps: result.steps,
    samples: result.samples,
    loss: lastStep?.loss ?? null,
    lossStep: lastStep?.step ?? null,
    runningLoss: lastMetrics?.runningLoss ?? null,
    accuracy: lastMetrics?.accuracy ?? null,
    metricsStep: lastMetrics?.step ?? null,
    verified: a.options.verify === true ? result.verified : null,
    stoppedBy: until !== undefined && result.steps === until ? 'until' : (result.ended ?? 'log'),
    fork: a.options.at === undefined ? null : { at: a.options.at, change: a.options.change ?? {} },
    kernels: result.kernels,
    recordedKernels: rec.kernels,
    threads: result.threads,
    weightsSha256: weightsSha256(result.model),
    out: a.out ?? null,
    events: a.events === undefined ? null : { ...a.events, lines },
  };
  process.stdout.write(a.json ? `${JSON.stringify(summary)}\n` : formatReplay(summary));
  return 0;
}

/** A number for people: integers as they are, others to 6 significant digits; null as a dash. */
function num(v: number | null): string {
  if (v === null) return '—';
  return Number.isInteger(v) || !Number.isFinite(v) ? String(v) : String(Number(v.toPrecision(6)));
}

/** Aligned "key  value" lines. */
function table(rows: readonly (readonly [string, string] | undefined)[]): string {
  const present = rows.filter((r) => r !== undefined);
  const width = Math.max(...present.map(([k]) => k.length)) + 2;
  return present.map(([k, v]) => `${k.padEnd(width)}${v}\n`).join('');
}

const STOPPED: Readonly<Record<ReplaySummary['stoppedBy'], string>> = {
  end: 'the log’s end record (closed with drain)',
  close: 'the log’s close record',
  until: '--until',
  log: 'the end of the log (no end or close record: a live or crashed session)',
};

const CHANGE_NAMES: Readonly<Record<string, string>> = { lr: 'lr', momentum: 'momentum', weightDecay: 'weight decay', clipNorm: 'clip norm' };

function formatChange(change: Omit<HyperParams, 'batchSize'>): string {
  return Object.entries(change)
    .map(([k, v]) => `${CHANGE_NAMES[k] ?? k} ${v === null ? 'off' : num(v as number)}`)
    .join(', ');
}

function formatReplay(s: ReplaySummary): string {
  return table([
    ['session', s.session],
    ['replayed', `${s.stepsReplayed} steps, from the checkpoint at step ${s.fromStep} to step ${s.steps}`],
    s.fork ? ['fork', `at step ${s.fork.at}: ${formatChange(s.fork.change)}`] : undefined,
    ['samples', String(s.samples)],
    ['loss', s.lossStep === null ? '— (no step taken)' : `${num(s.loss)} (step ${s.lossStep})`],
    ['running loss', s.metricsStep === null ? '— (no metrics event)' : `${num(s.runningLoss)} (step ${s.metricsStep})`],
    ['accuracy', s.metricsStep === null ? '—' : s.accuracy === null ? '— (not a classifier)' : `${num(s.accuracy)} (step ${s.metricsStep})`],
    ['kernels', `${s.kernels === s.recordedKernels ? `${s.kernels}, as recorded` : `${s.kernels} (recorded with ${s.recordedKernels}: within float32 tolerance of the log, not bit for bit)`}; ${s.threads} thread${s.threads === 1 ? '' : 's'}`],
    s.verified === null ? undefined : ['verified', `${s.verified} checkpoint${s.verified === 1 ? '' : 's'}, bit for bit`],
    ['stopped by', STOPPED[s.stoppedBy]],
    ['weights', `sha256 ${s.weightsSha256}`],
    s.out === null ? undefined : ['model', `written to ${s.out}`],
    s.events === null ? undefined : ['events', `${s.events.lines} written to ${s.events.file}`],
  ]);
}

// ---------------------------------------------------------------------------------------------
// inspect

/** What `livegrad inspect --json` prints. */
export interface InspectSummary {
  readonly log: string;
  readonly session: string;
  readonly livegrad: string;
  readonly format: number;
  /** When the first segment was started (ISO 8601). */
  readonly created: string;
  /** The header's `fork` (a replay recorded into a new log: the log and step it forked from), or null. */
  readonly fork: unknown;
  readonly checkpointEvery: unknown;
  readonly config: {
    readonly dtype: string;
    readonly inputSize: number;
    readonly layers: readonly { readonly units: number; readonly activation: string }[];
    /** The spec's seed; null for explicit initial weights. */
    readonly seed: number | null;
    readonly loss: string;
    readonly optimizer: Optimizer;
    readonly clipNorm: number | null;
    readonly batchSize: number;
    /** The kernels the session trained with (`"js"` for a log from before the choice), and its stepper's threads. */
    readonly kernels: KernelChoice;
    readonly threads: number;
    /** The wasm kernels' build (SHA-256 of their module), or null. */
    readonly kernelsBuild: string | null;
  };
  readonly counts: Recording['counts'];
  /** Whole records, checkpoints included (headers not). */
  readonly records: number;
  readonly rows: number;
  readonly firstStep: number;
  readonly lastStep: number;
  readonly checkpoints: { readonly count: number; readonly steps: readonly number[] };
  readonly segments: { readonly count: number; readonly first: string | null; readonly last: string | null; readonly bytes: number };
  readonly producers: readonly { readonly producer: number | string; readonly seq: number }[];
  readonly ended: 'end' | 'close' | null;
  readonly truncated: number;
  readonly truncatedAt: { readonly file: string; readonly offset: number } | null;
}

export function inspectSummary(rec: Recording): InspectSummary {
  const { header, config, shape, report } = rec;
  const model = config.model;
  const created = header.created;
  return {
    log: rec.path,
    session: rec.session,
    livegrad: header.livegrad,
    format: header.format,
    created: typeof created === 'number' && Number.isFinite(created) ? new Date(created).toISOString() : String(created),
    fork: header['fork'] ?? null,
    checkpointEvery: header['checkpointEvery'] ?? null,
    config: {
      dtype: shape.dtype,
      inputSize: shape.inputSize,
      layers: shape.layers.map((l) => ({ units: l.nout, activation: l.activation })),
      seed: isSpec(model) ? (model.seed ?? 0) : null,
      loss: config.loss,
      optimizer: config.optimizer,
      clipNorm: config.clipNorm ?? null,
      batchSize: config.batchSize ?? 32,
      kernels: rec.kernels,
      threads: rec.threads,
      kernelsBuild: rec.kernelsBuild,
    },
    counts: rec.counts,
    records: report.records,
    rows: rec.rows,
    firstStep: rec.firstStep,
    lastStep: rec.lastStep,
    checkpoints: { count: rec.checkpoints.length, steps: rec.checkpoints.map((c) => c.step) },
    segments: { count: rec.segments.length, first: rec.segments[0]?.file ?? null, last: rec.segments.at(-1)?.file ?? null, bytes: report.bytes },
    producers: [...rec.producers].map(([producer, seq]) => ({ producer, seq })),
    ended: rec.ended,
    truncated: report.truncated,
    truncatedAt: report.truncatedAt,
  };
}

/** Steps with repeats counted, the first and last few of a long list: "0 (×20), 10 (×2), 16, … (3 more), 40 (×2), 47". */
function abbreviate(xs: readonly number[]): string {
  const runs: string[] = [];
  for (let i = 0; i < xs.length; ) {
    let j = i + 1;
    while (j < xs.length && xs[j] === xs[i]) j++;
    runs.push(j - i > 1 ? `${xs[i]} (×${j - i})` : String(xs[i]));
    i = j;
  }
  if (runs.length <= 10) return runs.join(', ');
  return `${runs.slice(0, 5).join(', ')}, … (${runs.length - 8} more), ${runs.slice(-3).join(', ')}`;
}

function formatOptimizer(o: Optimizer): string {
  const parts = [`${o.kind}, lr ${num(o.lr)}`];
  if (o.kind === 'sgd') {
    if (o.momentum !== 0) parts.push(`momentum ${num(o.momentum)}`);
    if (o.dampening !== 0) parts.push(`dampening ${num(o.dampening)}`);
    if (o.nesterov) parts.push('nesterov');
  } else {
    parts.push(`betas ${num(o.beta1)} ${num(o.beta2)}`, `eps ${num(o.eps)}`);
  }
  if (o.weightDecay !== 0) parts.push(`weight decay ${num(o.weightDecay)}`);
  if (o.schedule.kind !== 'constant') parts.push(`schedule ${JSON.stringify(o.schedule)}`);
  return parts.join(', ');
}

function formatInspect(s: InspectSummary): string {
  const c = s.config;
  const layers = [String(c.inputSize), ...c.layers.map((l) => `${l.units} ${l.activation}`)].join(' → ');
  const counts = Object.entries(s.counts)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const fork = s.fork as { from?: unknown; at?: unknown } | null;
  return table([
    ['log', s.log],
    ['session', s.session],
    ['written by', `livegrad ${s.livegrad}, format ${s.format}, created ${s.created}`],
    fork === null ? undefined : ['fork of', `${String(fork.from)} at step ${String(fork.at)}`],
    ['model', `${layers} (${c.dtype}${c.seed === null ? ', explicit initial weights' : `, seed ${c.seed}`})`],
    ['loss', c.loss],
    ['optimizer', formatOptimizer(c.optimizer)],
    ['clip norm', c.clipNorm === null ? 'off' : num(c.clipNorm)],
    ['batch size', String(c.batchSize)],
    ['kernels', `${c.kernels}, ${c.threads} thread${c.threads === 1 ? '' : 's'}${c.kernelsBuild === null ? '' : `, build ${c.kernelsBuild.slice(0, 12)}`}`],
    ['records', `${s.records}: ${counts}`],
    ['rows', String(s.rows)],
    ['steps', `${s.firstStep} to ${s.lastStep}`],
    ['checkpoints', s.checkpoints.count === 0 ? 'none' : `${s.checkpoints.count} at step${s.checkpoints.count === 1 ? '' : 's'} ${abbreviate(s.checkpoints.steps)}`],
    ['segments', `${s.segments.count}${s.segments.count === 0 ? '' : ` (${basename(s.segments.first!)}${s.segments.count > 1 ? ` to ${basename(s.segments.last!)}` : ''})`}, ${s.segments.bytes} bytes`],
    ['producers', s.producers.length === 0 ? 'none' : s.producers.map((p) => `${JSON.stringify(p.producer)} seq ${p.seq}`).join(', ')],
    ['ended', s.ended ?? 'none (no end or close record: a live or crashed session)'],
    ['integrity', s.truncatedAt === null ? 'whole' : `cut tail: ${s.truncated} bytes at byte ${s.truncatedAt.offset} of ${s.truncatedAt.file} (livegrad repair removes it)`],
  ]);
}

async function inspectCommand(a: Args): Promise<number> {
  const s = inspectSummary(await openRecording(a.log));
  process.stdout.write(a.flags.has('--json') ? `${JSON.stringify(s)}\n` : formatInspect(s));
  return 0;
}

// ---------------------------------------------------------------------------------------------
// repair

function formatRepair(log: string, r: RepairResult): string {
  if (r.file === null) return `${log}: whole, nothing to repair\n`;
  if (r.deleted) return `${log}: deleted ${r.file} (${r.bytes} bytes, no whole header)\n`;
  return `${log}: cut ${r.file} at byte ${r.offset}, removed ${r.bytes} bytes\n`;
}

async function repairCommand(a: Args): Promise<number> {
  // an empty directory would otherwise read as a whole log
  if ((await listSegments(a.log)).length === 0) throw new LivegradError('E_RECORD_READ', `Expected log segments (000001.lgr, …) in ${resolve(a.log)}, got none`);
  const r = await repairLog(a.log);
  process.stdout.write(a.flags.has('--json') ? `${JSON.stringify({ log: a.log, ...r })}\n` : formatRepair(a.log, r));
  return 0;
}
