/**
 * `createServer(options)`: one HTTP server with the WebSocket protocol at `/ws`, `/healthz`,
 * `/metrics` and `/` (see http.ts), several named training sessions, and graceful shutdown.
 *
 * @example
 *   const server = await createServer({ port: 8080, producerToken: process.env.TOKEN });
 *   console.log(server.url); // ws://127.0.0.1:8080/ws
 *   …
 *   await server.close();   // sessions stop at a batch boundary, outboxes flush, sockets close with 1001
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { describe } from '../errors.js';
import { PROTOCOL_VERSION } from '../protocol/version.js';
import { Connection, type ConnectionOptions } from './connection.js';
import { gate, refuseUpgrade, requestHandler } from './http.js';
import { Hub } from './hub.js';
import { createLogger, LOG_LEVELS, type Logger, type LogLevel } from './log.js';
import { countError, createCounters, renderMetrics } from './metrics.js';
import type { OutboxOptions } from './outbox.js';
import { LivegradSocket } from './socket.js';
import { resolve as resolvePath } from 'node:path';
import { FSYNC_POLICIES, type FsyncPolicy } from '../record/writer.js';
import { findRecoverable } from './recovery.js';
import { checkSpeed, ReplaySession, type ReplaySpeed } from './replay-session.js';
import { openRecording } from '../record/recording.js';

export interface ServerOptions {
  /** Default 127.0.0.1 (loopback only). */
  readonly host?: string;
  /** Default 8080; 0 picks a free port. */
  readonly port?: number;
  /** Required for create, samples, control, close when set. */
  readonly producerToken?: string | undefined;
  /** Required for list, subscribe, unsubscribe, predict, snapshot when set (the producer token also allows them). */
  readonly readToken?: string | undefined;
  /** Allowed Origin header values (browsers); empty: any. */
  readonly origins?: readonly string[];
  /** Largest inbound message, bytes. Default 4 MiB. */
  readonly maxPayload?: number;
  /** Per-connection message rate: tokens per second and bucket size. Default 10,000 / 20,000. */
  readonly messagesPerSecond?: number;
  readonly burst?: number;
  /** Ping interval; a peer that has not answered the previous ping is terminated. Default 15 s. */
  readonly heartbeatMs?: number;
  readonly maxConnections?: number;
  readonly maxSessions?: number;
  /** Largest model a client may create. Default 10 M parameters. */
  readonly maxParameters?: number;
  /** Largest batch × units summed over layers. Default 50 M. */
  readonly maxActivations?: number;
  /** Default credits (unacknowledged samples messages per producer) of a session. Default 8. */
  readonly credits?: number;
  /** Default ingest queue of a session, in batches. Default 16. */
  readonly queueCapacity?: number;
  /** Lossless events per session kept for `fromStep` replay. Default 4096. */
  readonly replayEvents?: number;
  /**
   * Most messages waiting their turn in one session (samples not yet acknowledged, controls and
   * calls not yet answered), and most bytes of samples among them: one more is refused with
   * E_BACKLOG. Default 4096 messages, 64 MiB.
   */
  readonly maxBacklogMessages?: number;
  readonly maxBacklogBytes?: number;
  /** Close a session that has had no producer and no subscriber for this long, ms; 0: never. Default 10 minutes. */
  readonly sessionIdleMs?: number;
  /**
   * Train each session on a worker thread of its own (the default): training never delays the
   * sockets — a step of a large model can take seconds — and sessions train side by side on
   * spare cores. false: on the main thread, between socket events (no thread hand-off; on a
   * machine with one or two CPUs a little faster, but every socket waits while a step runs:
   * docs/benchmarks.md, "Server").
   */
  readonly trainingThreads?: boolean;
  /**
   * Threads for each session's `wasm` kernels: 1 (the default) or 2. A session already has a
   * thread of its own (`trainingThreads`) beside the main thread's I/O, so a second kernel thread
   * per session competes with them on a machine of one or two CPUs; 2 pays where cores are spare
   * and models are large. Never changes a result. Sessions with the `js` kernels use one.
   */
  readonly kernelThreads?: number;
  /** Per-connection outbox: low-water mark, lossless budget, grace period. */
  readonly outbox?: Partial<OutboxOptions>;
  /**
   * Longest a shutdown waits for each of: sessions to stop (a session thread still in a step is
   * then terminated and its session fails), outboxes to flush, sockets to close. Default 5 s.
   */
  readonly shutdownTimeoutMs?: number;
  /** A logger, or a level for the built-in JSON-lines logger. Default `silent`. */
  readonly log?: Logger | LogLevel;
  /**
   * Record every session (unless its `create` says `record: false`) under `record/<session>/`
   * (docs/recording.md), and at start bring back every session whose log there is not finished.
   */
  readonly record?: string | undefined;
  /** When a recorded `samples` is acknowledged: once its record is fsynced (`always`), fsynced with others within a few ms (`batch`, the default), or written to the OS (`never`). */
  readonly fsync?: FsyncPolicy;
  /** A checkpoint in a session's log every this many steps. Default 1000. */
  readonly checkpointEvery?: number;
  /** Record every event a session emits, not only lifecycle, control and error events. Default false. */
  readonly recordEvents?: boolean;
  /** Bytes after which a log starts a new segment. Default 64 MiB. */
  readonly segmentBytes?: number;
  /**
   * Recordings to play as sessions named after them (`livegrad replay LOG --serve`): subscribed to
   * like live ones, steered with `replay` (play, pause, seek, speed). `speed`: steps per second or
   * "max" (default); `paused`: wait for a `replay` play (default false).
   */
  readonly replays?: readonly { readonly path: string; readonly speed?: ReplaySpeed; readonly paused?: boolean }[];
}

