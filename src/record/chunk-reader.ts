/**
 * Reads one file front to back through one reused buffer: a record smaller than the buffer is a
 * view into it (or a copy of its own), a larger one is read into a buffer of exactly its size.
 * Callers check every length against the file's size (and the record cap) before asking, so
 * nothing is ever allocated for a length the file does not hold.
 */
import type { FileHandle } from 'node:fs/promises';
import { LivegradError } from '../errors.js';
import { fsError } from './fs-error.js';

export class ChunkReader {
  private readonly buf: Buffer;
  /** File offset of buf[0]. */
  private start = 0;
  /** Bytes of buf that hold the file from `start` on. */
  private filled = 0;

  /**
   * @param size        bytes of the file when it was opened: nothing past them is read.
   * @param chunkBytes  size of the reused buffer.
   */
  constructor(
    private readonly handle: FileHandle,
    readonly file: string,
    readonly size: number,
    chunkBytes: number,
  ) {
    this.buf = Buffer.allocUnsafeSlow(chunkBytes);
  }

  /**
   * The `n` bytes at `offset` (offset + n ≤ size), as a view that the next call may overwrite.
   * When they are not buffered, reads from `offset` on: `n` bytes, or up to `ahead` (at most the
   * buffer) when that is more.
   */
  async view(offset: number, n: number, ahead: number = this.buf.length): Promise<Buffer> {
    if (offset >= this.start && offset + n <= this.start + this.filled) return this.buf.subarray(offset - this.start, offset - this.start + n);
    if (n > this.buf.length) {
      const own = Buffer.allocUnsafe(n);
      await this.readInto(own, 0, n, offset);
      return own;
    }
    // keep what is buffered from `offset` on, read the rest after it
    let keep = 0;
    if (offset >= this.start && offset < this.start + this.filled) {
      keep = this.start + this.filled - offset;
      this.buf.copy(this.buf, 0, offset - this.start, this.filled);
    }
    const want = Math.min(Math.max(n, Math.min(ahead, this.buf.length)), this.size - offset);
    this.start = offset;
    this.filled = keep;
    await this.readInto(this.buf, keep, want - keep, offset + keep);
    this.filled = want;
    return this.buf.subarray(0, n);
  }

  /** The `n` bytes at `offset` in memory of their own (a decoded record's bins are views into it). */
  async copy(offset: number, n: number): Promise<Buffer> {
    if (n > this.buf.length) return this.view(offset, n);
    return Buffer.from(await this.view(offset, n));
  }

  /** True when every byte from `offset` to the end is 0 (what a file system leaves of a write a crash cut short). */
  async zerosFrom(offset: number): Promise<boolean> {
    for (let at = offset; at < this.size; ) {
      const n = Math.min(this.buf.length, this.size - at);
      const bytes = await this.view(at, n);
      for (let i = 0; i < n; i++) if (bytes[i] !== 0) return false;
      at += n;
    }
    return true;
  }

  private async readInto(target: Buffer, at: number, length: number, position: number): Promise<void> {
    let done = 0;
    while (done < length) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await this.handle.read(target, at + done, length - done, position + done));
      } catch (e) {
        throw fsError('E_RECORD_READ', 'read', this.file, e);
      }
      if (bytesRead === 0) {
        throw new LivegradError('E_RECORD_READ', `Expected ${this.size} bytes in ${this.file}, got the end of the file at byte ${position + done}: it shrank while being read`);
      }
      done += bytesRead;
    }
  }
}
