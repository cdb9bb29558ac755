/**
 * Flow control: credits bound what a producer may have unacknowledged, a producer that ignores
 * them gets E_NO_CREDIT (not an unbounded queue), acknowledgement never waits for rows only a
 * later message could bring, and a paused session holds producers back.
 */
import { describe, expect, it } from 'vitest';
import { createMessage, samples, TRAINING_MODES, useServers } from '../helpers/server.js';

const { start, connect } = useServers();

describe.each(TRAINING_MODES)('credits, trained $mode', ({ trainingThreads }) => {
  it('gives a producer that ignores its credits E_NO_CREDIT, and keeps the queue bounded', async () => {
    const server = await start({ trainingThreads });
    const c = await connect(server);
    await c.ok(createMessage('s', { credits: 4, queueCapacity: 2 }));
    await c.ok({ type: 'control', session: 's', control: { action: 'pause' } });
    // acks come once the trainer has taken a message: wait for the two that fit before flooding
    for (let seq = 0; seq < 4; seq++) c.send(samples('s', seq, 4));
    await c.waitFor((m) => m['type'] === 'ack' && m['seq'] === 1);
    for (let seq = 4; seq < 50; seq++) c.send(samples('s', seq, 4));
    await c.waitFor((m) => m['type'] === 'error' && m['ref'] === 49);
    const refused = c.of('error').filter((m) => m['code'] === 'E_NO_CREDIT').map((m) => m['ref']);
    const acked = c.of('ack').map((m) => m['seq']);
    // two batches of room were accepted and acknowledged, four more hold the credits, the rest are refused
    expect(acked).toEqual([0, 1]);
    expect(refused).toEqual([...Array(44).keys()].map((i) => i + 6));
    expect(refused.length + acked.length + 4).toBe(50);
    const list = (await c.ok({ type: 'list' }))['sessions'];
    expect(list[0]).toMatchObject({ queueDepth: 6, step: 0 });
    expect((c.of('error')[0]!['message'] as string)).toBe('Expected at most 4 unacknowledged samples messages in flight, got one more (seq 6): wait for an ack');
    await c.ok({ type: 'control', session: 's', control: { action: 'resume' } });
    await c.waitFor((m) => m['type'] === 'consumed' && m['seq'] === 5);
    expect(c.of('ack').map((m) => m['seq'])).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('never deadlocks on a partial batch: one credit, one-row messages, a batch of 32', async () => {
    const server = await start({ trainingThreads });
    const c = await connect(server);
    await c.ok(createMessage('s', { credits: 1, batchSize: 32, queueCapacity: 1 }));
    for (let seq = 0; seq < 70; seq++) {
      c.send(samples('s', seq, 1));
      await c.waitFor((m) => m['type'] === 'ack' && m['seq'] === seq);
    }
    const consumed = c.of('consumed').map((m) => [m['seq'], m['step']]);
    expect(consumed).toEqual([...Array(64).keys()].map((seq) => [seq, seq < 32 ? 1 : 2]));
    const closed = await c.ok({ type: 'close', session: 's', drain: true });
    expect(closed).toMatchObject({ step: 3, samples: 70 });
    expect(c.of('consumed').at(-1)).toMatchObject({ seq: 69, step: 3 });
  });

  it('acknowledges with the window of credits, and returns the credit of a refused message', async () => {
    const server = await start({ trainingThreads });
    const c = await connect(server);
    await c.ok(createMessage('s', { credits: 2 }));
    c.send({ ...samples('s', 0, 4), y: [0, 1, 2, 9] });
    await c.waitFor((m) => m['type'] === 'error' && m['ref'] === 0);
    c.send(samples('s', 1, 4));
    c.send(samples('s', 2, 4));
    await c.waitFor((m) => m['type'] === 'ack' && m['seq'] === 2);
    expect(c.of('ack').map((m) => m['credits'])).toEqual([2, 2]);
    expect(c.of('error').map((m) => m['code'])).toEqual(['E_LABEL_RANGE']);
  });

  it('drops the unacknowledged offers of a producer that disconnects', async () => {
    const server = await start({ trainingThreads });
    const p = await connect(server);
    const watcher = await connect(server);
    await p.ok(createMessage('s', { credits: 8, queueCapacity: 1 }));
    await p.ok({ type: 'control', session: 's', control: { action: 'pause' } });
    for (let seq = 0; seq < 5; seq++) p.send(samples('s', seq, 4));
    await p.waitFor((m) => m['type'] === 'ack' && m['seq'] === 0);
    await watcher.ok({ type: 'list' });
    p.terminate();
    await p.closed;
    await new Promise((r) => setTimeout(r, 50));
    const list = (await watcher.ok({ type: 'list' }))['sessions'];
    expect(list[0]).toMatchObject({ queueDepth: 1 });
    // resumed, it trains the one it had acknowledged, and nothing of the four it forgot
    await watcher.ok({ type: 'control', session: 's', control: { action: 'resume' } });
    await expect.poll(async () => ((await watcher.ok({ type: 'list' }))['sessions'] as { samples: number }[])[0]!.samples).toBe(4);
    await new Promise((r) => setTimeout(r, 50));
    expect(((await watcher.ok({ type: 'list' }))['sessions'] as Record<string, unknown>[])[0]).toMatchObject({ samples: 4, queueDepth: 0 });
  });
});
