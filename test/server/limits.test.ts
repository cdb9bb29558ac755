/**
 * A session's limits (docs/protocol.md, "Sessions"): the backlog of messages waiting their turn
 * (`maxBacklogMessages`, `maxBacklogBytes`) and of controls scheduled for a later step (1024),
 * both refused one message over with E_BACKLOG while the session and other clients go on; memory
 * that a closed session gives back; and `sessionIdleMs`, after which a session no one is attached
 * to is closed and its name is free. `welcome` tells a client the limits.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { Logger } from '../../src/index.js';
import { createMessage, produce, samples, sessionNames, TRAINING_MODES, useServers } from '../helpers/server.js';
import { f32, type Msg, type TestClient } from '../helpers/ws-client.js';

const { start, connect } = useServers();

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const predictX = f32([1, 4], [0, 1, 0, 1]);

/** Polls `list` from `c` until `session` is gone; resolves with how long that took, ms, or rejects after `withinMs`. */
async function goneWithin(c: TestClient, session: string, withinMs: number): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < withinMs) {
    if (!(await sessionNames(c)).includes(session)) return performance.now() - t0;
    await sleep(20);
  }
  throw new Error(`Expected session "${session}" to be gone within ${withinMs} ms, got it still listed`);
}

/** A logger that keeps the sessions the server says ended. */
function endings(): { log: Logger; ended: string[] } {
  const ended: string[] = [];
  const none = () => undefined;
  const info = (msg: string, fields?: Readonly<Record<string, unknown>>): void => {
    if (msg === 'session ended') ended.push(String(fields?.['session']));
  };
  return { ended, log: { debug: none, info, warn: none, error: none } };
}

describe('welcome', () => {
  it('tells the session limits the server was started with, and the defaults', async () => {
    const server = await start({ maxSessions: 3, sessionIdleMs: 250, maxBacklogMessages: 100, maxBacklogBytes: 2 ** 20 });
    const c = await connect(server);
    await c.ok({ type: 'ping' });
    expect(c.messages[0]!['limits']).toMatchObject({ maxSessions: 3, sessionIdleMs: 250, maxBacklogMessages: 100, maxBacklogBytes: 2 ** 20 });
    const d = await connect(await start());
    await d.ok({ type: 'ping' });
    expect(d.messages[0]!['limits']).toMatchObject({ maxSessions: 64, sessionIdleMs: 600_000, maxBacklogMessages: 4096, maxBacklogBytes: 64 * 2 ** 20 });
  });
});

