/**
 * (d)'s child (scripts/bench/record.ts): a script that replays a log with verify, as a user's
 * script would, loading only the replay (not the server, the bench or the rest of the library),
 * and prints what it measured as one JSON line: the scan and replay times, and its RSS at start
 * and at its peak.
 *
 *   node --import tsx scripts/bench/replay-child.ts LOG_DIR
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openRecording } from '../../src/record/recording.js';
import { replayToEnd } from '../../src/record/replay.js';

/** What (d)'s child reports. */
export interface ReplayChildReport {
  readonly bytes: number;
  readonly segments: number;
  readonly records: number;
  readonly samples: number;
  readonly steps: number;
  readonly verified: number;
  /** openRecording's pass over the log (every record read and checked, nothing trained), s. */
  readonly scanSeconds: number;
  /** replayToEnd with verify, s. */
  readonly replaySeconds: number;
  /** RSS once the modules are loaded, before the log is opened. */
  readonly startRssBytes: number;
  /** The largest RSS sampled every 50 ms, and the kernel's high-water mark (VmHWM) at the end. */
  readonly sampledPeakRssBytes: number;
  readonly peakRssBytes: number;
}

/** The peak resident set (VmHWM) in bytes from the text of /proc/<pid>/status; undefined when it has no such line. */
export function vmHwmBytes(status: string): number | undefined {
  const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
  return m === null ? undefined : Number(m[1]) * 1024;
}

/** Replays the log at `dir` with verify and prints a ReplayChildReport as one JSON line. */
async function replayChild(dir: string): Promise<void> {
  let sampled = process.memoryUsage().rss;
  const timer = setInterval(() => {
    sampled = Math.max(sampled, process.memoryUsage().rss);
  }, 50);
  const startRssBytes = process.memoryUsage().rss;
  try {
    const t0 = performance.now();
    const rec = await openRecording(dir);
    const t1 = performance.now();
    const r = await replayToEnd(rec, { verify: true });
    const t2 = performance.now();
    sampled = Math.max(sampled, process.memoryUsage().rss);
    const report: ReplayChildReport = {
      bytes: rec.report.bytes,
      segments: rec.report.segments,
      records: rec.report.records,
      samples: r.samples,
      steps: r.steps,
      verified: r.verified,
      scanSeconds: (t1 - t0) / 1000,
      replaySeconds: (t2 - t1) / 1000,
      startRssBytes,
      sampledPeakRssBytes: sampled,
      peakRssBytes: vmHwmBytes(readFileSync('/proc/self/status', 'utf8')) ?? sampled,
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    clearInterval(timer);
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const dir = process.argv[2];
  if (dir === undefined) throw new TypeError('Expected a log directory: node --import tsx scripts/bench/replay-child.ts LOG_DIR');
  await replayChild(dir);
}
