/**
 * The session log writer: appends records to segment files (format.ts, docs/recording.md) and
 * says when each one is durable.
 *
 *   append:  --r1--r2--r3--------r4--|
 *   disk:    ------[r1 r2 r3]-----[r4]        one writev + one fsync per round ('batch')
 *   result:  ------p1 p2 p3-------p4           each promise resolves with its record's position
 *
 * Records are encoded and given their position synchronously in `append`, in call order, and
 * queued; one pump writes what is queued in rounds (a writev, then an fsync by policy), one round
 * at a time, so records are never interleaved and each promise resolves only when its round is
 * done. What a round covers is all that was queued when it started: appends made while a round
 * is on disk go in the next one (group commit). With `batch`, rounds start at most once per
 * `batchMs`.
 *
 * A segment that has reached `segmentBytes` ends at the next append: that append starts a new
 * segment (header, then the checkpoint `options.checkpoint()` returns, called right there), then
 * its own record. Once a new segment's checkpoint is durable, retention deletes the oldest
 * segments beyond `retainSegments` / `retainBytes`; what remains starts at a checkpoint.
 *
 * Any failure of the file system fails the writer for good: the records of the round and every
 * later append reject with the same LivegradError E_RECORD_WRITE (path and errno), and the file
 * is closed. A rejected append's record may or may not be in the log; a resolved one is.
 */
import { dirname, join, resolve } from 'node:path';
import { LivegradError, describe } from '../errors.js';
import { encodeFrame } from './encode-frame.js';
import { fsError } from './fs-error.js';
import { FORMAT_VERSION, FRAME_HEAD_BYTES, RESERVED_HEADER_FIELDS, SEGMENT_EXTENSION, segmentName, segmentNumber, segmentPrefix, type LogRecord, type LogRecordInput, type RecordPosition } from './format.js';
import { nodeLogFs, type FileIdentity, type LogFileHandle, type LogFs } from './log-fs.js';
import { LIVEGRAD_VERSION } from '../version.js';

/**
 * When an append counts as durable:
 * - `always`: written and fsynced; the round starts at once (a round holds the appends made while
 *   the previous one was on disk);
 * - `batch`: the same, but rounds start at most once per `batchMs`: an append made within
 *   `batchMs` of the last round's start waits for the rest of that window, and goes with every
 *   other append made in it (one writev, one fsync); one made later starts a round at once;
 * - `never`: written to the operating system (survives a crash of the process, not of the machine).
 */
export type FsyncPolicy = 'always' | 'batch' | 'never';

export const FSYNC_POLICIES: readonly FsyncPolicy[] = ['always', 'batch', 'never'];

export interface LogWriterOptions<R extends LogRecordInput> {
  /**
   * The checkpoint each segment starts with, right after its header: called synchronously when
   * the writer is created (segment 1) and inside the `append` that starts a new segment, before
   * that append's record. It must describe the state after every record appended before it, so
   * that a replay can start at any segment. A throw propagates from `createLogWriter` / `append`.
   */
  readonly checkpoint: () => R;
  /** Fields added to every segment's header (the session config, …): plain values, none of type, format, livegrad, segment, created. */
  readonly header?: Readonly<Record<string, unknown>>;
  /** Default `batch`. */
  readonly fsync?: FsyncPolicy;
  /** The `batch` window: at most one round per this many ms, [0, 1000], default 2. */
  readonly batchMs?: number;
  /** A segment that has reached this many bytes ends at the next append. Integer ≥ 1, default 64 MiB. */
  readonly segmentBytes?: number;
  /** Keep at most this many segments (integer ≥ 1, default Infinity). */
  readonly retainSegments?: number;
  /** Keep the newest segments that together hold at most this many bytes, and always the current one (> 0, default Infinity). */
  readonly retainBytes?: number;
  /** The file system (tests inject failures through it); default node:fs/promises. */
  readonly fs?: LogFs;
  /**
   * The number of the first segment this writer starts. Default 1: a new log, in a directory that
   * holds none. Above 1: it continues a log whose segments are all numbered below it (a recovered
   * session: repair the log first; the new segment starts with its own checkpoint). Retention
   * deletes only segments this writer started.
   */
  readonly firstSegment?: number;
  /**
   * When a segment that has reached `segmentBytes` ends: at the next `append` (`'append'`, the
   * default), or only when the owner calls `rollIfFull()` (`'manual'`: a session recorder ends
   * segments between steps, where a checkpoint is the state after a whole step).
   */
  readonly rollover?: 'append' | 'manual';
}

