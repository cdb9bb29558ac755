/**
 * A WebSocket class for `connect(url, { WebSocket })` that drops its connection right after it
 * has delivered a chosen message (tests only): nothing after that message reaches the client,
 * even what arrived in the same read — a cut between two events of one step, which a cut of the
 * TCP connection cannot aim at.
 */
import { unpack } from 'msgpackr';
import { WebSocket } from 'ws';
import type { WebSocketConstructor } from '../../src/client/index.js';

export interface Flaky {
  readonly WebSocket: WebSocketConstructor;
  /** Connections dropped so far. */
  readonly cuts: number;
}

/** Drops the first connection on which `cutAfter` holds for a message delivered (once in all). */
export function flakyWebSocket(cutAfter: (m: Record<string, unknown>) => boolean): Flaky {
  let cuts = 0;
  class FlakyWebSocket {
    private readonly ws: WebSocket;
    private dead = false;

    constructor(url: string) {
      this.ws = new WebSocket(url, { perMessageDeflate: false });
    }

    get readyState(): number {
      return this.ws.readyState;
    }

    get bufferedAmount(): number {
      return this.ws.bufferedAmount;
    }

    get binaryType(): string {
      return this.ws.binaryType;
    }

    set binaryType(t: string) {
      this.ws.binaryType = t as 'arraybuffer';
    }

    send(data: string | Uint8Array): void {
      this.ws.send(data);
    }

    close(code?: number, reason?: string): void {
      this.ws.close(code, reason);
    }

    addEventListener(type: string, listener: (event: never) => void): void {
      const f = listener as (e: unknown) => void;
      if (type !== 'message') {
        this.ws.addEventListener(type as 'open', f);
        return;
      }
      this.ws.addEventListener('message', (event) => {
        if (this.dead) return;
        f(event);
        if (cuts === 0 && event.data instanceof ArrayBuffer && cutAfter(unpack(new Uint8Array(event.data)) as Record<string, unknown>)) {
          cuts++;
          this.dead = true;
          this.ws.terminate();
        }
      });
    }
  }
  return {
    WebSocket: FlakyWebSocket,
    get cuts() {
      return cuts;
    },
  };
}