describe.each(TRAINING_MODES)('the backlog, sessions trained $mode', ({ trainingThreads }) => {
  it('refuses with E_BACKLOG the samples over maxBacklogBytes waiting in a paused session; the session and another client go on, and the accepted ones train after resume', async () => {
    const server = await start({ trainingThreads, maxBacklogBytes: 2 ** 20 });
    const p = await connect(server);
    const other = await connect(server);
    // one batch of room (1000 rows): each 5000-row message (100,000 bytes) waits for room while paused
    await p.ok(createMessage('s', { credits: 64, batchSize: 1000, queueCapacity: 1 }));
    await p.ok({ type: 'control', session: 's', control: { action: 'pause' } });
    p.send(samples('s', 0, 5000));
    await p.waitFor((m) => m['type'] === 'ack' && m['seq'] === 0); // admitted: it is out of the backlog
    for (let seq = 1; seq < 20; seq++) p.send(samples('s', seq, 5000));
    await p.waitFor((m) => m['type'] === 'error' && m['ref'] === 19);
    await p.ok({ type: 'ping' });
    // ten of 100,000 bytes fit in 1 MiB, the eleventh does not
    const refused = p.of('error', 's');
    expect(refused.map((m) => [m['ref'], m['code']])).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19].map((seq) => [seq, 'E_BACKLOG']));
    expect(refused[0]!['message']).toBe(
      'Expected at most 4096 messages and 1048576 bytes of samples waiting their turn in session "s", got 10 messages and 1000000 bytes waiting and this samples message (100000 bytes): wait for replies before sending more',
    );
    expect(p.of('ack', 's').map((m) => m['seq'])).toEqual([0]);

    // the session answers, another client works, and its own messages are no samples: they fit
    expect((await other.ok({ type: 'list' }))['sessions'][0]).toMatchObject({ session: 's', paused: true, step: 0 });
    expect(await other.ok({ type: 'predict', session: 's', x: predictX, now: true })).toMatchObject({ step: 0 });
    await other.ok(createMessage('t'));
    await produce(other, 't', 3, 4);
    expect(await other.ok({ type: 'control', session: 's', control: { action: 'resume' } })).toMatchObject({ step: 0 });

    // resumed: the eleven accepted train, in order, and the producer has its credits back
    await p.waitFor((m) => m['type'] === 'consumed' && m['seq'] === 10, { timeoutMs: 20_000 });
    expect(p.of('ack', 's').map((m) => m['seq'])).toEqual([...Array(11).keys()]);
    expect(p.of('consumed', 's').map((m) => [m['seq'], m['step']])).toEqual([...Array(11).keys()].map((seq) => [seq, 5 * seq + 5]));
    p.send(samples('s', 20, 1000));
    await p.waitFor((m) => m['type'] === 'consumed' && m['seq'] === 20);
    expect(await p.ok({ type: 'snapshot', session: 's' })).toMatchObject({ step: 56, samples: 56_000 });
  });

  it('refuses with E_BACKLOG the messages over maxBacklogMessages waiting their turn, and close with drain answers the ones it took', async () => {
    const server = await start({ trainingThreads, maxBacklogMessages: 8 });
    const p = await connect(server);
    const other = await connect(server);
    await p.ok(createMessage('s'));
    await p.ok({ type: 'control', session: 's', control: { action: 'pause' } });
    p.send(samples('s', 0, 4));
    await p.waitFor((m) => m['type'] === 'ack' && m['seq'] === 0);
    // behind a batch the paused session cannot train: at their turn, they wait
    for (let k = 0; k < 10; k++) p.send({ id: `p${k}`, type: 'predict', session: 's', x: predictX });
    await p.waitFor((m) => m['ref'] === 'p9');
    const refusedSnapshot = await other.request({ type: 'snapshot', session: 's' });
    expect(refusedSnapshot).toMatchObject({ type: 'error', code: 'E_BACKLOG', session: 's' });
    expect(refusedSnapshot['message']).toMatch(/^Expected at most 8 messages and 67108864 bytes of samples waiting their turn in session "s", got 8 messages and 0 bytes waiting and this snapshot/);
    expect(p.messages.filter((m) => m['type'] === 'error').map((m) => [m['ref'], m['code']])).toEqual([
      ['p8', 'E_BACKLOG'],
      ['p9', 'E_BACKLOG'],
    ]);
    expect(p.of('prediction', 's')).toHaveLength(0);
    // a message for another session, or for none, is not held up
    await other.ok(createMessage('t'));
    await produce(other, 't', 2, 4);
    const closed = await p.ok({ type: 'close', session: 's', drain: true });
    expect(closed).toMatchObject({ type: 'closed', step: 1, samples: 4 });
    expect(p.of('prediction', 's').map((m) => [m['ref'], m['step']])).toEqual([...Array(8).keys()].map((k) => [`p${k}`, 1]));
  });

  it('holds at most 1024 controls for a later atStep: the 1025th and after are refused with E_BACKLOG, and the session goes on', async () => {
    const server = await start({ trainingThreads });
    const c = await connect(server);
    await c.ok(createMessage('s', { credits: 16 }));
    for (let k = 0; k < 1100; k++) c.send({ id: k, type: 'control', session: 's', control: { action: 'set', lr: 0.5 }, atStep: 1e12 });
    await c.waitFor((m) => m['ref'] === 1099);
    const answers = c.messages.filter((m) => typeof m['ref'] === 'number');
    expect(answers).toHaveLength(1100);
    const controlled = answers.filter((m) => m['type'] === 'controlled');
    expect(controlled.map((m) => m['ref'])).toEqual([...Array(1024).keys()]);
    for (const m of controlled) expect(m).toMatchObject({ step: 1e12, atStep: 1e12, action: 'set' });
    const refused = answers.filter((m) => m['type'] === 'error');
    expect(refused.map((m) => m['ref'])).toEqual([...Array(76).keys()].map((k) => 1024 + k));
    for (const m of refused) expect(m).toMatchObject({ code: 'E_BACKLOG', message: 'Expected at most 1024 controls scheduled for a later step in session "s", got one more' });
    // an ordinary control, samples and calls at their turn go on
    expect(await c.ok({ type: 'control', session: 's', control: { action: 'set', lr: 0.2 } })).toMatchObject({ step: 0 });
    await produce(c, 's', 4, 4, { credits: 16 });
    expect(await c.ok({ type: 'snapshot', session: 's' })).toMatchObject({ step: 4, optimizer: { lr: 0.2 } });
  });

  it('gives back the memory of a closed session that held a full schedule of later controls', async () => {
    const server = await start({ trainingThreads });
    // kept off the heap being measured: this client counts replies and keeps none
    const c = await connect(server, { store: false });
    let answered = 0;
    c.listen((m) => {
      if (m['type'] === 'controlled') answered++;
    });
    const round = async (r: number): Promise<void> => {
      await c.ok(createMessage(`h${r}`));
      for (let k = 0; k < 1024; k++) c.send({ id: k, type: 'control', session: `h${r}`, control: { action: 'set', lr: 0.5 }, atStep: 1e12 + k });
      await produce(c, `h${r}`, 8, 512, { credits: 8 }); // 1024 steps: a ring full of events
      await c.ok({ type: 'close', session: `h${r}` });
    };
    for (let r = 0; r < 3; r++) await round(r); // warm up: code, caches, pools
    const before = heapAfterGc();
    for (let r = 3; r < 11; r++) await round(r);
    const after = heapAfterGc();
    expect(answered).toBe(11 * 1024);
    expect(server.stats().sessions).toBe(0);
    // eight closed sessions kept alive would hold over 4 MB: their rings of events, their producers' state (measured with a leak put in on purpose)
    expect(after - before).toBeLessThan(2 * 2 ** 20);
  });
});