export const DEFAULT_SERVER_OPTIONS = {
  host: '127.0.0.1',
  port: 8080,
  maxPayload: 4 * 2 ** 20,
  messagesPerSecond: 10_000,
  burst: 20_000,
  heartbeatMs: 15_000,
  maxConnections: 10_000,
  maxSessions: 64,
  maxParameters: 10_000_000,
  maxActivations: 50_000_000,
  credits: 8,
  queueCapacity: 16,
  replayEvents: 4096,
  maxBacklogMessages: 4096,
  maxBacklogBytes: 64 * 2 ** 20,
  sessionIdleMs: 10 * 60_000,
  trainingThreads: true,
  kernelThreads: 1,
  outbox: { lowWaterBytes: 256 * 2 ** 10, maxBytes: 8 * 2 ** 20, maxMessages: 50_000, graceMs: 5000 } satisfies OutboxOptions,
  shutdownTimeoutMs: 5000,
  fsync: 'batch',
  checkpointEvery: 1000,
  recordEvents: false,
  segmentBytes: 64 * 2 ** 20,
} as const;

export interface LivegradServer {
  readonly host: string;
  readonly port: number;
  /** `ws://host:port/ws` */
  readonly url: string;
  readonly httpServer: Server;
  /** Sessions and connections open now; bytes waiting in all outboxes, and in the fullest one. */
  stats(): { sessions: number; connections: number; outboxBytes: number; largestOutboxBytes: number };
  /** Stops accepting, stops every session at its current batch boundary, flushes, closes sockets with 1001. Idempotent. */
  close(): Promise<void>;
}

function positive(v: unknown, what: string, min = 1): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new RangeError(`Expected ${what} to be a number ≥ ${min}, got ${describe(v)}`);
  return v;
}

function token(v: unknown, what: string): string | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') throw new TypeError(`Expected ${what} to be a string, got ${describe(v)}`);
  return v;
}

