/**
 * The `livegrad` command line.
 *
 *   livegrad serve [options]     run the training server (docs/protocol.md)
 *   livegrad stream FILE …       stream a CSV or JSON-lines file into a session (cli-stream.ts)
 *   livegrad --version | --help
 *
 * `serve` logs JSON lines to stdout (the first is `{"msg":"listening","port":…}`), stops
 * gracefully on SIGINT / SIGTERM (sessions stop at a batch boundary, outboxes flush, sockets
 * close with 1001) and exits 0; a second signal, a second or more after the first, exits 1 at once.
 * `npm run serve` and `npm start` `exec` node, so that npm signals the server itself: the `sh -c`
 * npm runs scripts with would otherwise die of the signal and leave the server running.
 */
import { pathToFileURL } from 'node:url';
import { LIVEGRAD_VERSION } from './version.js';
import { flags } from './cli-terminal.js';
import { RECORD_USAGE, runRecordCommand } from './cli-record.js';
import { runStreamCommand } from './cli-stream.js';
import { parseWatch, watchCommand, WATCH_USAGE } from './cli-watch.js';
import { createLogger, LOG_LEVELS, type LogLevel } from './server/log.js';
import { createServer, DEFAULT_SERVER_OPTIONS, type ServerOptions } from './server/server.js';
import { FSYNC_POLICIES, type FsyncPolicy } from './record/writer.js';

const USAGE = `Usage: livegrad serve [options]

Options:
  --host <host>             interface to bind (default ${DEFAULT_SERVER_OPTIONS.host})
  --port <port>             port, 0 for any free one (default ${DEFAULT_SERVER_OPTIONS.port})
  --producer-token <token>  token required to create, send samples, control, close (env LIVEGRAD_PRODUCER_TOKEN)
  --read-token <token>      token required to list, subscribe, predict, snapshot (env LIVEGRAD_READ_TOKEN)
  --origin <origin>         allowed browser Origin; repeat for several (default: any)
  --max-payload <bytes>     largest inbound message (default ${DEFAULT_SERVER_OPTIONS.maxPayload})
  --rate <messages/s>       per-connection message rate (default ${DEFAULT_SERVER_OPTIONS.messagesPerSecond}; bursts of twice that)
  --max-sessions <n>        (default ${DEFAULT_SERVER_OPTIONS.maxSessions})
  --max-connections <n>     (default ${DEFAULT_SERVER_OPTIONS.maxConnections})
  --heartbeat <ms>          ping interval (default ${DEFAULT_SERVER_OPTIONS.heartbeatMs})
  --training-threads        train each session on a worker thread of its own (the default)
  --inline-training         train sessions on the main thread, between socket events
  --kernel-threads <n>      1 | 2: threads for each session's wasm kernels (default ${DEFAULT_SERVER_OPTIONS.kernelThreads})
  --record <dir>            record every session under <dir>/<session>/ (docs/recording.md); at start,
                            bring back every session whose log there is not finished
  --fsync <policy>          always | batch | never: a recorded samples message is acknowledged once its
                            record is fsynced, fsynced with others within a few ms, or written (default batch)
  --checkpoint-every <n>    a checkpoint in a session's log every n steps (default ${DEFAULT_SERVER_OPTIONS.checkpointEvery})
  --record-events           record every event, not only lifecycle, control and error events
  --segment-bytes <bytes>   a log starts a new segment past this size (default ${DEFAULT_SERVER_OPTIONS.segmentBytes})
  --log-level <level>       ${LOG_LEVELS.join(' | ')} (default info)
  -h, --help                this text
  -v, --version             the version

${RECORD_USAGE}
Following a session: livegrad watch URL --session NAME [--jsonl] (livegrad watch --help)
Streaming a file into a session: livegrad stream FILE --to URL --session NAME [options] (livegrad stream --help)
`;

export interface Parsed {
  readonly options: ServerOptions;
  readonly level: LogLevel;
}