export const DEFAULT_LOG_WRITER_OPTIONS = {
  fsync: 'batch',
  batchMs: 2,
  segmentBytes: 64 * 2 ** 20,
  retainSegments: Infinity,
  retainBytes: Infinity,
  firstSegment: 1,
  rollover: 'append',
} as const satisfies Partial<LogWriterOptions<LogRecordInput>>;

export interface LogWriter<R extends LogRecordInput> {
  /** The log's directory, as an absolute path. */
  readonly dir: string;
  /**
   * Appends one record. It is encoded (copied) before `append` returns, so the caller may reuse
   * its buffers at once. Resolves with its position once it is durable by the fsync policy;
   * rejects with LivegradError E_RECORD_WRITE once the writer has failed or is closed. Throws
   * TypeError / RangeError at once for a record it cannot write (encode-frame.ts).
   */
  append(record: R): Promise<RecordPosition>;
  /**
   * Ends the current segment and starts the next (header, then `checkpoint()`) when it has reached
   * `segmentBytes`; true when it did. What `append` does by itself unless `rollover` is 'manual'.
   */
  rollIfFull(): boolean;
  /** Bytes appended (headers and checkpoints included) whose round has not completed: for back-pressure. */
  readonly pendingBytes: number;
  /**
   * Writes what is queued, closes the file, leaves no timer or handle. Idempotent: every call
   * returns the same promise, which rejects with the writer's E_RECORD_WRITE if it failed.
   */
  close(): Promise<void>;
}

interface Segment {
  readonly number: number;
  readonly file: string;
  /** Bytes given to the segment so far (queued or written). */
  bytes: number;
}

interface Waiter {
  readonly position: RecordPosition;
  readonly resolve: (position: RecordPosition) => void;
  readonly reject: (error: unknown) => void;
}

interface Item {
  readonly segment: Segment;
  readonly frame: Buffer;
  /** The segment's first bytes (prefix and header): writing them creates its file. */
  readonly opens: boolean;
  /** The append waiting for it; none for headers and checkpoints. */
  readonly done: Waiter | undefined;
}

/** Most buffers in one writev (Linux's IOV_MAX is 1024). */
const MAX_IOV = 1024;

/**
 * Frames of at least this many bytes are reused once their round is written: a streamed session
 * appends frames of about the same size again and again (a 512-row W2 chunk: 133 KB), and new
 * memory of that size costs more than the copy into it (page faults, and GC of external memory).
 */
const REUSED_FRAME_BYTES = 16 * 2 ** 10;
/** Memory of frames kept for reuse, at most (the oldest goes first): a few of a large session's chunks, and no large checkpoint for long. */
const SPARE_BYTES = 8 * 2 ** 20;

async function attempt<T>(what: string, path: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (e) {
    throw fsError('E_RECORD_WRITE', what, path, e);
  }
}

type Resolved<R extends LogRecordInput> = Required<Omit<LogWriterOptions<R>, 'header'>> & { readonly header: Readonly<Record<string, unknown>> };

