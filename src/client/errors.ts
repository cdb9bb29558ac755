/**
 * What goes wrong, as a `LivegradError` with the protocol's code (docs/errors.md): an `error`
 * reply from the server, a refused upgrade, or a connection that closed.
 *
 *   error reply {code, message}          → LivegradError(code, message)
 *   HTTP 401 / 403 / 404 / 503 + body     → LivegradError(body.code, body.message)
 *   close 1001 / 1008 / 1009 / 1013 …     → the code the close reason (or the close code) names
 *   close without a code of ours (1006)   → LivegradError(CONNECTION_LOST, …)
 */
import { LivegradError, type ErrorCode } from '../errors.js';

/**
 * The code of a connection that ended without the server naming why: a dropped TCP connection,
 * a server process that died, a refused connect, a watchdog that heard nothing.
 *
 * The message says what happened.
 */
export const CONNECTION_LOST: ErrorCode = 'E_CONNECTION_LOST';

/** The error code a close code stands for (docs/protocol.md, "Closing codes"). */
const CLOSE_CODES: Readonly<Record<number, ErrorCode>> = {
  1001: 'E_SHUTTING_DOWN',
  1002: 'E_PROTOCOL',
  1007: 'E_BAD_UTF8',
  1008: 'E_RATE_LIMIT',
  1009: 'E_TOO_LARGE',
  1013: 'E_SLOW_CONSUMER',
};

const CODE = /^E_[A-Z_]+$/;

/** A code from the server: one of errors.md's (a newer server's code passes through as it is). */
export function errorCode(value: unknown): ErrorCode {
  // NOTE: ErrorCode is a type only, so the list cannot be checked at run time; a code that is not
  // an E_… string at all is the server breaking the protocol.
  return typeof value === 'string' && CODE.test(value) ? (value as ErrorCode) : 'E_INTERNAL';
}

/** The `LivegradError` an `error` reply stands for. */
export function replyError(m: { readonly code: unknown; readonly message: unknown }): LivegradError {
  return new LivegradError(errorCode(m.code), typeof m.message === 'string' ? m.message : `The server answered ${String(m.code)}`);
}

/**
 * The error of a connection that closed: the code its close reason starts with
 * (`"E_TOO_LARGE: Expected …"`), else the one its close code stands for, else CONNECTION_LOST.
 */
export function closeError(url: string, code: number, reason: string): LivegradError {
  const named = /^(E_[A-Z_]+): /.exec(reason);
  const errorCodeOf = named ? errorCode(named[1]) : CLOSE_CODES[code];
  const why = reason === '' ? describeClose(code) : reason;
  if (errorCodeOf !== undefined) return new LivegradError(errorCodeOf, `Expected the connection to ${url} to stay open, got it closed with ${code}: ${why}`);
  return new LivegradError(CONNECTION_LOST, `Expected the connection to ${url} to stay open, got it closed with ${code} (${why})`);
}

function describeClose(code: number): string {
  switch (code) {
    case 1000:
      return 'a normal close';
    case 1001:
      return 'the server is going away';
    case 1005:
      return 'no close code';
    case 1006:
      return 'no closing handshake: the server went away or the network failed';
    default:
      return `close code ${code}`;
  }
}

/** Why a connection could not be opened: the refusal the server answered, or the failure. */
export function connectError(url: string, refusal: { readonly status: number; readonly code?: unknown; readonly message?: unknown } | undefined, cause: unknown): LivegradError {
  if (refusal !== undefined) {
    const code = refusal.code === undefined ? statusCode(refusal.status) : errorCode(refusal.code);
    const message = typeof refusal.message === 'string' ? refusal.message : `HTTP ${refusal.status}`;
    return new LivegradError(code, `Expected ${url} to accept a WebSocket, got HTTP ${refusal.status}: ${message}`, { cause });
  }
  const detail = cause instanceof Error && cause.message !== '' ? cause.message : 'the browser does not say why (an unreachable server, a wrong token or an Origin not allowed)';
  return new LivegradError(CONNECTION_LOST, `Expected ${url} to accept a WebSocket, got an error: ${detail}`, { cause });
}

function statusCode(status: number): ErrorCode {
  switch (status) {
    case 401:
      return 'E_UNAUTHORIZED';
    case 403:
      return 'E_ORIGIN';
    case 404:
      return 'E_NOT_FOUND';
    case 503:
      return 'E_SHUTTING_DOWN';
    default:
      return CONNECTION_LOST;
  }
}
