/**
 * A structured logger: one JSON object per line, `{"time", "level", "msg", …fields}`. Quiet by
 * default (level `silent`): a library embedded in someone's process prints nothing unless asked.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

export interface LoggerOptions {
  /** Lowest level written. Default `silent`. */
  readonly level?: LogLevel;
  /** Where a line goes. Default: stdout for debug and info, stderr for warn and error. */
  readonly write?: (line: string, level: Exclude<LogLevel, 'silent'>) => void;
  readonly now?: () => number;
}

function defaultWrite(line: string, level: Exclude<LogLevel, 'silent'>): void {
  (level === 'warn' || level === 'error' ? process.stderr : process.stdout).write(`${line}\n`);
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'silent';
  if (!LOG_LEVELS.includes(level)) throw new TypeError(`Expected log level one of ${LOG_LEVELS.join(', ')}, got ${String(level)}`);
  const min = LOG_LEVELS.indexOf(level);
  const write = options.write ?? defaultWrite;
  const now = options.now ?? Date.now;
  const at = (l: Exclude<LogLevel, 'silent'>) =>
    function log(msg: string, fields?: LogFields): void {
      if (LOG_LEVELS.indexOf(l) < min) return;
      write(JSON.stringify({ time: new Date(now()).toISOString(), level: l, msg, ...fields }), l);
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
