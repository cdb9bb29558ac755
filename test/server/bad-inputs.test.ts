/**
 * Bad input is a clear error, never a crash: a table of malformed, mistyped, misshapen,
 * non-finite, unauthorised, oversize and flooding inputs, each answered with its stable code
 * (and for protocol faults, a close with 1002, 1007, 1008 or 1009), while a second, healthy
 * session keeps training and its subscriber misses no step.
 */
import { pack } from 'msgpackr';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type LivegradServer } from '../../src/index.js';
import { createMessage, samples, TINY } from '../helpers/server.js';
import { f32, TestClient, type Msg } from '../helpers/ws-client.js';

const PRODUCER = 'producer-secret';
const READER = 'reader-secret';

interface Row {
  readonly name: string;
  readonly send: (c: TestClient) => void;
  readonly code: string;
  /** The reply's `ref`: the id or seq of the message, null when it had none. */
  readonly ref?: string | number | null;
  /** Close code for protocol faults. */
  readonly close?: number;
  readonly token?: string;
  /** Text the error message must contain. */
  readonly says?: string;
}

const x4 = (rows: number, v = 0.5) => f32([rows, 4], new Array<number>(rows * 4).fill(v));
const labels = (...ls: number[]) => f32([ls.length], ls);

const ROWS: Row[] = [
  { name: 'a map as the id of samples', send: (c) => c.send({ ...samples('v', 1, 4), id: { a: 1 } }), code: 'E_BAD_FIELD', ref: 1, says: 'Expected id to be a string of at most 128 characters' },
  { name: 'MessagePack with the never-used byte', send: (c) => c.sendRaw(Buffer.from([0xc1])), code: 'E_BAD_FRAME', ref: null },
  { name: 'truncated MessagePack', send: (c) => c.sendRaw(pack({ type: 'list', id: 'x' }).subarray(0, 6)), code: 'E_BAD_FRAME', ref: null },
  { name: 'an empty binary frame', send: (c) => c.sendRaw(Buffer.alloc(0)), code: 'E_BAD_FRAME' },
  { name: 'malformed JSON', send: (c) => c.sendRaw('{"type": "list",'), code: 'E_BAD_FRAME' },
  { name: 'a MessagePack array, not a map', send: (c) => c.sendRaw(pack([1, 2, 3])), code: 'E_BAD_MESSAGE', says: 'got an array of length 3' },
  { name: 'a JSON string, not a map', send: (c) => c.sendRaw('"hello"'), code: 'E_BAD_MESSAGE' },
  { name: 'a map without type', send: (c) => c.send({ id: 'q1', session: 'v' }), code: 'E_BAD_MESSAGE', ref: 'q1' },
  { name: 'an unknown type', send: (c) => c.send({ type: 'train', id: 'q2' }), code: 'E_UNKNOWN_TYPE', ref: 'q2', says: 'got "train"' },
  { name: 'a missing session', send: (c) => c.send({ type: 'snapshot', id: 'q3' }), code: 'E_BAD_FIELD', ref: 'q3', says: 'Expected session' },
  { name: 'a string seq', send: (c) => c.send({ type: 'samples', session: 'v', seq: '1', x: x4(1), y: labels(0) }), code: 'E_BAD_FIELD', says: 'Expected seq to be an integer' },
  { name: 'tensor bytes that do not match the shape', send: (c) => c.send({ type: 'samples', session: 'v', seq: 1, x: { dtype: 'float32', shape: [2, 4], data: new Uint8Array(28) }, y: labels(0, 1) }), code: 'E_BAD_TENSOR', ref: 1, says: 'to hold 32 bytes' },
  { name: 'ragged nested arrays', send: (c) => c.send({ type: 'samples', session: 'v', seq: 1, x: [[1, 2, 3, 4], [1, 2]], y: [0, 1] }), code: 'E_BAD_TENSOR', ref: 1 },
  { name: 'an unknown dtype', send: (c) => c.send({ type: 'samples', session: 'v', seq: 1, x: { dtype: 'int32', shape: [1, 4], data: [1, 2, 3, 4] }, y: [0] }), code: 'E_DTYPE', ref: 1 },
  { name: 'a float64 tensor for a float32 session', send: (c) => c.send({ type: 'samples', session: 'v', seq: 1, x: { dtype: 'float64', shape: [1, 4], data: new Uint8Array(32) }, y: [0] }), code: 'E_DTYPE', ref: 1 },
  { name: 'x of the wrong width for the session', send: (c) => c.send({ type: 'samples', session: 'v', seq: 1, x: f32([1, 5], [1, 2, 3, 4, 5]), y: labels(0) }), code: 'E_SHAPE', ref: 1, says: 'Expected x of shape [m ≥ 1, 4], got [1, 5]' },
  { name: 'y rows that do not match x', send: (c) => c.send({ type: 'samples', session: 'v', seq: 1, x: x4(2), y: labels(0) }), code: 'E_SHAPE', ref: 1 },
  { name: 'one-hot y of the wrong width', send: (c) => c.send({ type: 'samples', session: 'v', seq: 1, x: x4(1), y: f32([1, 2], [0, 1]) }), code: 'E_SHAPE', ref: 1 },
  { name: 'NaN in x', send: (c) => c.send({ type: 'samples', session: 'v', seq: 1, x: f32([1, 4], [0, NaN, 0, 0]), y: labels(0) }), code: 'E_NON_FINITE', ref: 1, says: 'got NaN at row 0, column 1' },
  { name: 'Infinity in y', send: (c) => c.send({ type: 'samples', session: 'v', seq: 1, x: x4(1), y: f32([1, 3], [0, Infinity, 0]) }), code: 'E_NON_FINITE', ref: 1 },
  { name: 'a label out of range', send: (c) => c.send({ type: 'samples', session: 'v', seq: 1, x: x4(2), y: labels(0, 3) }), code: 'E_LABEL_RANGE', ref: 1, says: 'Expected class index in [0, 2], got 3 at row 1' },
  { name: 'a fractional label', send: (c) => c.send({ type: 'samples', session: 'v', seq: 1, x: x4(1), y: labels(0.5) }), code: 'E_LABEL_RANGE', ref: 1 },
  { name: 'a sequence number that does not increase', send: (c) => { c.send(samples('v', 5, 4)); c.send(samples('v', 5, 4)); }, code: 'E_BAD_SEQ', ref: 5, says: 'Expected seq > 5' },
  { name: 'samples for an unknown session', send: (c) => c.send(samples('nope', 0, 4)), code: 'E_UNKNOWN_SESSION', ref: 0 },
  { name: 'a subscription to an unknown session', send: (c) => c.send({ type: 'subscribe', id: 's1', session: 'nope' }), code: 'E_UNKNOWN_SESSION', ref: 's1' },
  { name: 'a duplicate session name', send: (c) => c.send({ ...createMessage('healthy'), id: 'c1' }), code: 'E_SESSION_EXISTS', ref: 'c1' },
  { name: 'softmax on a hidden layer', send: (c) => c.send({ ...createMessage('m1'), id: 'c2', model: { inputSize: 4, layers: [{ units: 3, activation: 'softmax' }, { units: 3, activation: 'softmax' }] } }), code: 'E_BAD_MODEL', ref: 'c2' },
  { name: 'a model over the parameter limit', send: (c) => c.send({ ...createMessage('m2'), id: 'c3', model: { inputSize: 100_000, layers: [{ units: 1000, activation: 'relu' }, { units: 3, activation: 'softmax' }] } }), code: 'E_BAD_MODEL', ref: 'c3', says: 'Expected at most 10000000 parameters' },
  { name: 'a negative learning rate', send: (c) => c.send({ ...createMessage('m3'), id: 'c4', optimizer: { kind: 'sgd', lr: -1 } }), code: 'E_BAD_CONFIG', ref: 'c4', says: 'lr' },
  { name: 'a loss that does not fit the output layer', send: (c) => c.send({ ...createMessage('m4'), id: 'c5', model: { ...TINY, layers: [{ units: 3, activation: 'sigmoid' }] } }), code: 'E_BAD_CONFIG', ref: 'c5', says: 'softmax' },
  { name: 'an unknown control action', send: (c) => c.send({ type: 'control', id: 'k1', session: 'v', control: { action: 'rewind' } }), code: 'E_BAD_CONTROL', ref: 'k1' },
  { name: 'a control batch size over the limit', send: (c) => c.send({ type: 'control', id: 'k2', session: 'v', control: { action: 'set', batchSize: 1_000_000 } }), code: 'E_BAD_CONTROL', ref: 'k2' },
  { name: 'predict on the wrong width', send: (c) => c.send({ type: 'predict', id: 'p1', session: 'v', x: [[1, 2, 3]] }), code: 'E_SHAPE', ref: 'p1' },
  { name: 'predict on Infinity', send: (c) => c.send({ type: 'predict', id: 'p2', session: 'v', x: f32([2, 4], [0, 0, 0, 0, 0, 0, -Infinity, 0]) }), code: 'E_NON_FINITE', ref: 'p2', says: 'got -Infinity at row 1, column 2' },
  { name: 'samples from a read-only token', token: READER, send: (c) => c.send(samples('v', 0, 4)), code: 'E_FORBIDDEN', ref: 0, says: 'producer token' },
  { name: 'a frame over maxPayload', send: (c) => c.sendRaw(Buffer.alloc(100_000, 0x91)), code: 'E_TOO_LARGE', close: 1009 },
  { name: 'a text frame that is not UTF-8', send: (c) => rawFrame(c, 0x81, Buffer.from([0x22, 0xff, 0x22])), code: 'E_BAD_UTF8', close: 1007 },
  { name: 'an unmasked frame', send: (c) => rawFrame(c, 0x82, Buffer.from([0x80]), false), code: 'E_PROTOCOL', close: 1002 },
  { name: 'a flood of messages', send: (c) => { for (let i = 0; i < 12_000; i++) c.send({ type: 'ping' }); }, code: 'E_RATE_LIMIT', close: 1008 },
];

