/**
 * Reads one file front to back in chunks, each in memory of its own that nothing writes again
 * once it is read: the bytes a caller gets are a view into a chunk, valid and unchanged for as
 * long as anyone holds them (a decoded record's bins are views into them, and keep the chunk
 * alive). Bytes that run past the end of the chunk they start in are read again, from their
 * start, into a new chunk of at least their size. While the caller works on one chunk, the next
 * can be on its way (`readAhead`).
 *
 *   file:     |--chunk 1--------|--chunk 2 (read ahead)----|
 *   frames:   |f1|f2|f3   |f4 ...      (f4 does not fit chunk 1: chunk 2 starts at f4)
 *
 * Callers check every length against the file's size (and the record cap) before asking, so
 * nothing is ever allocated for a length the file does not hold.
 *
 * NOTE: a chunk sits in its buffer at the remainder of its file offset mod 8, so bytes 4- or
 * 8-aligned in the file are aligned in memory too: a float array stored there can be a view.
 */
import type { FileHandle } from 'node:fs/promises';
import { LivegradError } from '../errors.js';
import { fsError } from './fs-error.js';

/** The alignment a chunk keeps: its bytes sit at their file offset mod ALIGN in the buffer. */
const ALIGN = 8;

const EMPTY = Buffer.alloc(0);

interface Ahead {
  readonly start: number;
  readonly bytes: Promise<Buffer>;
}

export class ChunkReader {
  /** The file from `start` on; never written once read. */
  private chunk: Buffer = EMPTY;
  /** File offset of chunk[0]. */
  private start = 0;
  /** A chunk being read while the current one is worked on. */
  private ahead: Ahead | undefined;

  /**
   * @param size        bytes of the file when it was opened: nothing past them is read.
   * @param chunkBytes  bytes read at a time (more when one request needs more).
   */
  constructor(
    private readonly handle: FileHandle,
    readonly file: string,
    readonly size: number,
    readonly chunkBytes: number,
  ) {}

  /** The `n` bytes at `offset` when the current chunk holds them, else undefined. */
  buffered(offset: number, n: number): Buffer | undefined {
    const from = offset - this.start;
    if (from < 0 || from + n > this.chunk.length) return undefined;
    return this.chunk.subarray(from, from + n);
  }

  /** The current chunk's bytes from `offset` on (empty when it does not hold `offset`). */
  rest(offset: number): Buffer {
    const from = offset - this.start;
    return from < 0 || from > this.chunk.length ? EMPTY : this.chunk.subarray(from);
  }

  /**
   * The `n` bytes at `offset` (offset + n ≤ size): from the current chunk, else from the one read
   * ahead when it holds them, else from a chunk read now from `offset` on: `n` bytes, or `ahead`
   * (default the chunk size) when that is more, up to the end of the file.
   */
  async view(offset: number, n: number, ahead: number = this.chunkBytes): Promise<Buffer> {
    const have = this.buffered(offset, n);
    if (have !== undefined) return have;
    const next = this.ahead;
    this.ahead = undefined;
    if (next !== undefined) {
      const bytes = await next.bytes;
      if (offset >= next.start && offset + n <= next.start + bytes.length) {
        this.chunk = bytes;
        this.start = next.start;
        return this.chunk.subarray(offset - this.start, offset - this.start + n);
      }
    }
    this.chunk = await this.read(offset, n, ahead);
    this.start = offset;
    return this.chunk.subarray(0, n);
  }

  /**
   * Starts reading the chunk that starts at `offset` (at least `n` bytes, checked by the caller
   * as for `view`; a chunk's worth when that is more, or with `exact` just `n`; up to the end of
   * the file) for the `view` that will ask for it. Nothing when a read ahead is under way, or the
   * current chunk already holds everything from `offset` to the end of the file.
   */
  readAhead(offset: number, n = 0, exact = false): void {
    if (this.ahead !== undefined || offset >= this.size || this.start + this.chunk.length >= this.size) return;
    const bytes = this.read(offset, n, exact ? 0 : this.chunkBytes);
    bytes.catch(() => undefined); // NOTE: a failed read ahead is reported by the view that waits for it, if one does
    this.ahead = { start: offset, bytes };
  }

  /** Waits for a read ahead under way to end, whatever its outcome: call before closing the file. */
  async settle(): Promise<void> {
    const next = this.ahead;
    this.ahead = undefined;
    await next?.bytes.catch(() => undefined);
  }

  /** True when every byte from `offset` to the end is 0 (what a file system leaves of a write a crash cut short). */
  async zerosFrom(offset: number): Promise<boolean> {
    for (let at = offset; at < this.size; ) {
      const n = Math.min(this.chunkBytes, this.size - at);
      const bytes = await this.view(at, n);
      for (let i = 0; i < n; i++) if (bytes[i] !== 0) return false;
      at += n;
    }
    return true;
  }

  /**
   * The file from `position` on in a buffer of its own: `n` bytes, or `ahead` when that is more, up
   * to the end of the file. They sit at `position` mod ALIGN in it, within `ahead` bytes in all
   * unless `n` needs more.
   */
  private async read(position: number, n: number, ahead: number): Promise<Buffer> {
    const pad = position % ALIGN;
    const length = Math.min(Math.max(n, ahead - pad), this.size - position);
    const target = Buffer.allocUnsafeSlow(pad + length);
    let done = 0;
    while (done < length) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await this.handle.read(target, pad + done, length - done, position + done));
      } catch (e) {
        throw fsError('E_RECORD_READ', 'read', this.file, e);
      }
      if (bytesRead === 0) {
        throw new LivegradError('E_RECORD_READ', `Expected ${this.size} bytes in ${this.file}, got the end of the file at byte ${position + done}: it shrank while being read`);
      }
      done += bytesRead;
    }
    return target.subarray(pad);
  }
}
