/**
 * The HTTP side of the server: routes, and the gate every WebSocket upgrade passes before ws
 * sees it.
 *
 *   GET /ws        WebSocket upgrade (plain GET: 426)
 *   GET /healthz   JSON status (503 while shutting down)
 *   GET /metrics   Prometheus text format
 *   GET /          the live dashboard (client/dashboard: its page; its bundle at /dashboard/dashboard.js and dashboard.css)
 *   anything else  404 E_NOT_FOUND
 *
 * A refused upgrade is answered with an HTTP status and a JSON `error` body, and no WebSocket
 * ever opens: 401 E_UNAUTHORIZED, 403 E_ORIGIN, 404 E_NOT_FOUND, 503 E_SHUTTING_DOWN or
 * E_CONNECTION_LIMIT.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ErrorCode } from '../errors.js';
import type { Permissions } from '../protocol/messages.js';
import { authorize, type AuthOptions } from './auth.js';
import { DASHBOARD_HEADERS, loadDashboard } from './static.js';

export const WS_PATH = '/ws';

export interface Routes {
  health(): { readonly status: number; readonly body: object };
  metrics(): string;
}

/** Served at `/` when the dashboard's files are not installed (client/ missing from a package). */
const NO_DASHBOARD = `<!doctype html>
<meta charset="utf-8">
<title>livegrad</title>
<p>livegrad is running, but the dashboard's files (client/dashboard) are not installed.
<p>WebSocket: <code>/ws</code> (docs/protocol.md) · <a href="/healthz">/healthz</a> · <a href="/metrics">/metrics</a>
`;

function pathOf(req: IncomingMessage): string {
  return new URL(req.url ?? '/', 'http://localhost').pathname;
}

function json(res: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

export function requestHandler(routes: Routes): (req: IncomingMessage, res: ServerResponse) => void {
  const dashboard = loadDashboard();
  return function handleRequest(req, res) {
    const path = pathOf(req);
    const file = dashboard.get(path);
    if (file !== undefined && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(200, { 'content-type': file.type, 'content-length': file.body.length, ...DASHBOARD_HEADERS });
      res.end(req.method === 'HEAD' ? undefined : file.body);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      json(res, 405, { type: 'error', ref: null, code: 'E_NOT_FOUND', message: `Expected GET or HEAD, got ${req.method}` });
      return;
    }
    switch (path) {
      case '/healthz': {
        const h = routes.health();
        json(res, h.status, h.body);
        return;
      }
      case '/metrics': {
        const text = routes.metrics();
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
        res.end(text);
        return;
      }
      case '/':
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(NO_DASHBOARD) });
        res.end(NO_DASHBOARD);
        return;
      case WS_PATH:
        res.setHeader('upgrade', 'websocket');
        json(res, 426, { type: 'error', ref: null, code: 'E_PROTOCOL', message: `Expected a WebSocket upgrade on ${WS_PATH}, got a plain GET` });
        return;
      default:
        json(res, 404, { type: 'error', ref: null, code: 'E_NOT_FOUND', message: `Expected one of /, /dashboard/…, /ws, /healthz, /metrics, got ${path}` });
    }
  };
}

export interface GateState {
  readonly stopping: boolean;
  readonly connections: number;
  readonly maxConnections: number;
  readonly auth: AuthOptions;
}

export type GateResult =
  | { readonly ok: true; readonly permissions: Permissions; readonly format: 'msgpack' | 'json' }
  | { readonly ok: false; readonly status: number; readonly code: ErrorCode; readonly message: string };

/** Decides an upgrade request: path, shutdown, connection limit, Origin, token. */
export function gate(req: IncomingMessage, state: GateState): GateResult {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname !== WS_PATH) return { ok: false, status: 404, code: 'E_NOT_FOUND', message: `Expected the WebSocket on ${WS_PATH}, got ${url.pathname}` };
  if (state.stopping) return { ok: false, status: 503, code: 'E_SHUTTING_DOWN', message: 'Expected a running server, got one shutting down' };
  if (state.connections >= state.maxConnections) {
    return { ok: false, status: 503, code: 'E_CONNECTION_LIMIT', message: `Expected fewer than ${state.maxConnections} connections, got ${state.connections} open` };
  }
  const auth = authorize(req, state.auth);
  if (!auth.ok) return auth;
  const format = url.searchParams.get('format') === 'json' ? 'json' : 'msgpack';
  return { ok: true, permissions: auth.permissions, format };
}

const REASONS: Readonly<Record<number, string>> = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 503: 'Service Unavailable' };

/** Answers a refused upgrade with an HTTP response and closes the socket. */
export function refuseUpgrade(socket: Duplex, status: number, code: ErrorCode, message: string): void {
  const body = JSON.stringify({ type: 'error', ref: null, code, message });
  const headers = [
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}`,
    'Connection: close',
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...(status === 401 ? ['WWW-Authenticate: Bearer'] : []),
  ];
  socket.on('error', () => socket.destroy());
  socket.once('finish', () => socket.destroy());
  socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`);
}