function resolveOptions<R extends LogRecordInput>(options: LogWriterOptions<R>): Resolved<R> {
  if (typeof options !== 'object' || options === null) throw new TypeError(`Expected log writer options with a checkpoint function, got ${describe(options)}`);
  const o = { ...DEFAULT_LOG_WRITER_OPTIONS, fs: nodeLogFs, header: {}, ...options };
  if (typeof o.checkpoint !== 'function') throw new TypeError(`Expected options.checkpoint to be a function returning the checkpoint record, got ${describe(o.checkpoint)}`);
  if (typeof o.header !== 'object' || o.header === null || Array.isArray(o.header)) throw new TypeError(`Expected options.header to be a plain object, got ${describe(o.header)}`);
  const reserved = Object.keys(o.header).filter((k) => RESERVED_HEADER_FIELDS.includes(k));
  if (reserved.length > 0) throw new TypeError(`Expected header fields other than ${RESERVED_HEADER_FIELDS.join(', ')} (the writer sets them), got ${reserved.join(', ')}`);
  if (!FSYNC_POLICIES.includes(o.fsync)) throw new TypeError(`Expected options.fsync to be one of ${FSYNC_POLICIES.join(', ')}, got ${describe(o.fsync)}`);
  if (typeof o.batchMs !== 'number' || !(o.batchMs >= 0 && o.batchMs <= 1000)) throw new RangeError(`Expected options.batchMs in [0, 1000], got ${describe(o.batchMs)}`);
  if (!Number.isSafeInteger(o.segmentBytes) || o.segmentBytes < 1) throw new RangeError(`Expected options.segmentBytes to be an integer ≥ 1, got ${describe(o.segmentBytes)}`);
  if (o.retainSegments !== Infinity && (!Number.isSafeInteger(o.retainSegments) || o.retainSegments < 1)) {
    throw new RangeError(`Expected options.retainSegments to be an integer ≥ 1 or Infinity, got ${describe(o.retainSegments)}`);
  }
  if (o.rollover !== 'append' && o.rollover !== 'manual') throw new TypeError(`Expected options.rollover "append" or "manual", got ${describe(o.rollover)}`);
  if (!Number.isSafeInteger(o.firstSegment) || o.firstSegment < 1) throw new RangeError(`Expected options.firstSegment to be an integer ≥ 1, got ${describe(o.firstSegment)}`);
  if (typeof o.retainBytes !== 'number' || !(o.retainBytes > 0)) throw new RangeError(`Expected options.retainBytes > 0 or Infinity, got ${describe(o.retainBytes)}`);
  const fsOps = ['mkdir', 'readdir', 'open', 'stat', 'unlink'] as const;
  const missing = fsOps.filter((op) => typeof (o.fs as Partial<LogFs> | null)?.[op] !== 'function');
  if (missing.length > 0) throw new TypeError(`Expected options.fs to have the functions ${fsOps.join(', ')}, got one without ${missing.join(', ')}`);
  if (o.fs.statSync !== undefined && typeof o.fs.statSync !== 'function') throw new TypeError(`Expected options.fs.statSync to be a function or absent, got ${describe(o.fs.statSync)}`);
  return o;
}

class SegmentLogWriter<R extends LogRecordInput> implements LogWriter<R> {
  private pending = 0;
  private readonly options: Resolved<R>;
  private readonly fs: LogFs;
  private current: Segment;
  private queue: Item[] = [];
  private failure: unknown = undefined;
  private closing: Promise<void> | undefined;
  private scheduled = false;
  /** When the last round started (performance.now()). */
  private lastRound = -Infinity;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private pump: Promise<void> | undefined;
  private prepared = false;
  private handle: LogFileHandle | undefined;
  private handleSegment: Segment | undefined;
  private identity: FileIdentity | undefined;
  /** Segments whose files exist, oldest first: what retention deletes from. */
  private readonly files: Segment[] = [];
  private released: Promise<void> = Promise.resolve();
  /** The memory of frames this writer allocated (REUSED_FRAME_BYTES or more), and those written and free again. */
  private readonly framed = new WeakSet<ArrayBuffer>();
  private readonly spare: Buffer[] = [];
  private spareBytes = 0;
  readonly dir: string;

  constructor(dir: string, options: LogWriterOptions<R>) {
    if (typeof dir !== 'string' || dir === '') throw new TypeError(`Expected the log directory as a non-empty path, got ${describe(dir)}`);
    this.dir = resolve(dir);
    this.options = resolveOptions(options);
    this.fs = this.options.fs;
    this.current = this.startSegment(this.options.firstSegment);
  }