/** Writes one WebSocket frame by hand (masked as a client must, unless told not to). */
function rawFrame(c: TestClient, opcode: number, payload: Buffer, masked = true): void {
  const socket = (c.ws as unknown as { _socket: Duplex })._socket;
  const key = Buffer.from([1, 2, 3, 4]);
  const body = masked ? Buffer.from(payload.map((b, i) => b ^ key[i % 4]!)) : payload;
  socket.write(Buffer.concat([Buffer.from([opcode, (masked ? 0x80 : 0) | payload.length]), masked ? key : Buffer.alloc(0), body]));
}

let server: LivegradServer;
let producer: TestClient;
let watcher: TestClient;
let producing = true;
let stream: Promise<number>;

/** Streams chunks of 16 rows into "healthy" until told to stop, honouring credits; resolves with the chunks sent. */
async function streamHealthy(): Promise<number> {
  let seq = 0;
  while (producing) {
    producer.send(samples('healthy', seq, 16));
    await producer.waitFor((m) => m['type'] === 'ack' && m['seq'] === seq, { timeoutMs: 10_000 });
    seq++;
  }
  return seq;
}

beforeAll(async () => {
  server = await createServer({ port: 0, maxPayload: 64 * 1024, producerToken: PRODUCER, readToken: READER, messagesPerSecond: 2000, burst: 4000 });
  producer = await TestClient.connect(server.url, { token: PRODUCER });
  watcher = await TestClient.connect(server.url, { token: READER });
  await producer.ok(createMessage('healthy'));
  await producer.ok(createMessage('v'));
  await watcher.ok({ type: 'subscribe', session: 'healthy', topics: ['step', 'error', 'lifecycle'] });
  stream = streamHealthy();
});

