/**
 * What a session handle, a stream and a subscription need of their client: its main connection
 * for requests, new connections of their own, and a place to be closed from by `client.close()`.
 */
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
