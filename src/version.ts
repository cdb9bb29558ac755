/**
 * The version of livegrad that is running, from its package.json (`livegrad --version`, the
 * `livegrad` field of every log segment header): next to src/ when run from source, next to
 * dist/src/ when built; "unknown" when neither is livegrad's.
 */
import { readFileSync } from 'node:fs';

function readVersion(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'livegrad' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not this one: try the next location
    }
  }
  return 'unknown';
}

export const LIVEGRAD_VERSION: string = readVersion();