  append(record: R): Promise<RecordPosition> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closing !== undefined) return Promise.reject(new LivegradError('E_RECORD_WRITE', `Expected an open log writer for ${this.dir}, got one that is closed`));
    const frame = encodeFrame(record, 'record', this.allocate);
    if (this.options.rollover === 'append') this.rollIfFull();
    const segment = this.current;
    const position: RecordPosition = { segment: segment.number, file: segment.file, offset: segment.bytes, length: frame.length - FRAME_HEAD_BYTES };
    return new Promise<RecordPosition>((resolve, reject) => this.enqueue({ segment, frame, opens: false, done: { position, resolve, reject } }));
  }

  rollIfFull(): boolean {
    if (this.failure !== undefined || this.closing !== undefined || this.current.bytes < this.options.segmentBytes) return false;
    this.current = this.startSegment(this.current.number + 1);
    return true;
  }

  get pendingBytes(): number {
    return this.pending;
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /** Queues segment `n`'s header and checkpoint; the checkpoint is asked for first, so a throw changes nothing. */
  private startSegment(n: number): Segment {
    const checkpoint = encodeFrame(this.options.checkpoint(), 'checkpoint', this.allocate);
    const header = encodeFrame({ type: 'header', format: FORMAT_VERSION, livegrad: LIVEGRAD_VERSION, segment: n, created: Date.now(), ...this.options.header }, 'header');
    const segment: Segment = { number: n, file: join(this.dir, segmentName(n)), bytes: 0 };
    this.enqueue({ segment, frame: Buffer.concat([segmentPrefix(), header]), opens: true, done: undefined });
    this.enqueue({ segment, frame: checkpoint, opens: false, done: undefined });
    return segment;
  }

  /** Memory for a frame of `bytes`: a spare frame's when one fits (not more than twice the size), else new. */
  private readonly allocate = (bytes: number): Buffer => {
    if (bytes < REUSED_FRAME_BYTES) return Buffer.allocUnsafe(bytes);
    const spare = this.spare;
    for (let i = spare.length - 1; i >= 0; i--) {
      const b = spare[i]!;
      if (b.length >= bytes && b.length <= 2 * bytes) {
        spare.splice(i, 1);
        this.spareBytes -= b.length;
        return b.subarray(0, bytes);
      }
    }
    const b = Buffer.allocUnsafeSlow(bytes);
    this.framed.add(b.buffer as ArrayBuffer);
    return b;
  };

  /** A round's frames are written: their memory can take the next ones. */
  private reuse(round: readonly Item[]): void {
    for (const { frame } of round) {
      const memory = frame.buffer as ArrayBuffer;
      if (!this.framed.has(memory) || memory.byteLength > SPARE_BYTES) continue;
      this.spare.push(Buffer.from(memory));
      this.spareBytes += memory.byteLength;
      while (this.spareBytes > SPARE_BYTES) this.spareBytes -= this.spare.shift()!.length;
    }
  }

  private enqueue(item: Item): void {
    item.segment.bytes += item.frame.length;
    this.pending += item.frame.length;
    this.queue.push(item);
    this.schedule();
  }

  /**
   * Plans the next round, unless one is running (it plans the next when it ends) or planned.
   * `always` and `never` start it at once (on a microtask, so that the appends of the current
   * synchronous burst go with it); `batch` starts it `batchMs` after the previous round started,
   * or at once when that time has passed: at most one fsync per window, and a lone append in a
   * quiet writer does not wait for a window nobody else will use.
   */
  private schedule(): void {
    if (this.pump !== undefined || this.scheduled || this.queue.length === 0 || this.failure !== undefined) return;
    this.scheduled = true;
    const wait = this.options.fsync === 'batch' && this.closing === undefined ? this.lastRound + this.options.batchMs - performance.now() : 0;
    if (wait > 0) this.timer = setTimeout(this.run, wait);
    else queueMicrotask(this.run);
  }

  private readonly run = (): void => {
    if (!this.scheduled) return;
    this.scheduled = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.lastRound = performance.now();
    this.pump = this.round().finally(() => {
      this.pump = undefined;
      this.schedule();
    });
  };

  /** One round: everything queued, written, durable by policy, resolved. Never rejects: a failure fails the writer. */
  private async round(): Promise<void> {
    const round = this.queue;
    this.queue = [];
    let opened: boolean;
    try {
      opened = await this.commit(round);
    } catch (e) {
      this.fail(e, round);
      return;
    }
    let bytes = 0;
    for (const item of round) {
      bytes += item.frame.length;
      item.done?.resolve(item.done.position);
    }
    this.pending -= bytes;
    this.reuse(round);
    if (opened) {
      try {
        await this.retain();
      } catch (e) {
        this.fail(e, []);
      }
    }
  }

  /** Writes one round and makes it durable by policy; true when it started a segment. */
  private async commit(round: readonly Item[]): Promise<boolean> {
    if (!this.prepared) await this.prepare();
    let opened = false;
    let buffers: Buffer[] = [];
    for (const item of round) {
      if (item.opens) {
        await this.writeAll(buffers);
        buffers = [];
        await this.openSegment(item.segment);
        opened = true;
      }
      buffers.push(item.frame);
    }
    await this.writeAll(buffers);
    // the check that the path still names the file runs while the fsync is under way (at once, with
    // statSync): one wait, not two (a round's appends resolve only once it ends: on a busy training
    // thread every wait is a turn of its loop)
    await Promise.all([this.options.fsync !== 'never' ? this.syncFile() : undefined, this.checkIdentity()]);
    if (opened && this.options.fsync !== 'never') await this.syncDir(this.dir);
    return opened;
  }

  /** Creates the directory (and makes its entry durable) and checks it holds no log yet. */
  private async prepare(): Promise<void> {
    const made = await attempt('create the directory', this.dir, () => this.fs.mkdir(this.dir, { recursive: true }));
    if (made !== undefined && this.options.fsync !== 'never') {
      // each directory created needs its parent synced for its entry to survive a power cut
      for (let d = this.dir; dirname(d) !== d; d = dirname(d)) {
        await this.syncDir(dirname(d));
        if (d === resolve(made)) break;
      }
    }
    const names = await attempt('read the directory', this.dir, () => this.fs.readdir(this.dir));
    const first = this.options.firstSegment;
    const segments = names.filter((name) => name.endsWith(SEGMENT_EXTENSION) && (first === 1 || !((segmentNumber(name) ?? Infinity) < first))).sort();
    if (segments.length > 0) {
      throw new LivegradError('E_RECORD_WRITE', `Expected a directory without log segments at ${this.dir} (a new log needs a directory of its own${first > 1 ? `, and a continued one segments below ${first} only` : ''}), got ${segments.length}: ${segments.slice(0, 3).join(', ')}${segments.length > 3 ? ', …' : ''}`);
    }
    this.prepared = true;
  }

  /** Ends the open segment (durable by policy, checked, closed) and creates the file of `segment`. */
  private async openSegment(segment: Segment): Promise<void> {
    if (this.handle !== undefined) {
      if (this.options.fsync !== 'never') await this.syncFile();
      await this.checkIdentity();
      await this.closeFile();
    }
    const handle = await attempt('create', segment.file, () => this.fs.open(segment.file, 'wx'));
    this.handle = handle;
    this.handleSegment = segment;
    this.files.push(segment);
    this.identity = await attempt('stat', segment.file, () => handle.stat());
  }

  private async writeAll(buffers: Buffer[]): Promise<void> {
    if (buffers.length === 0) return;
    const handle = this.handle!;
    const file = this.handleSegment!.file;
    let i = 0;
    let done = 0; // bytes of buffers[i] already written
    while (i < buffers.length) {
      const batch = buffers.slice(i, i + MAX_IOV);
      if (done > 0) batch[0] = batch[0]!.subarray(done);
      const { bytesWritten } = await attempt('write', file, () => handle.writev(batch));
      if (!(bytesWritten > 0)) throw new LivegradError('E_RECORD_WRITE', `Expected to write ${file}, got ${describe(bytesWritten)} bytes written`);
      // a short write (the disk filling up, a signal) goes on from where it stopped
      let n = bytesWritten + done;
      done = 0;
      while (n > 0 && i < buffers.length) {
        const length = buffers[i]!.length;
        if (n >= length) {
          n -= length;
          i++;
        } else {
          done = n;
          n = 0;
        }
      }
    }
  }

  private syncFile(): Promise<void> {
    const handle = this.handle!;
    return attempt('fsync', this.handleSegment!.file, () => handle.sync());
  }

  private async syncDir(dir: string): Promise<void> {
    if (process.platform === 'win32') return; // NOTE: Windows cannot open a directory to fsync it, nor needs to
    await attempt('fsync the directory', dir, async () => {
      const handle = await this.fs.open(dir, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
  }

  /** Fails when the open segment's path no longer names the file being written (removed or replaced underneath). */
  private async checkIdentity(): Promise<void> {
    const file = this.handleSegment!.file;
    const statSync = this.fs.statSync?.bind(this.fs);
    let now: FileIdentity;
    if (statSync === undefined) now = await attempt('find', file, () => this.fs.stat(file));
    else {
      try {
        now = statSync(file);
      } catch (e) {
        throw fsError('E_RECORD_WRITE', 'find', file, e);
      }
    }
    if (now.ino !== this.identity!.ino || now.dev !== this.identity!.dev) {
      throw new LivegradError('E_RECORD_WRITE', `Expected ${file} to be the segment being written, got another file in its place (replaced underneath)`);
    }
  }

  private async closeFile(): Promise<void> {
    const handle = this.handle!;
    this.handle = undefined;
    await attempt('close', this.handleSegment!.file, () => handle.close());
  }

  /** Deletes the oldest segments beyond the retention limits, never the open one. */
  private async retain(): Promise<void> {
    const { retainSegments, retainBytes } = this.options;
    let total = 0;
    for (const s of this.files) total += s.bytes;
    while (this.files.length > 1 && (this.files.length > retainSegments || total > retainBytes)) {
      const oldest = this.files[0]!;
      try {
        await this.fs.unlink(oldest.file);
      } catch (e) {
        if ((e as { code?: unknown } | null)?.code !== 'ENOENT') throw fsError('E_RECORD_WRITE', 'delete', oldest.file, e); // already gone is what was wanted
      }
      this.files.shift();
      total -= oldest.bytes;
    }
  }

  /** The writer fails for good: every waiting append rejects, the file is closed. */
  private fail(error: unknown, round: readonly Item[]): void {
    this.failure = error;
    this.scheduled = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const item of round) item.done?.reject(error);
    for (const item of this.queue) item.done?.reject(error);
    this.queue = [];
    this.pending = 0;
    const handle = this.handle;
    this.handle = undefined;
    // NOTE: a close that fails after a failed write has nothing to add to the error already given
    if (handle !== undefined) this.released = handle.close().catch(() => undefined);
  }

  private async shutdown(): Promise<void> {
    // rounds until nothing is queued; one waiting for its batch window goes now
    while (this.scheduled || this.pump !== undefined) {
      this.run();
      await this.pump;
    }
    if (this.failure === undefined && this.handle !== undefined) {
      try {
        await this.closeFile();
      } catch (e) {
        this.failure = e;
      }
    }
    await this.released;
    if (this.failure !== undefined) throw this.failure;
  }
}

/**
 * Starts a new log in `dir` (created if needed; it must hold no segments): segment 1's header
 * and checkpoint are queued at once, written by the first round.
 *
 * @typeParam R    the records appended (checkpoints included): any map with a string `type` by
 *                 default; pass a union of record interfaces to have appends checked against it.
 * @param dir      the log's directory, one per session.
 * @param options  `checkpoint` is required; the rest default to DEFAULT_LOG_WRITER_OPTIONS.
 * @example
 * const log = createLogWriter('runs/s1', { checkpoint: () => ({ type: 'checkpoint', step, model }), header: { config } });
 * await log.append({ type: 'samples', seq, x, y });
 * await log.close();
 */
export function createLogWriter<R extends LogRecordInput = LogRecord>(dir: string, options: LogWriterOptions<NoInfer<R>>): LogWriter<R> {
  return new SegmentLogWriter(dir, options);
}
