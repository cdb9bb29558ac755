/**
 * Fuzz: random bytes (binary and text frames) and random objects shaped like messages, sent over
 * a live connection. Every frame is answered (a reply or an `error` with a known code), the
 * connection stays open, the server stays up, and a healthy session beside it trains on,
 * its subscriber missing no step.
 */
import fc from 'fast-check';
import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { CLIENT_MESSAGE_TYPES, type ErrorCode } from '../../src/index.js';
import { createMessage, produce, samples, useServers } from '../helpers/server.js';
import { f32, type Msg, type TestClient } from '../helpers/ws-client.js';

const { start, connect } = useServers();

const CODES: readonly ErrorCode[] = [
  'E_BAD_FRAME', 'E_BAD_MESSAGE', 'E_UNKNOWN_TYPE', 'E_BAD_FIELD', 'E_BAD_TENSOR', 'E_DTYPE', 'E_SHAPE', 'E_NON_FINITE',
  'E_LABEL_RANGE', 'E_BAD_MODEL', 'E_BAD_CONFIG', 'E_BAD_STATE', 'E_BAD_CONTROL', 'E_UNKNOWN_SESSION', 'E_SESSION_EXISTS',
  'E_SESSION_CLOSED', 'E_BAD_SEQ', 'E_NO_CREDIT',
];

/** Field values: mostly wrong, sometimes right. */
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -5, max: 100 }),
  fc.double(),
  fc.string({ maxLength: 10 }),
  fc.constantFrom('fuzz', 'float32', 'float64', 'sgd', 'crossEntropy', 'tanh', 'softmax', 'pause', 'step'),
  fc.uint8Array({ maxLength: 40 }),
  fc.array(fc.oneof(fc.double(), fc.integer({ min: 0, max: 3 }), fc.array(fc.double(), { maxLength: 5 })), { maxLength: 5 }),
  fc.record({ dtype: fc.constantFrom('float32', 'float64', 'x'), shape: fc.array(fc.integer({ min: -1, max: 5 }), { maxLength: 3 }), data: fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.array(fc.double(), { maxLength: 8 })) }),
  fc.record({ action: fc.constantFrom('set', 'pause', 'step', 'jump'), lr: fc.oneof(fc.double(), fc.string()), batchSize: fc.integer({ min: -2, max: 70_000 }) }, { requiredKeys: ['action'] }),
);

const FIELDS = ['session', 'seq', 'x', 'y', 'model', 'loss', 'optimizer', 'batchSize', 'topics', 'rates', 'fromStep', 'control', 'atStep', 'events', 'credits', 'id', 'drain'];

/** Objects with a real or bogus `type` and random fields; never the healthy session's name, never close. */
const messageLike = fc
  .record({
    type: fc.oneof(fc.constantFrom(...CLIENT_MESSAGE_TYPES.filter((t) => t !== 'close')), fc.string({ maxLength: 8 }), fc.integer()),
    fields: fc.dictionary(fc.constantFrom(...FIELDS), anyValue, { maxKeys: 6 }),
    session: fc.constantFrom('fuzz', 'nope', '', 'a b'),
  })
  .map(({ type, fields, session }) => ({ ...fields, type, session }));

async function settle(c: TestClient): Promise<Msg> {
  return c.ok({ type: 'ping' });
}

describe('fuzz', () => {
  it('answers random bytes and random message-like objects with errors, and nothing else breaks', async () => {
    const server = await start();
    const healthy = await connect(server);
    const watcher = await connect(server);
    const fuzzer = await connect(server);
    await healthy.ok(createMessage('healthy'));
    await healthy.ok(createMessage('fuzz'));
    await watcher.ok({ type: 'subscribe', session: 'healthy', topics: ['step'] });
    let seq = 0;

    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.uint8Array({ minLength: 1, maxLength: 200 }).map((b) => ({ raw: Buffer.from(b) as Buffer | string })),
            fc.string({ maxLength: 100 }).map((s) => ({ raw: s as Buffer | string })),
            fc.tuple(messageLike, fc.boolean()).map(([m, json]) => ({ message: m as Msg, json })),
          ),
          { minLength: 1, maxLength: 25 },
        ),
        async (frames) => {
          const from = fuzzer.messages.length;
          for (const f of frames) {
            if ('raw' in f) fuzzer.sendRaw(f.raw);
            else fuzzer.send(f.message, f.json ? 'json' : 'msgpack');
          }
          const healthySeq = seq++;
          healthy.send(samples('healthy', healthySeq, 4));
          // replies that need the session's training thread (ack, control, predict, snapshot) may
          // come after a later pong: wait for one message per frame, then for the pong
          await fuzzer.waitFor(() => true, { from: from + frames.length - 1 });
          await settle(fuzzer);
          const replies = fuzzer.messages.slice(from, -1);
          expect(replies.length).toBeGreaterThanOrEqual(frames.length);
          for (const m of replies) {
            if (m['type'] === 'error') expect(CODES, JSON.stringify(m)).toContain(m['code']);
          }
          // within its credits: on a loaded machine its session may lag behind these rounds
          await healthy.waitFor((m) => m['type'] === 'ack' && m['session'] === 'healthy' && m['seq'] === healthySeq, { timeoutMs: 20_000 });
        },
      ),
      { seed: 11, numRuns: 60 },
    );
    expect(fuzzer.ws.readyState).toBe(fuzzer.ws.OPEN);
    await produce(healthy, 'healthy', 5, 4, { firstSeq: seq });
    const last = seq + 5;
    await watcher.waitFor((m) => m['type'] === 'step' && m['step'] === last, { timeoutMs: 20_000 });
    expect(watcher.of('step', 'healthy').map((m) => m['step'])).toEqual([...Array(last).keys()].map((i) => i + 1));
    const health = (await (await fetch(`http://127.0.0.1:${server.port}/healthz`)).json()) as { status: string };
    expect(health.status).toBe('ok');
  });

  it('answers every random MessagePack value (not only maps) with a reply or a known error', async () => {
    const server = await start();
    const c = await connect(server);
    await c.ok(createMessage('fuzz'));
    await fc.assert(
      fc.asyncProperty(fc.anything({ maxDepth: 3, withMap: false, withSet: false, withBigInt: false, withDate: false, withTypedArray: false, withSparseArray: false, withNullPrototype: true }), async (v) => {
        const from = c.messages.length;
        c.sendRaw(pack(v));
        await settle(c);
        const replies = c.messages.slice(from, -1);
        expect(replies).toHaveLength(1);
        if (replies[0]!['type'] === 'error') expect(CODES, JSON.stringify(replies[0])).toContain(replies[0]!['code']);
      }),
      { seed: 5, numRuns: 150 },
    );
    c.send({ type: 'samples', session: 'fuzz', seq: 1_000_000, x: f32([1, 4], [0, 0, 0, 0]), y: [0] });
    await c.waitFor((m) => m['type'] === 'ack');
  });
});
