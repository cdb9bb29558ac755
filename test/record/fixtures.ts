/**
 * Shared pieces of the record tests: a temp directory per test (removed after it), a file
 * system seam that counts calls and injects failures, and the resources a process holds.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { nodeLogFs, type LogFileHandle, type LogFs } from '../../src/record/log-fs.js';

/** A fresh directory under os.tmpdir() for each test, removed after it; call the result inside a test. */
export function useTempDir(): () => string {
  let dir: string | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'livegrad-record-'));
  });
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
  return () => {
    if (dir === undefined) throw new Error('useTempDir: only inside a test');
    return dir;
  };
}

/** An error as node:fs gives it. */
export function errno(code: string, syscall: string, path?: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(`${code}: injected, ${syscall}${path === undefined ? '' : ` '${path}'`}`);
  e.code = code;
  e.syscall = syscall;
  return e;
}

export interface Faults {
  /** Called with the 1-based number of each writev (all files): an error to fail it with. */
  readonly write?: (n: number) => Error | undefined;
  /** At most this many bytes per writev (short writes). */
  readonly writeAtMost?: number;
  readonly open?: (path: string, flags: string) => Error | undefined;
  /** Called with the path of the file or directory synced and the 1-based number of the sync. */
  readonly sync?: (path: string, n: number) => Error | undefined;
  readonly unlink?: (path: string) => Error | undefined;
}

export interface ProbedFs {
  readonly fs: LogFs;
  /** Paths synced, in order (a directory's path for a directory). */
  readonly syncs: string[];
  readonly writes: number;
  /** Handles opened and not yet closed. */
  readonly open: number;
}

/** nodeLogFs, counting and failing as `faults` say. */
export function probeFs(faults: Faults = {}): ProbedFs {
  const syncs: string[] = [];
  let writes = 0;
  let open = 0;
  const wrap = (path: string, h: LogFileHandle): LogFileHandle => ({
    async writev(buffers) {
      writes++; // NOTE: not inside faults.write?.(…), whose arguments are skipped when it is undefined
      const err = faults.write?.(writes);
      if (err !== undefined) throw err;
      if (faults.writeAtMost === undefined) return h.writev(buffers);
      const all = Buffer.concat(buffers);
      return h.writev([all.subarray(0, Math.min(all.length, faults.writeAtMost))]);
    },
    async sync() {
      syncs.push(path);
      const err = faults.sync?.(path, syncs.length);
      if (err !== undefined) throw err;
      return h.sync();
    },
    stat: () => h.stat(),
    async close() {
      open--;
      return h.close();
    },
  });
  const fs: LogFs = {
    mkdir: (path, options) => nodeLogFs.mkdir(path, options),
    readdir: (path) => nodeLogFs.readdir(path),
    async open(path, flags) {
      const err = faults.open?.(path, flags);
      if (err !== undefined) throw err;
      const h = await nodeLogFs.open(path, flags);
      open++;
      return wrap(path, h);
    },
    stat: (path) => nodeLogFs.stat(path),
    async unlink(path) {
      const err = faults.unlink?.(path);
      if (err !== undefined) throw err;
      return nodeLogFs.unlink(path);
    },
  };
  return {
    fs,
    syncs,
    get writes() {
      return writes;
    },
    get open() {
      return open;
    },
  };
}

/** Open file descriptors and pending timers of this process (fds: Linux only, else -1). */
export function resources(): { fds: number; timers: number } {
  let fds = -1;
  try {
    fds = readdirSync('/proc/self/fd').length;
  } catch {
    // not Linux: the timers still say something
  }
  return { fds, timers: process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length };
}