/** `livegrad serve`'s arguments (and token variables) → server options and log level. Throws TypeError / RangeError naming a bad option. */
export function parseServe(argv: readonly string[], env: NodeJS.ProcessEnv): Parsed {
  let level: LogLevel = 'info';
  const origins: string[] = [];
  const o: { -readonly [K in keyof ServerOptions]: ServerOptions[K] } = {
    producerToken: env['LIVEGRAD_PRODUCER_TOKEN'] || undefined,
    readToken: env['LIVEGRAD_READ_TOKEN'] || undefined,
  };
  const int = (s: string, flag: string): number => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`Expected ${flag} to be a non-negative integer, got ${s}`);
    return n;
  };
  for (const { flag, value } of flags(argv)) {
    switch (flag) {
      case '--host': o.host = value(); break;
      case '--port': o.port = int(value(), flag); break;
      case '--producer-token': o.producerToken = value(); break;
      case '--read-token': o.readToken = value(); break;
      case '--origin': origins.push(value()); break;
      case '--max-payload': o.maxPayload = int(value(), flag); break;
      case '--rate': {
        const r = int(value(), flag);
        o.messagesPerSecond = r;
        o.burst = 2 * r;
        break;
      }
      case '--max-sessions': o.maxSessions = int(value(), flag); break;
      case '--max-connections': o.maxConnections = int(value(), flag); break;
      case '--heartbeat': o.heartbeatMs = int(value(), flag); break;
      case '--training-threads': o.trainingThreads = true; break;
      case '--inline-training': o.trainingThreads = false; break;
      case '--kernel-threads': {
        const n = int(value(), flag);
        if (n !== 1 && n !== 2) throw new RangeError(`Expected --kernel-threads to be 1 or 2, got ${n}`);
        o.kernelThreads = n;
        break;
      }
      case '--record': o.record = value(); break;
      case '--fsync': {
        const f = value();
        if (!(FSYNC_POLICIES as readonly string[]).includes(f)) throw new TypeError(`Expected --fsync one of ${FSYNC_POLICIES.join(', ')}, got ${f}`);
        o.fsync = f as FsyncPolicy;
        break;
      }
      case '--checkpoint-every': o.checkpointEvery = int(value(), flag); break;
      case '--record-events': o.recordEvents = true; break;
      case '--segment-bytes': o.segmentBytes = int(value(), flag); break;
      case '--log-level': {
        const l = value();
        if (!(LOG_LEVELS as readonly string[]).includes(l)) throw new TypeError(`Expected --log-level one of ${LOG_LEVELS.join(', ')}, got ${l}`);
        level = l as LogLevel;
        break;
      }
      default:
        throw new TypeError(`Expected an option of serve (see --help), got ${flag}`);
    }
  }
  return { options: { ...o, origins }, level };
}

/**
 * A signal this soon after the first is the same request to stop, not a second one.
 *
 * NOTE: one request often arrives twice. A terminal's Ctrl-C and systemd's stop (KillMode=control-group)
 * signal every process of the group, and `npm run serve` relays its own copy to the server a few ms
 * later; only a signal after this long means "stop now, without finishing the shutdown".
 */
const SAME_STOP_MS = 1000;

async function serve(argv: readonly string[]): Promise<number> {
  const { options, level } = parseServe(argv, process.env);
  const log = createLogger({ level });
  // the handlers go in before the server listens: a signal right after `listening` must still be graceful
  let signalled: (signal: NodeJS.Signals) => void = () => undefined;
  const signal = new Promise<NodeJS.Signals>((resolve) => (signalled = resolve));
  let stoppingSince: number | undefined;
  const onSignal = (s: NodeJS.Signals): void => {
    if (stoppingSince === undefined) {
      stoppingSince = performance.now();
      signalled(s);
    } else if (performance.now() - stoppingSince >= SAME_STOP_MS) {
      log.warn('second signal, exiting now', { signal: s });
      process.exit(1);
    } else {
      log.debug('signal repeated, already stopping', { signal: s });
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const server = await createServer({ ...options, log });
  log.info('signal', { signal: await signal });
  try {
    await server.close();
    return 0;
  } catch (e) {
    log.error('shutdown failed', { error: e instanceof Error ? e.message : String(e) });
    return 1;
  }
}

/** Runs the command line; resolves with the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        if (rest.includes('--help') || rest.includes('-h')) {
          process.stdout.write(USAGE);
          return 0;
        }
        return await serve(rest);
      case 'replay':
      case 'inspect':
      case 'repair':
        return await runRecordCommand(command, rest);
      case 'watch':
        if (rest.includes('--help') || rest.includes('-h')) {
          process.stdout.write(WATCH_USAGE);
          return 0;
        }
        return await watchCommand(parseWatch(rest, process.env));
      case 'stream':
        return await runStreamCommand(rest);
      case '-v':
      case '--version':
        process.stdout.write(`${LIVEGRAD_VERSION}\n`);
        return 0;
      case undefined:
      case '-h':
      case '--help':
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new TypeError(`Expected a command (serve, watch, stream, replay, inspect, repair), got ${command}`);
    }
  } catch (e) {
    if (e instanceof TypeError || e instanceof RangeError) {
      process.stderr.write(`livegrad: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    process.stderr.write(`livegrad: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  process.exitCode = await main(process.argv.slice(2));
  process.exit();
}
