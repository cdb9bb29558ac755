/**
 * Domain errors. Every error livegrad raises on purpose has a stable `code`;
 * the table of codes lives in docs/errors.md. Bad arguments to a function are
 * `TypeError` / `RangeError` (thrown synchronously, message "Expected X, got Y");
 * faults found while running (a bad frame, a non-finite batch, …) are a
 * `LivegradError` carrying the code and, when there is one, the `cause`.
 */
export type ErrorCode =
  | 'E_SHAPE'
  | 'E_DTYPE'
  | 'E_NON_FINITE'
  | 'E_LABEL_RANGE'
  | 'E_BAD_MODEL'
  | 'E_BAD_STATE'
  | 'E_BAD_CSV'
  | 'E_BAD_CONTROL'
  | 'E_QUEUE_FULL'
  | 'E_PIPELINE_ORDER'
  // protocol and server (docs/errors.md, docs/protocol.md)
  | 'E_BAD_FRAME'
  | 'E_BAD_MESSAGE'
  | 'E_UNKNOWN_TYPE'
  | 'E_BAD_FIELD'
  | 'E_BAD_TENSOR'
  | 'E_BAD_CONFIG'
  | 'E_UNKNOWN_SESSION'
  | 'E_NOT_LIVE'
  | 'E_CONNECTION_LOST'
  | 'E_SESSION_EXISTS'
  | 'E_SESSION_LIMIT'
  | 'E_SESSION_CLOSED'
  | 'E_NO_CREDIT'
  | 'E_BACKLOG'
  | 'E_BAD_SEQ'
  | 'E_FORBIDDEN'
  | 'E_UNAUTHORIZED'
  | 'E_ORIGIN'
  | 'E_NOT_FOUND'
  | 'E_CONNECTION_LIMIT'
  | 'E_TOO_LARGE'
  | 'E_BAD_UTF8'
  | 'E_PROTOCOL'
  | 'E_RATE_LIMIT'
  | 'E_SLOW_CONSUMER'
  | 'E_SHUTTING_DOWN'
  | 'E_INTERNAL'
  // the WebAssembly kernels (docs/kernels.md)
  | 'E_KERNELS'
  // session recording (docs/recording.md)
  | 'E_RECORD_WRITE'
  | 'E_RECORD_READ'
  | 'E_RECORD_CORRUPT'
  | 'E_RECORD_VERSION'
  | 'E_REPLAY_DIVERGED';

export class LivegradError extends Error {
  override readonly name = 'LivegradError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Renders a value for "Expected X, got Y" messages without dumping huge objects. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  // NOTE: a BigInt of millions of digits takes seconds to print: say how large it is instead
  if (typeof value === 'bigint') return value >= -(2n ** 64n) && value <= 2n ** 64n ? String(value) : `an integer of ${value.toString(2).replace('-', '').length} bits`;
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of length ${(value as unknown as ArrayLike<unknown>).length}`;
  if (typeof value === 'function') return 'a function';
  return 'an object';
}
