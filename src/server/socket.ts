/**
 * The WebSocket class the server uses (ws's `WebSocket` option). When ws itself finds a protocol
 * fault in a client's frames (a message over maxPayload, invalid UTF-8 in a text frame, a broken
 * frame) it closes the socket with 1009, 1007 or 1002 and no reason. This subclass first lets the
 * connection send its `error` message and then closes with a reason naming the error code, so a
 * client learns what happened the same way for every fault.
 */
import { WebSocket } from 'ws';

export class LivegradSocket extends WebSocket {
  /** Set by the connection: sends the error message for a fault and returns the close reason. */
  onFault: ((code: number) => string | undefined) | undefined;

  override close(code?: number, data?: string | Buffer): void {
    if (data === undefined && code !== undefined && this.onFault !== undefined && this.readyState === WebSocket.OPEN) {
      const reason = this.onFault(code);
      this.onFault = undefined;
      if (reason !== undefined) {
        super.close(code, reason);
        return;
      }
    }
    super.close(code, data);
  }
}

/** Longest close reason the protocol allows is 123 bytes of UTF-8. */
export function closeReason(text: string): string {
  let s = text.slice(0, 123);
  while (Buffer.byteLength(s) > 123) s = s.slice(0, -1);
  return s;
}
