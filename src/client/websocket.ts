/**
 * Which WebSocket the client uses, and opening one: the constructor given in the options, else
 * the platform's own (`globalThis.WebSocket`: browsers, Deno, Node ≥ 22), else the `ws` package,
 * loaded with a dynamic import only then, so a browser bundle never evaluates it.
 *
 * Only the browser's API is used (`addEventListener`, `binaryType`, `send`, `close`), which `ws`
 * also has. The token travels as `Authorization: Bearer …` where the client can set headers (`ws`)
 * and as `?token=…` where it cannot (browsers).
 */
import { connectError } from './errors.js';

/** The part of the browser's `WebSocket` the client uses (`ws` has it too). */
export interface SocketLike {
  readonly readyState: number;
  readonly bufferedAmount: number;
  binaryType: string;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: never) => void): void;
}

/** A WebSocket class: the browser's, `ws`'s, or any with the same constructor and API. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => SocketLike;

/** What the events the client listens to carry (browser and `ws` alike). */
export interface SocketMessageEvent {
  readonly data: unknown;
}
export interface SocketCloseEvent {
  readonly code: number;
  readonly reason: string;
}
export interface SocketErrorEvent {
  readonly error?: unknown;
  readonly message?: string;
}

/** `ws`'s extras the client uses when it loaded `ws` itself: headers, the body of a refused upgrade. */
interface WsSocket extends SocketLike {
  on(event: 'unexpected-response', listener: (request: { destroy(): void }, response: WsResponse) => void): void;
  terminate(): void;
}
interface WsResponse {
  readonly statusCode?: number;
  on(event: 'data', listener: (chunk: Uint8Array) => void): void;
  on(event: 'end', listener: () => void): void;
}
type WsConstructor = new (url: string, options: { headers: Record<string, string>; perMessageDeflate: boolean; maxPayload: number }) => WsSocket;

/**
 * Largest message the client takes from the server through `ws` (whose default is 100 MiB; a
 * browser has no limit): a snapshot of a 10 M-parameter model with adam's state is 120 MB.
 */
const MAX_INBOUND_BYTES = 2 ** 30;

export const OPEN = 1;

/** Where the socket class comes from: given, the platform's, or `ws` (headers possible). */
export type ResolvedWebSocket = { readonly kind: 'given' | 'global'; readonly Ctor: WebSocketConstructor } | { readonly kind: 'ws'; readonly Ctor: WsConstructor };

/** The WebSocket class to use: `given`, else the platform's, else `ws` (imported only then). */
export async function resolveWebSocket(given: WebSocketConstructor | undefined): Promise<ResolvedWebSocket> {
  if (given !== undefined) return { kind: 'given', Ctor: given };
  const platform = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (platform !== undefined) return { kind: 'global', Ctor: platform };
  // NOTE: only reached where there is no global WebSocket (Node 20): a bundler that resolves this
  // import for a browser gets ws's browser stub, which is never evaluated there.
  const ws = (await import('ws')) as unknown as { WebSocket: WsConstructor };
  return { kind: 'ws', Ctor: ws.WebSocket };
}

/**
 * A WebSocket to `url` (with `token`), and `opened`: resolves once it is open, or rejects with
 * the refusal (a LivegradError with the code of the server's HTTP answer) or the failure. The
 * socket is returned at once, so that its caller listens before the first message can arrive.
 */
export function createSocket(resolved: ResolvedWebSocket, url: string, token: string | undefined): { socket: SocketLike; opened: Promise<void> } {
  let socket: SocketLike;
  let refusal: { status: number; code?: unknown; message?: unknown } | undefined;
  /** Set while the body of a refused upgrade is being read. */
  let refusing: Promise<void> | undefined;
  if (resolved.kind === 'ws') {
    const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
    const ws = new resolved.Ctor(url, { headers, perMessageDeflate: false, maxPayload: MAX_INBOUND_BYTES });
    ws.on('unexpected-response', (request, response) => {
      refusing = new Promise<void>((resolve) => {
        const chunks: Uint8Array[] = [];
        response.on('data', (c) => chunks.push(c));
        response.on('end', () => {
          refusal = { status: response.statusCode ?? 0, ...bodyOf(chunks) };
          request.destroy();
          ws.terminate();
          resolve();
        });
      });
    });
    socket = ws;
  } else {
    socket = new resolved.Ctor(token === undefined ? url : withQuery(url, 'token', token));
  }
  socket.binaryType = 'arraybuffer';
  const opened = new Promise<void>((resolve, reject) => {
    let settled = false;
    const fail = (cause: unknown): void => {
      if (settled) return;
      settled = true;
      // a refused upgrade is reported once its body has been read
      void (refusing ?? Promise.resolve()).then(() => reject(connectError(url, refusal, cause)));
    };
    socket.addEventListener('open', () => {
      if (settled) return;
      settled = true;
      resolve();
    });
    socket.addEventListener('error', (e: SocketErrorEvent) => fail(e.error ?? new Error(e.message ?? '')));
    socket.addEventListener('close', (e: SocketCloseEvent) => fail(new Error(`closed with ${e.code} before it opened`)));
  });
  return { socket, opened };
}

/** Ends a socket now: `ws`'s terminate where there is one, else a close. */
export function terminate(socket: SocketLike): void {
  const ws = socket as Partial<WsSocket>;
  if (typeof ws.terminate === 'function') ws.terminate();
  else socket.close(1000);
}

function bodyOf(chunks: readonly Uint8Array[]): { code?: unknown; message?: unknown } {
  try {
    const text = new TextDecoder().decode(concat(chunks));
    const body = JSON.parse(text) as { code?: unknown; message?: unknown };
    return typeof body === 'object' && body !== null ? { code: body.code, message: body.message } : {};
  } catch {
    return {}; // not the server's JSON body: the status alone says it
  }
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** `url` with one more query parameter. */
export function withQuery(url: string, key: string, value: string): string {
  const u = new URL(url);
  u.searchParams.set(key, value);
  return u.toString();
}
