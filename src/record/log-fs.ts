/**
 * The few file system operations the log writer uses: the seam through which tests inject
 * failures (ENOSPC on the fifth write, EACCES on open, a failing fsync). `nodeLogFs`, the
 * default, is node:fs/promises; any object of this shape will do.
 */
import { statSync } from 'node:fs';
import * as fsp from 'node:fs/promises';

/** What identifies a file whatever its name: compared to notice a segment removed or replaced underneath. */
export interface FileIdentity {
  readonly dev: number;
  readonly ino: number;
}

/** An open file: a node:fs/promises FileHandle is one. */
export interface LogFileHandle {
  /** Writes the buffers at the current position, in order; may write fewer bytes than asked (the writer goes on from there). */
  writev(buffers: readonly Buffer[]): Promise<{ readonly bytesWritten: number }>;
  /** fsync(2). */
  sync(): Promise<void>;
  stat(): Promise<FileIdentity>;
  close(): Promise<void>;
}

export interface LogFs {
  /** Creates the directory and its parents; resolves to the first directory it created, undefined when it existed. */
  mkdir(path: string, options: { readonly recursive: true }): Promise<string | undefined>;
  readdir(path: string): Promise<string[]>;
  /** `'wx'`: create a new file for writing, failing when it exists; `'r'`: open for reading (a directory too, to fsync it). */
  open(path: string, flags: 'wx' | 'r'): Promise<LogFileHandle>;
  stat(path: string): Promise<FileIdentity>;
  /**
   * `stat` at once, when it can be: a metadata lookup, which the writer runs after every round on
   * the thread it lives on (a training thread) rather than wait a turn of its loop for it.
   */
  statSync?(path: string): FileIdentity;
  unlink(path: string): Promise<void>;
}

/** The real file system. */
export const nodeLogFs: LogFs = {
  mkdir: (path, options) => fsp.mkdir(path, options),
  readdir: (path) => fsp.readdir(path),
  open: (path, flags) => fsp.open(path, flags),
  stat: (path) => fsp.stat(path),
  statSync: (path) => statSync(path),
  unlink: (path) => fsp.unlink(path),
};
