/**
 * A file system failure as a LivegradError whose message names the operation, the path and the
 * errno code: "Expected to write /runs/s1/000003.lgr, got ENOSPC: no space left on device, write".
 */
import { LivegradError } from '../errors.js';

export function fsError(code: 'E_RECORD_WRITE' | 'E_RECORD_READ', what: string, path: string, cause: unknown): LivegradError {
  const errno = (cause as { code?: unknown } | null)?.code;
  const message = cause instanceof Error ? cause.message : String(cause);
  const detail = typeof errno === 'string' && !message.startsWith(errno) ? `${errno}: ${message}` : message;
  return new LivegradError(code, `Expected to ${what} ${path}, got ${detail}`, { cause });
}
