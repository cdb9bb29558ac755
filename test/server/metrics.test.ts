/** /metrics text: Prometheus exposition format with HELP, TYPE and labelled samples. */
import { describe, expect, it } from 'vitest';
import { countError, createCounters, renderMetrics } from '../../src/server/metrics.js';
import type { SessionInfo } from '../../src/index.js';

describe('renderMetrics', () => {
  it('writes every metric with HELP and TYPE, sessions and error codes as labels', () => {
    const c = createCounters();
    c.steps = 5;
    c.conflated = 2;
    countError(c, 'E_SHAPE');
    countError(c, 'E_SHAPE');
    const s = { session: 'a"b', step: 5, samples: 40, queueDepth: 1, subscribers: 2 } as SessionInfo;
    const text = renderMetrics(c, { connections: 3, sessions: [s], outboxBytes: 700, largestOutboxBytes: 600 });
    const lines = text.trim().split('\n');
    for (const line of lines) expect(line).toMatch(/^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? [-0-9.e+]+)$/);
    expect(lines).toContain('livegrad_steps_total 5');
    expect(lines).toContain('livegrad_connections 3');
    expect(lines).toContain('livegrad_session_steps{session="a\\"b"} 5');
    expect(lines).toContain('livegrad_errors_total{code="E_SHAPE"} 2');
    expect(lines).toContain('livegrad_events_dropped_total{reason="conflated"} 2');
    expect(lines).toContain('# TYPE livegrad_queue_depth gauge');
    expect(lines).toContain('livegrad_outbox_bytes 700');
    expect(lines).toContain('livegrad_outbox_bytes_max 600');
  });
});
