/**
 * `/metrics` in the Prometheus text exposition format (version 0.0.4): the server's counters,
 * per-session gauges, and the process's CPU and memory.
 */
import type { SessionInfo } from '../protocol/messages.js';

/** Counters since the server started. Plain fields: the hot paths increment them directly. */
export interface Counters {
  connectionsTotal: number;
  messagesIn: number;
  bytesIn: number;
  messagesOut: number;
  bytesOut: number;
  steps: number;
  samples: number;
  /** Latest-wins events replaced by a newer one before they were sent. */
  conflated: number;
  /** Lossless events skipped by a subscriber's rate limit. */
  rateLimited: number;
  /** Connections closed with 1013 for staying over their outbox budget. */
  slowClosed: number;
  /** Messages dropped because their connection exceeded its message rate. */
  flooded: number;
  readonly errors: Map<string, number>;
}

export function createCounters(): Counters {
  return {
    connectionsTotal: 0,
    messagesIn: 0,
    bytesIn: 0,
    messagesOut: 0,
    bytesOut: 0,
    steps: 0,
    samples: 0,
    conflated: 0,
    rateLimited: 0,
    slowClosed: 0,
    flooded: 0,
    errors: new Map(),
  };
}

export function countError(c: Counters, code: string): void {
  c.errors.set(code, (c.errors.get(code) ?? 0) + 1);
}

export interface Gauges {
  readonly connections: number;
  readonly sessions: readonly SessionInfo[];
  /** Bytes waiting in every outbox. */
  readonly outboxBytes: number;
  /** Bytes waiting in the fullest outbox. */
  readonly largestOutboxBytes: number;
}

function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function renderMetrics(c: Counters, g: Gauges): string {
  const out: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge', help: string, samples: readonly (readonly [string, number])[]): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) out.push(`${name}${labels} ${Number.isFinite(v) ? v : 0}`);
  };
  const one = (v: number): [string, number][] => [['', v]];
  const perSession = (f: (s: SessionInfo) => number): [string, number][] => g.sessions.map((s) => [`{session="${label(s.session)}"}`, f(s)]);

  metric('livegrad_sessions', 'gauge', 'Training sessions open.', one(g.sessions.length));
  metric('livegrad_connections', 'gauge', 'WebSocket connections open.', one(g.connections));
  metric('livegrad_connections_total', 'counter', 'WebSocket connections accepted.', one(c.connectionsTotal));
  metric('livegrad_steps_total', 'counter', 'Training steps taken, all sessions.', one(c.steps));
  metric('livegrad_samples_total', 'counter', 'Samples trained on, all sessions.', one(c.samples));
  metric('livegrad_session_steps', 'gauge', 'Steps taken by a session.', perSession((s) => s.step));
  metric('livegrad_session_samples', 'gauge', 'Samples trained on by a session.', perSession((s) => s.samples));
  metric('livegrad_queue_depth', 'gauge', 'Batches waiting to train plus sample messages waiting for room, per session.', perSession((s) => s.queueDepth));
  metric('livegrad_subscribers', 'gauge', 'Subscriptions, per session.', perSession((s) => s.subscribers));
  metric('livegrad_messages_in_total', 'counter', 'WebSocket messages received.', one(c.messagesIn));
  metric('livegrad_bytes_in_total', 'counter', 'WebSocket message bytes received.', one(c.bytesIn));
  metric('livegrad_messages_out_total', 'counter', 'WebSocket messages sent.', one(c.messagesOut));
  metric('livegrad_bytes_out_total', 'counter', 'WebSocket message bytes sent.', one(c.bytesOut));
  metric('livegrad_outbox_bytes', 'gauge', 'Bytes waiting in outboxes.', one(g.outboxBytes));
  metric('livegrad_outbox_bytes_max', 'gauge', 'Bytes waiting in the fullest outbox (a slow consumer shows here before it is closed).', one(g.largestOutboxBytes));
  metric('livegrad_events_dropped_total', 'counter', 'Events not sent to a subscriber: conflated (a newer one replaced it) or rate (its rate limit).', [
    ['{reason="conflated"}', c.conflated],
    ['{reason="rate"}', c.rateLimited],
  ]);
  metric('livegrad_slow_consumers_closed_total', 'counter', 'Connections closed with 1013 for staying over their outbox budget.', one(c.slowClosed));
  metric('livegrad_flooded_messages_total', 'counter', 'Messages dropped for exceeding the per-connection message rate.', one(c.flooded));
  metric('livegrad_errors_total', 'counter', 'Error replies and protocol faults, by code.', [...c.errors].sort().map(([code, n]) => [`{code="${label(code)}"}`, n]));

  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  metric('process_cpu_user_seconds_total', 'counter', 'User CPU time.', one(cpu.user / 1e6));
  metric('process_cpu_system_seconds_total', 'counter', 'System CPU time.', one(cpu.system / 1e6));
  metric('process_resident_memory_bytes', 'gauge', 'Resident set size.', one(mem.rss));
  metric('nodejs_heap_used_bytes', 'gauge', 'V8 heap used.', one(mem.heapUsed));
  return `${out.join('\n')}\n`;
}
