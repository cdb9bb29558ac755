/**
 * Frames built to be costly to decode — a 3 MB BigInt extension as a `ping` id, 4 M one-byte maps,
 * nesting 4 M deep, thousands of distinct keys — are answered E_BAD_FRAME from the scan, before
 * anything is decoded; the connection goes on, and so does another session's training.
 */
import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { createMessage, produce, useServers } from '../helpers/server.js';
import type { TestClient } from '../helpers/ws-client.js';

const { start, connect } = useServers();

/** `{type: "ping", id: <raw>}`: the value of id starts at byte 14. */
const ping = (raw: Buffer): Buffer => Buffer.concat([Buffer.from([0x82]), pack('type'), pack('ping'), pack('id'), raw]);
const u32 = (n: number): Buffer => Buffer.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);

const FRAMES: readonly { name: string; frame: () => Buffer | string; says: string }[] = [
  {
    name: 'a 3 MB BigInt extension as a ping id',
    frame: () => ping(Buffer.concat([Buffer.from([0xc9]), u32(3_000_000), Buffer.from([0x42]), Buffer.alloc(3_000_000, 0x7f)])),
    says: 'got an extension type (0xc9, ext 32) at byte 14',
  },
  {
    name: '4 M empty maps',
    frame: () => ping(Buffer.concat([Buffer.from([0xdd]), u32(4_000_000), Buffer.alloc(4_000_000, 0x80)])),
    says: 'got more than 65536 strings, bins, arrays and maps',
  },
  { name: 'nesting 4 M deep', frame: () => ping(Buffer.concat([Buffer.alloc(4_000_000, 0x91), Buffer.from([0x00])])), says: 'got arrays and maps nested deeper than 64 at byte 77' },
  {
    name: '100,000 distinct keys',
    frame: () => ping(Buffer.concat([Buffer.from([0xdf]), u32(100_000), ...Array.from({ length: 100_000 }, (_, i) => Buffer.concat([pack(`k${i}`), Buffer.from([0])]))])),
    says: 'got more than 4096 map keys',
  },
  { name: 'a JSON text nested 2 M deep', frame: () => `{"type":"ping","id":${'['.repeat(2_000_000)}${']'.repeat(2_000_000)}}`, says: 'Expected a JSON message in a text frame, got arrays and objects nested deeper than 64 at byte 83' },
];

/** Sends one chunk of 4 rows at a time and waits for its ack, until `stop()`; resolves with the chunks sent. */
function stream(c: TestClient, session: string): { stop: () => Promise<number> } {
  let going = true;
  const done = (async () => {
    let seq = 0;
    while (going) await produce(c, session, 1, 4, { firstSeq: seq++ });
    return seq;
  })();
  return {
    stop: () => {
      going = false;
      return done;
    },
  };
}

describe('frames costly to decode', () => {
  it('are E_BAD_FRAME from the scan; the connection and another session go on', async () => {
    const server = await start({ trainingThreads: false });
    const producer = await connect(server);
    const watcher = await connect(server);
    const attacker = await connect(server);
    await producer.ok(createMessage('healthy'));
    await watcher.ok({ type: 'subscribe', session: 'healthy', topics: ['step'] });
    const healthy = stream(producer, 'healthy');

    for (const { name, frame, says } of FRAMES) {
      const data = frame();
      expect(Buffer.byteLength(data), name).toBeLessThanOrEqual(4 * 2 ** 20); // under maxPayload: decoded, not refused for its size
      const from = attacker.messages.length;
      attacker.sendRaw(data);
      const err = await attacker.waitFor((m) => m['type'] === 'error', { from });
      expect(err, name).toMatchObject({ code: 'E_BAD_FRAME', ref: null });
      expect(err['message'], name).toContain(says);
      // the same connection still answers
      expect(await attacker.ok({ type: 'ping' }), name).toMatchObject({ type: 'pong' });
    }

    const chunks = await healthy.stop();
    expect(chunks).toBeGreaterThan(0);
    // the other session trained every chunk, and its subscriber saw every step
    await watcher.waitFor((m) => m['type'] === 'step' && m['step'] === chunks, { timeoutMs: 10_000 });
    expect(watcher.of('step', 'healthy').map((m) => m['step'])).toEqual([...Array(chunks).keys()].map((i) => i + 1));
  });
});
