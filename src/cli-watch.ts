/**
 * `livegrad watch URL --session NAME`: follows a session's events from a terminal, across
 * reconnects (the client library resumes without losing or repeating an event).
 *
 *   livegrad watch ws://127.0.0.1:8080/ws --session digits            one line per metrics event
 *   livegrad watch ws://127.0.0.1:8080/ws --session digits --jsonl    every event as a JSON line
 *
 * It ends (exit 0) when the session completes or fails, on SIGINT / SIGTERM, or (exit 1) with
 * the server's error (an unknown session: E_UNKNOWN_SESSION).
 */
import { connect } from './client/client.js';
import type { SessionEvent } from './client/events.js';
import type { Subscription } from 'rxjs';
import { EVENT_TYPES, type TrainEventType } from './pipeline/events.js';
import { flags } from './cli-terminal.js';

export const WATCH_USAGE = `Usage: livegrad watch URL --session NAME [options]

Follows a session's events: one line per metrics event (step, running loss, accuracy, steps/s), or
with --jsonl every event as one JSON line (tensors as arrays of numbers; a "gap" line where the
server no longer held events missed while reconnecting). It follows the session across dropped
connections and ends when the session completes or fails, or on Ctrl-C.

Options:
  --session <name>      the session (required)
  --jsonl               every event as JSON lines, for jq or a file
  --topics <a,b,…>      with --jsonl: only these (${EVENT_TYPES.join(', ')}; default all)
  --from <step>         start with the events from this step the server still holds
  --token <token>       the read token (env LIVEGRAD_READ_TOKEN)
  -h, --help            this text
`;

export interface WatchArgs {
  readonly url: string;
  readonly session: string;
  readonly jsonl: boolean;
  readonly topics: readonly TrainEventType[];
  readonly fromStep: number | undefined;
  readonly token: string | undefined;
}

/** `livegrad watch`'s arguments. Throws TypeError / RangeError naming the bad one. */
export function parseWatch(argv: readonly string[], env: NodeJS.ProcessEnv): WatchArgs {
  let url: string | undefined;
  let session: string | undefined;
  let jsonl = false;
  let topics: TrainEventType[] | undefined;
  let fromStep: number | undefined;
  let token: string | undefined = env['LIVEGRAD_READ_TOKEN'] || undefined;
  for (const { flag: a, value } of flags(argv)) {
    switch (a) {
      case '--session': session = value(); break;
      case '--jsonl': jsonl = true; break;
      case '--token': token = value(); break;
      case '--from': {
        const v = value();
        if (!/^\d+$/.test(v)) throw new RangeError(`Expected --from to be a step (an integer ≥ 0), got ${JSON.stringify(v)}`);
        fromStep = Number(v);
        break;
      }
      case '--topics': {
        const names = value().split(',').filter((t) => t !== '');
        const bad = names.filter((t) => !(EVENT_TYPES as readonly string[]).includes(t));
        if (names.length === 0 || bad.length > 0) throw new TypeError(`Expected --topics among ${EVENT_TYPES.join(', ')}, got ${JSON.stringify(bad.join(',') || names.join(','))}`);
        topics = names as TrainEventType[];
        break;
      }
      default:
        if (a.startsWith('-') || url !== undefined) throw new TypeError(`Expected an option of watch (see --help), got ${a}`);
        url = a;
    }
  }
  if (url === undefined) throw new TypeError('Expected the server URL (ws://HOST:PORT/ws), got none');
  if (session === undefined) throw new TypeError('Expected --session NAME, got none');
  if (topics !== undefined && !jsonl) throw new TypeError('Expected --topics with --jsonl only (the lines follow metrics events)');
  return { url, session, jsonl, topics: topics ?? (jsonl ? [...EVENT_TYPES] : ['metrics', 'lifecycle', 'error']), fromStep, token };
}

/** An event as JSON: typed arrays as arrays of numbers. */
function jsonLine(e: SessionEvent): string {
  return JSON.stringify(e, (_k, v: unknown) => (v instanceof Float32Array || v instanceof Float64Array ? Array.from(v) : v));
}

/** One human line for a metrics event (steps/s from the previous one), or for a lifecycle change, an error, a gap. */
function humanLine(e: SessionEvent, last: { step: number; time: number } | undefined): string | undefined {
  switch (e.type) {
    case 'metrics': {
      const rate = last && e.time > last.time ? ((e.step - last.step) * 1000) / (e.time - last.time) : undefined;
      const acc = e.accuracy === undefined ? '' : `  accuracy ${(100 * e.accuracy).toFixed(1)}%`;
      return `step ${e.step}  loss ${e.runningLoss.toFixed(4)}${acc}${rate === undefined ? '' : `  ${Math.round(rate)} steps/s`}`;
    }
    case 'lifecycle':
      return `step ${e.step}  ${e.state}${e.reason === undefined ? '' : ` (${e.reason})`}`;
    case 'error':
      return `step ${e.step}  error ${e.code}: ${e.message}`;
    case 'gap':
      return `(events from step ${e.fromStep} to ${e.step} are no longer on the server)`;
    default:
      return undefined;
  }
}

/** Runs `watch`; resolves with the exit code. */
export async function watchCommand(a: WatchArgs): Promise<number> {
  const client = await connect(a.url, a.token === undefined ? {} : { token: a.token });
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let last: { step: number; time: number } | undefined;
  let sub: Subscription | undefined;
  const ended = new Promise<number>((resolve, reject) => {
    sub = client
      .session(a.session)
      .events(a.topics, a.fromStep === undefined ? {} : { fromStep: a.fromStep })
      .subscribe({
        next: (e) => {
          if (a.jsonl) process.stdout.write(`${jsonLine(e)}\n`);
          else {
            const line = humanLine(e, last);
            if (line !== undefined) process.stdout.write(`${line}\n`);
            if (e.type === 'metrics') last = { step: e.step, time: e.time };
          }
          if (e.type === 'lifecycle' && (e.state === 'completed' || e.state === 'failed')) resolve(0);
        },
        complete: () => resolve(0),
        error: reject,
      });
    void stopped.then(() => resolve(0));
  });
  try {
    return await ended;
  } finally {
    sub?.unsubscribe();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await client.close();
  }
}
