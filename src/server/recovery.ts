/**
 * Restart is recovery: a server started on a record directory (`livegrad serve --record DIR`)
 * brings back every session whose log is not finished — a server that stopped (its sessions'
 * logs end with a checkpoint of the state then) or died (kill -9, a power cut: the logs end at
 * their last durable record) — exactly as it was after its last record: the log is repaired (a
 * torn tail cut), replayed from its last checkpoint, and the session goes on from that state,
 * queued rows included, writing on in a new segment of the same log.
 */
import { readdirSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { TrainerCheckpoint } from '../pipeline/trainer/checkpoint.js';
import type { TrainConfig } from '../pipeline/trainer/config.js';
import { SEGMENT_EXTENSION } from '../record/format.js';
import { openRecording } from '../record/recording.js';
import { repairLog } from '../record/repair.js';
import { replayToEnd } from '../record/replay.js';
import type { Logger } from './log.js';

/** True when `dir` holds log segments. */
export function holdsLog(dir: string): boolean {
  try {
    return readdirSync(dir).some((n) => n.endsWith(SEGMENT_EXTENSION));
  } catch {
    return false;
  }
}

export interface RecoveredSession {
  readonly dir: string;
  readonly config: TrainConfig;
  readonly queueCapacity: number;
  readonly state: TrainerCheckpoint;
  /** Named producers' last seq in the log. */
  readonly producers: ReadonlyMap<string, number>;
  /** The number the continued log's next segment gets. */
  readonly nextSegment: number;
}

/**
 * The sessions of `root` to bring back (creating `root` if needed). A log that cannot be
 * recovered (damage before its last segment, a config this livegrad cannot build) is logged and
 * left as it is; the server starts without it.
 */
export async function findRecoverable(root: string, log: Logger): Promise<RecoveredSession[]> {
  await mkdir(root, { recursive: true });
  const out: RecoveredSession[] = [];
  for (const name of readdirSync(root).sort()) {
    const dir = join(root, name);
    if (!statSync(dir).isDirectory() || !holdsLog(dir)) continue;
    try {
      const repaired = await repairLog(dir);
      if (repaired.bytes > 0 || repaired.deleted) log.warn('recording repaired', { dir, file: repaired.file, offset: repaired.offset, bytes: repaired.bytes, deleted: repaired.deleted });
      const rec = await openRecording(dir);
      if (rec.finished) continue;
      const last = rec.lastStep;
      const r = await replayToEnd(rec, { from: last, until: last });
      const producers = new Map<string, number>();
      for (const [p, seq] of rec.producers) if (typeof p === 'string') producers.set(p, seq);
      out.push({ dir, config: rec.config, queueCapacity: rec.queueCapacity, state: r.state, producers, nextSegment: Math.max(...rec.segments.map((s) => s.number)) + 1 });
    } catch (e) {
      log.error('recording not recovered', { dir, error: e instanceof Error ? e.message : String(e) });
    }
  }
  return out;
}
