/**
 * Who may connect and what they may do, decided in the HTTP upgrade, before any WebSocket opens.
 *
 * Two optional tokens. The producer token allows everything; the read token allows reading
 * (list, subscribe, unsubscribe, predict, snapshot). An action class whose token is not set is
 * open to every connection. A token comes as `Authorization: Bearer <token>` or, for browsers
 * (which cannot set headers on a WebSocket), as the `token` query parameter.
 *
 *   token presented, matches neither       401 E_UNAUTHORIZED (ignored when no token is configured)
 *   no token, and no action open to all    401 E_UNAUTHORIZED
 *   Origin header not in the allow-list    403 E_ORIGIN   (no Origin header: not a browser, allowed)
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { ClientMessageType, Permissions } from '../protocol/messages.js';

export interface AuthOptions {
  readonly producerToken: string | undefined;
  readonly readToken: string | undefined;
  /** Allowed Origin header values; empty: any. */
  readonly origins: readonly string[];
}

export type AuthResult =
  | { readonly ok: true; readonly permissions: Permissions }
  | { readonly ok: false; readonly status: 401 | 403; readonly code: 'E_UNAUTHORIZED' | 'E_ORIGIN'; readonly message: string };

/** The permission each message needs. */
export const NEEDS: Readonly<Record<ClientMessageType, keyof Permissions | undefined>> = {
  create: 'produce',
  samples: 'produce',
  control: 'produce',
  close: 'produce',
  replay: 'produce',
  list: 'read',
  subscribe: 'read',
  unsubscribe: 'read',
  predict: 'read',
  snapshot: 'read',
  ping: undefined,
};

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Compares in time independent of where the strings differ. */
function same(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

export function tokenOf(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (typeof header === 'string') {
    const m = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (m) return m[1]!;
  }
  const url = new URL(req.url ?? '/', 'http://localhost');
  return url.searchParams.get('token') ?? undefined;
}

export function authorize(req: IncomingMessage, options: AuthOptions): AuthResult {
  const origin = req.headers.origin;
  if (options.origins.length > 0 && typeof origin === 'string' && !options.origins.includes(origin)) {
    return { ok: false, status: 403, code: 'E_ORIGIN', message: `Expected an Origin among ${options.origins.join(', ')}, got ${origin}` };
  }
  const { producerToken, readToken } = options;
  const token = tokenOf(req);
  let permissions: Permissions;
  if (token === undefined || (producerToken === undefined && readToken === undefined)) {
    permissions = { produce: producerToken === undefined, read: readToken === undefined };
  } else if (producerToken !== undefined && same(token, producerToken)) {
    permissions = { produce: true, read: true };
  } else if (readToken !== undefined && same(token, readToken)) {
    permissions = { produce: producerToken === undefined, read: true };
  } else {
    return { ok: false, status: 401, code: 'E_UNAUTHORIZED', message: 'Expected a valid producer or read token, got a token that matches neither' };
  }
  if (!permissions.produce && !permissions.read) {
    return { ok: false, status: 401, code: 'E_UNAUTHORIZED', message: 'Expected a token (Authorization: Bearer <token> or ?token=), got none' };
  }
  return { ok: true, permissions };
}
