/**
 * What a session handle, a stream and a subscription need of their client: its main connection
 * for requests, new connections of their own, and a place to be closed from by `client.close()`.
 */
import { Observable } from 'rxjs';
import type { ServerMessage } from '../protocol/messages.js';
import type { Connection, Request } from './connection.js';

/** Something `client.close()` ends: a running stream or subscription. */
export interface Closable {
  close(): Promise<void>;
}

export interface ClientCore {
  /** The server's URL as given to `connect`. */
  readonly url: string;
  /** A request on the client's main connection (reopened if it dropped). */
  request<R extends ServerMessage>(message: Request): Promise<R>;
  /** A new connection of the caller's own (a stream's, a subscription's). */
  open(): Promise<Connection>;
  /** Registers a running stream or subscription until the returned function is called; throws once the client is closed. */
  track(c: Closable): () => void;
}

/** A stream's or a subscription's run: it goes until done (or fails), or until closed. */
export interface Run extends Closable {
  run(): Promise<void>;
}

/**
 * A run as a cold Observable: each subscription makes one run (`make` gets what emits), which
 * `client.close()` closes too, and unsubscribing closes it.
 *
 *   make(next) ─ run() ──v──v──v──|      (or error)
 */
export function observeRun<T>(core: ClientCore, make: (next: (value: T) => void) => Run): Observable<T> {
  return new Observable<T>(function runSubscribe(subscriber) {
    const run = make((v) => subscriber.next(v));
    let release: () => void;
    try {
      release = core.track(run);
    } catch (e) {
      subscriber.error(e);
      return undefined;
    }
    run.run().then(
      () => subscriber.complete(),
      (e: unknown) => subscriber.error(e),
    ).finally(release);
    return () => void run.close();
  });
}