afterAll(async () => {
  producing = false;
  await stream.catch(() => undefined);
  producer.terminate();
  watcher.terminate();
  await server.close();
});

describe('bad inputs', () => {
  it('has at least 25 kinds of bad input', () => {
    expect(ROWS.length).toBeGreaterThanOrEqual(25);
  });

  it.each(ROWS)('answers $name with $code', async (row) => {
    const c = await TestClient.connect(server.url, { token: row.token ?? PRODUCER });
    try {
      await c.waitFor((m) => m['type'] === 'welcome');
      row.send(c);
      const err = await c.waitFor((m) => m['type'] === 'error', { timeoutMs: 5000 });
      expect(err['code']).toBe(row.code);
      expect(err['message']).toMatch(/^Expected /);
      if (row.says !== undefined) expect(err['message']).toContain(row.says);
      if (row.ref !== undefined) expect(err['ref']).toBe(row.ref);
      if (row.close !== undefined) {
        const closed = await c.closed;
        expect(closed.code).toBe(row.close);
        expect(closed.reason).toMatch(new RegExp(`^${row.code}: Expected `));
      } else {
        // the connection goes on
        expect((await c.ok({ type: 'ping' }))['type']).toBe('pong');
      }
    } finally {
      c.terminate();
    }
  });

  it('kept the healthy session training, its subscriber missing no step, and the victim session open', async () => {
    producing = false;
    const chunks = await stream;
    expect(chunks).toBeGreaterThan(0);
    const last = 4 * chunks; // 16 rows = 4 steps per chunk
    await watcher.waitFor((m) => m['type'] === 'step' && m['step'] === last, { timeoutMs: 10_000 });
    const steps = watcher.of('step', 'healthy').map((m: Msg) => m['step']);
    expect(steps).toEqual([...Array(last).keys()].map((i) => i + 1));
    expect(watcher.of('error', 'healthy')).toEqual([]);
    const list = (await producer.ok({ type: 'list' }))['sessions'] as Msg[];
    expect(list.map((s) => s['session']).sort()).toEqual(['healthy', 'v']);
    const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    for (const row of ROWS) expect(metrics).toContain(`livegrad_errors_total{code="${row.code}"}`);
  });
});