describe.each(TRAINING_MODES)('sessionIdleMs, sessions trained $mode', ({ trainingThreads }) => {
  it('closes a session once no one has been attached for sessionIdleMs, and frees its name', async () => {
    const { log, ended } = endings();
    const server = await start({ trainingThreads, sessionIdleMs: 200, log });
    const p = await connect(server);
    const watcher = await connect(server); // lists and predicts: not attached
    await p.ok(createMessage('a'));
    await produce(p, 'a', 2, 4);
    await p.close();
    expect(await sessionNames(watcher)).toEqual(['a']);
    expect(await watcher.ok({ type: 'predict', session: 'a', x: predictX })).toMatchObject({ step: 2 });
    const took = await goneWithin(watcher, 'a', 1500);
    expect(took).toBeLessThan(1000);
    expect(ended).toEqual(['a']);
    expect(await watcher.request({ type: 'snapshot', session: 'a' })).toMatchObject({ type: 'error', code: 'E_UNKNOWN_SESSION' });
    expect(await watcher.ok(createMessage('a'))).toMatchObject({ type: 'created', session: 'a', step: 0 });
  });

  it('keeps a session alive while a producer stays connected or a subscriber watches, and closes it once the subscriber unsubscribes', async () => {
    const server = await start({ trainingThreads, sessionIdleMs: 200 });
    const p = await connect(server);
    const steering = await connect(server);
    const watcher = await connect(server);
    await p.ok(createMessage('a'));
    await p.ok(createMessage('b'));
    await steering.ok({ type: 'control', session: 'a', control: { action: 'set', lr: 0.2 } }); // attaches 'steering' to a
    await watcher.ok({ type: 'subscribe', session: 'b', topics: ['lifecycle', 'step'] });
    await p.close();
    await sleep(600); // three idle periods
    expect(await sessionNames(watcher)).toEqual(['a', 'b']);
    await steering.close();
    await goneWithin(watcher, 'a', 1500);
    expect(await sessionNames(watcher)).toEqual(['b']);
    const unsubscribed = await watcher.ok({ type: 'unsubscribe', session: 'b' });
    expect(unsubscribed).toMatchObject({ type: 'unsubscribed', session: 'b' });
    expect(await goneWithin(watcher, 'b', 1500)).toBeLessThan(1000);
    // unsubscribed, the watcher heard nothing of the end: no one attached is left to hear it
    expect(watcher.messages.filter((m: Msg) => m['session'] === 'b' && m['type'] === 'lifecycle' && m['state'] === 'completed')).toEqual([]);
  });
});