function resolve(options: ServerOptions) {
  if (typeof options !== 'object' || options === null) throw new TypeError(`Expected server options object, got ${describe(options)}`);
  const d = DEFAULT_SERVER_OPTIONS;
  const o = { ...d, ...options, outbox: { ...d.outbox, ...options.outbox } };
  if (typeof o.host !== 'string' || o.host.length === 0) throw new TypeError(`Expected host to be a non-empty string, got ${describe(o.host)}`);
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new RangeError(`Expected port to be an integer in [0, 65535], got ${describe(o.port)}`);
  const origins = options.origins ?? [];
  if (!Array.isArray(origins) || origins.some((x) => typeof x !== 'string')) throw new TypeError(`Expected origins to be an array of strings, got ${describe(origins)}`);
  for (const key of ['maxPayload', 'messagesPerSecond', 'burst', 'heartbeatMs', 'maxConnections', 'maxSessions', 'maxParameters', 'maxActivations', 'credits', 'queueCapacity', 'maxBacklogMessages', 'maxBacklogBytes', 'shutdownTimeoutMs'] as const) {
    positive(o[key], key);
  }
  positive(o.replayEvents, 'replayEvents', 0);
  positive(o.sessionIdleMs, 'sessionIdleMs', 0);
  if (o.record !== undefined && (typeof o.record !== 'string' || o.record === '')) throw new TypeError(`Expected record to be a directory path, got ${describe(o.record)}`);
  if (!FSYNC_POLICIES.includes(o.fsync)) throw new TypeError(`Expected fsync one of ${FSYNC_POLICIES.join(', ')}, got ${describe(o.fsync)}`);
  if (!Number.isInteger(o.checkpointEvery) || o.checkpointEvery < 0) throw new RangeError(`Expected checkpointEvery to be an integer ≥ 0, got ${describe(o.checkpointEvery)}`);
  if (typeof o.recordEvents !== 'boolean') throw new TypeError(`Expected recordEvents to be a boolean, got ${describe(o.recordEvents)}`);
  positive(o.segmentBytes, 'segmentBytes');
  if (typeof o.trainingThreads !== 'boolean') throw new TypeError(`Expected trainingThreads to be a boolean, got ${describe(o.trainingThreads)}`);
  if (o.kernelThreads !== 1 && o.kernelThreads !== 2) throw new RangeError(`Expected kernelThreads to be 1 or 2, got ${describe(o.kernelThreads)}`);
  positive(o.outbox.lowWaterBytes, 'outbox.lowWaterBytes');
  positive(o.outbox.maxBytes, 'outbox.maxBytes');
  positive(o.outbox.maxMessages, 'outbox.maxMessages');
  positive(o.outbox.graceMs, 'outbox.graceMs', 0);
  const log = o.log === undefined || typeof o.log === 'string' ? createLogger({ level: (o.log as LogLevel | undefined) ?? 'silent' }) : o.log;
  if (typeof o.log === 'string' && !LOG_LEVELS.includes(o.log)) throw new TypeError(`Expected log level one of ${LOG_LEVELS.join(', ')}, got ${o.log}`);
  return { ...o, origins, log, producerToken: token(options.producerToken, 'producerToken'), readToken: token(options.readToken, 'readToken') };
}

