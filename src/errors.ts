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
  | 'E_PIPELINE_ORDER';

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
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of length ${(value as unknown as ArrayLike<unknown>).length}`;
  if (typeof value === 'function') return 'a function';
  return 'an object';
}
