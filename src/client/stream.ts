/**
 * `session.stream(source, options)`: rows into a session, as an Observable of the progress.
 */
import { Observable } from 'rxjs';
import { describe } from '../errors.js';
import { SESSION_NAME } from '../protocol/validate.js';
import { backoff, type ReconnectOptions } from './backoff.js';
import { observeRun, type ClientCore } from './core.js';
import { checkSource, type StreamSource } from './source.js';
import { StreamRun, type StreamProgress } from './stream-run.js';

export interface StreamOptions {
  /**
   * The producer's name (1 to 64 of `A–Z a–z 0–9 _ . : -`). Each message's `seq` is then the
   * index of its last row in the source, so the session's `producers[name]` (in `sessions()`)
   * says how much of the source it holds: the stream reconnects after a drop and sends again only
   * what the session does not hold — across a server's restart too, on a server that records.
   */
  readonly producer?: string;
  /** With `producer`: skip the rows of the source the session already holds from it (a script run again after a crash). Default false. */
  readonly resume?: boolean;
  /** Most rows per message. Default: about 128 KiB of them, within the server's `maxPayload`. */
  readonly rowsPerMessage?: number;
  /**
   * The rows left when the source ends: `'step'` (default) trains them, with the last batch's
   * rows when they fill none, as one step of their own (`step: true`), as `train()` does with its
   * last partial batch, so every row is trained; `'hold'` leaves the rows of a last partial batch
   * waiting in the session for more rows (a later stream's), and completes without them.
   */
  readonly tail?: 'step' | 'hold';
  /** With `producer`: how to reconnect after a drop (default 10 attempts, 0.1 s to 5 s apart); false: fail at once. */
  readonly reconnect?: ReconnectOptions | false;
}

/**
 * Streams a source's rows into a session on a connection of its own, within the session's
 * credits and the server's rate, in messages within its `maxPayload`, and emits where it stands
 * after each message sent, accepted and trained. Completes once every row has been trained.
 *
 *   source:    --[rows]--[rows]-------|
 *   result:    --p---p--p---p--p---p--|      p: {sent, acked, consumed, step, skipped}
 *
 * Errors with the server's error (a LivegradError with its code: E_SHAPE, E_NON_FINITE,
 * E_LABEL_RANGE, E_SESSION_CLOSED, …) naming the rows of the refused message, with the source's
 * error, or with the connection's loss (an unnamed stream cannot know which rows in flight the
 * session kept). Unsubscribing stops it; rows in flight may still train.
 *
 * @param source   an array of rows `{x: number[], y}`; a batch `{x, y}` (tensors or nested arrays); an
 *                 Iterable or AsyncIterable of batches (pulled as the server takes them); an Observable of batches
 * @param options  a producer name to resume by, rows per message, what the tail does
 * @example
 *   const rows = [{ x: [0, 0], y: 0 }, { x: [0, 1], y: 1 }, { x: [1, 0], y: 1 }, { x: [1, 1], y: 0 }];
 *   const last = await lastValueFrom(session.stream(rows));
 *   console.log(`${last.consumed} rows trained, at step ${last.step}`);
 */
export function stream(core: ClientCore, session: string, source: StreamSource, options: StreamOptions = {}): Observable<StreamProgress> {
  checkSource(source);
  if (typeof options !== 'object' || options === null) throw new TypeError(`Expected stream options, got ${describe(options)}`);
  const { producer, resume = false, rowsPerMessage, tail = 'step' } = options;
  if (producer !== undefined && (typeof producer !== 'string' || !SESSION_NAME.test(producer))) throw new TypeError(`Expected producer to be a name of 1 to 64 of A-Z a-z 0-9 _ . : -, got ${describe(producer)}`);
  if (resume && producer === undefined) throw new TypeError('Expected a producer name with resume: true, got none (what the session holds is counted per producer name)');
  if (rowsPerMessage !== undefined && (!Number.isInteger(rowsPerMessage) || rowsPerMessage < 1)) throw new RangeError(`Expected rowsPerMessage to be an integer ≥ 1, got ${describe(rowsPerMessage)}`);
  if (tail !== 'step' && tail !== 'hold') throw new TypeError(`Expected tail "step" or "hold", got ${describe(tail)}`);
  const settings = { session, producer, resume, rowsPerMessage, tail, reconnect: backoff(options.reconnect) };
  return observeRun<StreamProgress>(core, (next) => new StreamRun(() => core.open(), source, settings, next));
}