/** Starts a server and resolves once it listens. Bad options throw TypeError / RangeError synchronously (as a rejected promise). */
export async function createServer(options: ServerOptions = {}): Promise<LivegradServer> {
  const o = resolve(options);
  const log = o.log;
  const counters = createCounters();
  const hub = new Hub(
    {
      maxSessions: o.maxSessions,
      session: {
        credits: o.credits,
        queueCapacity: o.queueCapacity,
        replayEvents: o.replayEvents,
        thread: o.trainingThreads,
        kernelThreads: o.kernelThreads,
        backlog: { messages: o.maxBacklogMessages, bytes: o.maxBacklogBytes },
        idleMs: o.sessionIdleMs,
      },
      limits: { maxParameters: o.maxParameters, maxActivations: o.maxActivations },
      replay: { messages: Math.floor(o.outbox.maxMessages / 2), bytes: Math.floor(o.outbox.maxBytes / 2) },
      ...(o.record === undefined
        ? {}
        : { record: { dir: resolvePath(o.record), options: { fsync: o.fsync, checkpointEvery: o.checkpointEvery, events: o.recordEvents, segmentBytes: o.segmentBytes } } }),
    },
    counters,
    log,
  );
  for (const r of o.replays ?? []) {
    if (typeof r !== 'object' || r === null || typeof r.path !== 'string') throw new TypeError(`Expected replays as [{ path, speed?, paused? }], got ${describe(r)}`);
    hub.play(new ReplaySession(await openRecording(r.path), { speed: checkSpeed(r.speed ?? 'max'), playing: r.paused !== true, ringEvents: o.replayEvents }, counters));
  }
  // restart is recovery: the sessions a stopped or lost server left in its record directory come back before anyone connects
  if (o.record !== undefined) for (const r of await findRecoverable(resolvePath(o.record), log)) hub.recover(r);
  const connectionOptions: ConnectionOptions = {
    outbox: o.outbox,
    messagesPerSecond: o.messagesPerSecond,
    burst: o.burst,
    maxPayload: o.maxPayload,
    heartbeatMs: o.heartbeatMs,
    serverName: 'livegrad',
    sessionLimits: { maxSessions: o.maxSessions, sessionIdleMs: o.sessionIdleMs, maxBacklogMessages: o.maxBacklogMessages, maxBacklogBytes: o.maxBacklogBytes },
  };
  let stopping = false;
  let nextId = 1;
  const started = Date.now();
  /** Bytes waiting in every outbox, and in the fullest one. */
  const outboxes = (): { outboxBytes: number; largestOutboxBytes: number } => {
    let n = 0, largest = 0;
    for (const c of hub.connections) {
      const b = c.bufferedBytes;
      n += b;
      if (b > largest) largest = b;
    }
    return { outboxBytes: n, largestOutboxBytes: largest };
  };

  const wss = new WebSocketServer({ noServer: true, maxPayload: o.maxPayload, perMessageDeflate: false, clientTracking: false, WebSocket: LivegradSocket });
  const http = createHttpServer(
    requestHandler({
      health: () => ({
        status: stopping ? 503 : 200,
        body: {
          status: stopping ? 'shutting-down' : 'ok',
          protocol: PROTOCOL_VERSION,
          uptimeSeconds: Math.round((Date.now() - started) / 1000),
          sessions: hub.sessions.size,
          connections: hub.connections.size,
        },
      }),
      metrics: () => renderMetrics(counters, { connections: hub.connections.size, sessions: [...hub.sessions.values()].map((s) => s.info()), ...outboxes() }),
    }),
  );
  http.on('upgrade', (req, socket, head) => {
    const g = gate(req, { stopping, connections: hub.connections.size, maxConnections: o.maxConnections, auth: o });
    if (!g.ok) {
      countError(counters, g.code);
      log.info('upgrade refused', { status: g.status, code: g.code, address: req.socket.remoteAddress });
      refuseUpgrade(socket, g.status, g.code, g.message);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const id = nextId++;
      counters.connectionsTotal++;
      const conn = new Connection(id, ws as LivegradSocket, socket, g.permissions, g.format, connectionOptions, hub, counters, log);
      hub.connections.add(conn);
      log.debug('connection opened', { connection: id, address: req.socket.remoteAddress, permissions: g.permissions });
    });
  });
  http.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  const heartbeat = setInterval(() => {
    for (const c of hub.connections) c.heartbeat();
  }, o.heartbeatMs);
  heartbeat.unref();

  await new Promise<void>((res, rej) => {
    http.once('error', rej);
    http.listen(o.port, o.host, () => {
      http.off('error', rej);
      res();
    });
  });
  http.on('error', (err) => log.error('http server error', { error: err.message }));
  const address = http.address() as AddressInfo;
  const host = o.host;
  const port = address.port;
  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  log.info('listening', { host, port, url: `ws://${hostInUrl}:${port}/ws`, protocol: PROTOCOL_VERSION });

  let closing: Promise<void> | undefined;
  async function shutdown(): Promise<void> {
    stopping = true;
    clearInterval(heartbeat);
    log.info('shutting down', { sessions: hub.sessions.size, connections: hub.connections.size });
    const httpClosed = new Promise<void>((res) => http.close(() => res()));
    http.closeIdleConnections();
    await hub.stop(o.shutdownTimeoutMs);
    const conns = [...hub.connections];
    await Promise.all(conns.map((c) => c.flushed(o.shutdownTimeoutMs)));
    for (const c of conns) c.close(1001, 'E_SHUTTING_DOWN: server shutting down');
    await Promise.all(conns.map((c) => c.closedSocket(o.shutdownTimeoutMs)));
    http.closeAllConnections();
    await httpClosed;
    wss.close();
    log.info('stopped', {});
  }

  return {
    host,
    port,
    url: `ws://${hostInUrl}:${port}/ws`,
    httpServer: http,
    stats: () => ({ sessions: hub.sessions.size, connections: hub.connections.size, ...outboxes() }),
    close() {
      closing ??= shutdown();
      return closing;
    },
  };
}
