/**
 * The order rule over the wire (docs/protocol.md, "Sessions"): per session, messages take effect
 * in the order they were received, in both training modes. Every test sends its messages back to
 * back without waiting for a reply in between, so that the server holds many of them at once and
 * must still let each take effect after the ones before it.
 */
import { describe, expect, it } from 'vitest';
import { createTrainer, sgd, type FloatArray, type Trainer, type TrainEvent } from '../../src/index.js';
import { chunkBatch, createMessage, samples, TRAINING_MODES, useServers } from '../helpers/server.js';
import { f32, type Msg, type TestClient } from '../helpers/ws-client.js';

const { start, connect } = useServers();

/** Creates session "s" (TINY, sgd lr 0.1, batchSize 4 unless overridden) on a new client subscribed to its step, control and lifecycle events. */
async function open(trainingThreads: boolean, overrides: Msg = {}): Promise<TestClient> {
  const server = await start({ trainingThreads });
  const c = await connect(server);
  await c.ok(createMessage('s', { credits: 256, ...overrides }));
  await c.ok({ type: 'subscribe', session: 's', topics: ['step', 'control', 'lifecycle'] });
  return c;
}

/** The replies to session messages, in the order they came: "ack 3", "error 4", "controlled set1", "prediction p", "snapshot final". */
function replies(c: TestClient): string[] {
  const out: string[] = [];
  for (const m of c.messages) {
    if (m['session'] !== 's') continue;
    if (m['type'] === 'ack') out.push(`ack ${String(m['seq'])}`);
    else if (m['type'] === 'error' && m['step'] === undefined) out.push(`error ${String(m['ref'])}`);
    else if (m['type'] === 'controlled' || m['type'] === 'prediction' || m['type'] === 'snapshot') out.push(`${m['type'] as string} ${String(m['ref'])}`);
  }
  return out;
}

const reply = (c: TestClient, ref: string): Promise<Msg> => c.waitFor((m) => m['ref'] === ref, { timeoutMs: 20_000 });
const stepsOf = (c: TestClient, field: string): unknown[] => c.of('step', 's').map((e) => e[field]);
const predictX = f32([2, 4], [0.5, -0.25, 1, 0, -1, 0.75, 0, 0.125]);
const oneStep = (seq: number, rows: number): Msg => ({ ...samples('s', seq, rows), step: true });

/** A step event without what depends on timing (its time, duration and the queue's depth then). */
function stepFacts(e: Msg | TrainEvent): unknown[] {
  const s = e as Extract<TrainEvent, { type: 'step' }>;
  return [s.step, s.batchSize, s.samples, s.lr, s.loss, [...s.gradNorms], s.applied];
}

function controlFacts(e: Msg | TrainEvent): unknown[] {
  const c = e as Extract<TrainEvent, { type: 'control' }>;
  return [c.step, { ...c.control }];
}

function bytes(a: FloatArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** The weights and optimizer buffers of a `snapshot` reply, as bytes. */
function snapshotBytes(snap: Msg): Uint8Array[] {
  const layers = (snap['model']['layers'] as Msg[]).flatMap((l) => [l['w']['data'] as Uint8Array, l['b']['data'] as Uint8Array]);
  const buffers = (snap['optimizerState']['buffers'] as Msg[][]).flat().map((t) => t['data'] as Uint8Array);
  return [...layers, ...buffers].map((b) => new Uint8Array(b));
}

function trainerBytes(t: Trainer): Uint8Array[] {
  const layers = t.model.layers.flatMap((l) => [bytes(l.w), bytes(l.b)]);
  return [...layers, ...t.optimizerState.buffers.flat().map(bytes)].map((b) => new Uint8Array(b));
}

/** What the server trains from `createMessage('s')` with these rows, in process and synchronously. */
function localTrainer(batchSize = 4): { t: Trainer; events: TrainEvent[] } {
  const t = createTrainer({ session: 's', model: { inputSize: 4, layers: [{ units: 8, activation: 'tanh' }, { units: 3, activation: 'softmax' }], seed: 1 }, loss: 'crossEntropy', optimizer: sgd({ lr: 0.1 }), batchSize, sliceMs: Infinity });
  const events: TrainEvent[] = [];
  t.events$.subscribe((e) => events.push(e));
  return { t, events };
}

const quietly = { accepted: () => undefined, rejected: (e: Error) => expect.fail(e.message), consumed: () => undefined };

describe.each(TRAINING_MODES)('the order rule, sessions trained $mode', ({ trainingThreads }) => {
  it('applies six pipelined sets each before the one batch sent after it, and answers in message order', async () => {
    const c = await open(trainingThreads);
    for (let i = 1; i <= 6; i++) {
      c.send({ id: `set${i}`, type: 'control', session: 's', control: { action: 'set', lr: i / 10 } });
      c.send(samples('s', i, 4));
    }
    await c.waitFor((m) => m['type'] === 'consumed' && m['seq'] === 6);
    await c.waitFor((m) => m['type'] === 'step' && m['step'] === 6);
    expect(stepsOf(c, 'lr')).toEqual([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
    expect(c.of('control', 's').map((e) => [e['control']['lr'], e['step']])).toEqual([1, 2, 3, 4, 5, 6].map((i) => [i / 10, i - 1]));
    expect(c.of('controlled', 's').map((m) => [m['ref'], m['step']])).toEqual([1, 2, 3, 4, 5, 6].map((i) => [`set${i}`, i - 1]));
    expect(c.of('consumed', 's').map((m) => [m['seq'], m['step']])).toEqual([1, 2, 3, 4, 5, 6].map((i) => [i, i]));
    expect(replies(c)).toEqual([1, 2, 3, 4, 5, 6].flatMap((i) => [`controlled set${i}`, `ack ${i}`]));
  });

  it('answers a predict at its turn with the weights after every batch sent before it', async () => {
    const c = await open(trainingThreads);
    const { t } = localTrainer();
    const expected: Uint8Array[] = [];
    for (let seq = 0; seq < 10; seq++) {
      c.send(samples('s', seq, 4));
      c.send({ id: `p${seq}`, type: 'predict', session: 's', x: predictX });
      t.offer(chunkBatch(seq, 4), quietly);
      expected.push(bytes(t.predict({ dtype: 'float32', shape: [2, 4], data: new Float32Array(predictX.data.buffer.slice(0)) }).output.data));
    }
    await reply(c, 'p9');
    const predictions = c.of('prediction', 's');
    expect(predictions.map((m) => [m['ref'], m['step']])).toEqual([...Array(10).keys()].map((k) => [`p${k}`, k + 1]));
    predictions.forEach((m, k) => expect(new Uint8Array(m['output']['data'] as Uint8Array), `p${k}`).toEqual(expected[k]));
    expect(replies(c)).toEqual([...Array(10).keys()].flatMap((k) => [`ack ${k}`, `prediction p${k}`]));
  });

  it('answers a predict with now: true at once, with the weights as they are: never past its turn', async () => {
    const c = await open(trainingThreads);
    for (let seq = 0; seq < 10; seq++) {
      c.send(samples('s', seq, 4));
      c.send({ id: `now${seq}`, type: 'predict', session: 's', x: predictX, now: true });
      c.send({ id: `turn${seq}`, type: 'predict', session: 's', x: predictX });
    }
    await reply(c, 'turn9');
    const step = (ref: string): number => c.messages.find((m) => m['ref'] === ref)!['step'] as number;
    const now = [...Array(10).keys()].map((k) => step(`now${k}`));
    const turn = [...Array(10).keys()].map((k) => step(`turn${k}`));
    expect(turn).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    now.forEach((s, k) => {
      expect(s).toBeLessThanOrEqual(k + 1);
      if (k > 0) expect(s).toBeGreaterThanOrEqual(now[k - 1]!);
    });
  });

  it('answers a predict with now: true on a paused session whose predicts at their turn wait', async () => {
    const c = await open(trainingThreads);
    c.send({ id: 'pause', type: 'control', session: 's', control: { action: 'pause' } });
    for (let seq = 0; seq < 3; seq++) {
      c.send(samples('s', seq, 4));
      c.send({ id: `turn${seq}`, type: 'predict', session: 's', x: predictX });
      c.send({ id: `now${seq}`, type: 'predict', session: 's', x: predictX, now: true });
    }
    await reply(c, 'now2');
    expect(c.of('prediction', 's').map((m) => [m['ref'], m['step']])).toEqual([['now0', 0], ['now1', 0], ['now2', 0]]);
    c.send({ id: 'resume', type: 'control', session: 's', control: { action: 'resume' } });
    await reply(c, 'turn2');
    expect(c.of('prediction', 's').map((m) => [m['ref'], m['step']]).slice(3)).toEqual([['turn0', 1], ['turn1', 2], ['turn2', 3]]);
  });

  it('cuts rows into batches of the size set in order between them', async () => {
    const c = await open(trainingThreads);
    c.send(samples('s', 0, 8));
    c.send({ id: 'bs2', type: 'control', session: 's', control: { action: 'set', batchSize: 2 } });
    c.send(samples('s', 1, 6));
    c.send({ id: 'bs3', type: 'control', session: 's', control: { action: 'set', batchSize: 3 } });
    c.send(samples('s', 2, 6));
    c.send({ id: 'final', type: 'snapshot', session: 's' });
    const snap = await reply(c, 'final');
    expect(stepsOf(c, 'batchSize')).toEqual([4, 4, 2, 2, 2, 3, 3]);
    expect(c.of('controlled', 's').map((m) => [m['ref'], m['step']])).toEqual([['bs2', 2], ['bs3', 5]]);
    expect(snap).toMatchObject({ step: 7, samples: 20, batchSize: 3 });
    expect(replies(c)).toEqual(['ack 0', 'controlled bs2', 'ack 1', 'controlled bs3', 'ack 2', 'snapshot final']);
  });

  it('trains the rows held back before a set or a reset first, as a shorter batch', async () => {
    const c = await open(trainingThreads);
    c.send(samples('s', 0, 6)); // a batch of 4, 2 rows held back
    c.send({ id: 'lr', type: 'control', session: 's', control: { action: 'set', lr: 0.3 } }); // the 2 rows train alone, at lr 0.1
    c.send(samples('s', 1, 6)); // a batch of 4, 2 held back
    c.send({ id: 'reset', type: 'control', session: 's', control: { action: 'reset' } }); // the 2 rows train alone
    c.send(samples('s', 2, 2));
    c.send({ id: 'bs', type: 'control', session: 's', control: { action: 'set', batchSize: 3 } }); // and so for a new batch size
    c.send(samples('s', 3, 3));
    c.send({ id: 'final', type: 'snapshot', session: 's' });
    await reply(c, 'final');
    expect(c.of('step', 's').map((e) => [e['batchSize'], e['lr']])).toEqual([
      [4, 0.1],
      [2, 0.1],
      [4, 0.3],
      [2, 0.3],
      [2, 0.3],
      [3, 0.3],
    ]);
    expect(c.of('control', 's').map((e) => [e['control']['action'], e['step']])).toEqual([['set', 2], ['reset', 4], ['set', 5]]);
    expect(c.of('lifecycle', 's').map((e) => [e['state'], e['step']])).toEqual([['reset', 4]]);
  });

  it('cuts no batch at a pause-free observation: the snapshot action, a predict, a snapshot', async () => {
    const c = await open(trainingThreads);
    c.send(samples('s', 0, 6)); // a batch of 4, 2 rows held back
    c.send({ id: 'weights', type: 'control', session: 's', control: { action: 'snapshot' } });
    c.send({ id: 'predict', type: 'predict', session: 's', x: predictX });
    c.send({ id: 'snap', type: 'snapshot', session: 's' });
    c.send(samples('s', 1, 2)); // completes the second batch
    c.send({ id: 'final', type: 'snapshot', session: 's' });
    const final = await reply(c, 'final');
    expect(stepsOf(c, 'batchSize')).toEqual([4, 4]);
    expect(c.messages.filter((m) => ['weights', 'predict', 'snap', 'final'].includes(m['ref'] as string)).map((m) => [m['ref'], m['step']])).toEqual([
      ['weights', 1],
      ['predict', 1],
      ['snap', 1],
      ['final', 2],
    ]);
    expect(final).toMatchObject({ samples: 8 });
  });

  it('refuses a set with batchSize and atStep together, and applies another control with a later atStep after exactly that many steps', async () => {
    const c = await open(trainingThreads);
    c.send({ id: 'both', type: 'control', session: 's', control: { action: 'set', batchSize: 2 }, atStep: 3 });
    c.send({ id: 'later', type: 'control', session: 's', control: { action: 'set', lr: 0.5 }, atStep: 3 });
    for (let seq = 0; seq < 6; seq++) c.send(samples('s', seq, 4));
    c.send({ id: 'final', type: 'snapshot', session: 's' });
    await reply(c, 'final');
    const refused = c.messages.find((m) => m['ref'] === 'both')!;
    expect(refused).toMatchObject({ type: 'error', code: 'E_BAD_CONTROL', session: 's' });
    expect(refused['message']).toMatch(/^Expected a batchSize change without atStep/);
    // answered at once, with the step it names
    expect(replies(c).slice(0, 2)).toEqual(['error both', 'controlled later']);
    expect(c.messages.find((m) => m['ref'] === 'later')).toMatchObject({ type: 'controlled', step: 3, atStep: 3 });
    expect(stepsOf(c, 'lr')).toEqual([0.1, 0.1, 0.1, 0.5, 0.5, 0.5]);
    expect(stepsOf(c, 'batchSize')).toEqual([4, 4, 4, 4, 4, 4]);
    expect(c.of('control', 's').map((e) => [e['control']['lr'], e['step']])).toEqual([[0.5, 3]]);
  });

  it('holds the rows after a pipelined pause until a resume, which reaches it at once, and trains them to the same weights as without the pause', async () => {
    const run = async (withPause: boolean): Promise<TestClient> => {
      const c = await open(trainingThreads);
      c.send(samples('s', 0, 4));
      if (withPause) c.send({ id: 'pause', type: 'control', session: 's', control: { action: 'pause' } });
      c.send(samples('s', 1, 4));
      c.send(samples('s', 2, 6));
      c.send({ id: 'lr', type: 'control', session: 's', control: { action: 'set', lr: 0.2 } });
      c.send(samples('s', 3, 4));
      c.send({ id: 'final', type: 'snapshot', session: 's' });
      if (withPause) {
        expect(await reply(c, 'pause')).toMatchObject({ type: 'controlled', step: 1 });
        await new Promise((r) => setTimeout(r, 100));
        // the batch before the pause trained, none after it
        expect(await c.ok({ type: 'snapshot', session: 's', now: true })).toMatchObject({ step: 1 });
        expect(c.of('step', 's')).toHaveLength(1);
        expect(c.messages.find((m) => m['ref'] === 'final')).toBeUndefined();
        // behind three batches and a set that the paused session cannot reach
        c.send({ id: 'resume', type: 'control', session: 's', control: { action: 'resume' } });
        expect(await reply(c, 'resume')).toMatchObject({ type: 'controlled', step: 1 });
      }
      await reply(c, 'final');
      return c;
    };
    const paused = await run(true);
    const straight = await run(false);
    expect(stepsOf(paused, 'lr')).toEqual([0.1, 0.1, 0.1, 0.1, 0.2]);
    expect(stepsOf(paused, 'batchSize')).toEqual([4, 4, 4, 2, 4]);
    expect(paused.of('step', 's').map(stepFacts)).toEqual(straight.of('step', 's').map(stepFacts));
    const final = (c: TestClient) => c.messages.find((m) => m['ref'] === 'final')!;
    expect(final(paused)).toMatchObject({ step: 5, samples: 18 });
    expect(snapshotBytes(final(paused))).toEqual(snapshotBytes(final(straight)));
    expect(paused.of('lifecycle', 's').map((e) => [e['state'], e['step']])).toEqual([['paused', 1], ['resumed', 1]]);
    expect(replies(paused)).toEqual(['ack 0', 'controlled pause', 'ack 1', 'ack 2', 'snapshot r3', 'controlled resume', 'controlled lr', 'ack 3', 'snapshot final']);
  });

  it('trains samples with step: true as one step of their own rows, whatever the batch size', async () => {
    const c = await open(trainingThreads);
    c.send(samples('s', 0, 3)); // held back: fewer than 4
    c.send(oneStep(1, 5)); // the 3 rows first, then the 5 as one step
    c.send(samples('s', 2, 4));
    c.send(oneStep(3, 1));
    c.send(oneStep(4, 9));
    c.send({ id: 'final', type: 'snapshot', session: 's' });
    const final = await reply(c, 'final');
    expect(stepsOf(c, 'batchSize')).toEqual([3, 5, 4, 1, 9]);
    expect(c.of('consumed', 's').map((m) => [m['seq'], m['step']])).toEqual([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]]);
    expect(final).toMatchObject({ step: 5, samples: 22, batchSize: 4 });
  });

  it('fixes the layout of y at the first samples: one of the other layout is refused, naming it, and the right ones after it train', async () => {
    const c = await open(trainingThreads);
    const oneHot = (seq: number): Msg => ({ ...samples('s', seq, 2), y: f32([2, 3], [1, 0, 0, 0, 0, 1]) });
    c.send(samples('s', 0, 4));
    c.send(oneHot(1));
    c.send(samples('s', 2, 4));
    c.send(oneHot(3));
    c.send(samples('s', 4, 4));
    c.send({ id: 'final', type: 'snapshot', session: 's' });
    const final = await reply(c, 'final');
    expect(replies(c)).toEqual(['ack 0', 'error 1', 'ack 2', 'error 3', 'ack 4', 'snapshot final']);
    const errors = c.of('error', 's');
    expect(errors.map((e) => e['code'])).toEqual(['E_SHAPE', 'E_SHAPE']);
    expect(errors[0]!['message']).toBe("Expected y as this session's targets, class indices [m] (fixed by its first samples), got [2, 3]");
    expect(final).toMatchObject({ step: 3, samples: 12 });
    expect(c.of('consumed', 's').map((m) => m['seq'])).toEqual([0, 2, 4]);
  });

  it('fixes one-hot rows as the layout when they come first, and refuses labels after them', async () => {
    const c = await open(trainingThreads, { loss: 'mse' });
    c.send({ ...samples('s', 0, 2), y: f32([2, 3], [1, 0, 0, 0, 0, 1]) });
    c.send(samples('s', 1, 4));
    c.send({ ...samples('s', 2, 2), y: f32([2, 3], [0, 1, 0, 0, 0, 1]) });
    c.send({ id: 'final', type: 'snapshot', session: 's' });
    const final = await reply(c, 'final');
    expect(replies(c)).toEqual(['ack 0', 'error 1', 'ack 2', 'snapshot final']);
    expect(c.of('error', 's')[0]!['message']).toBe("Expected y as this session's targets, rows of targets [m, 3] (fixed by its first samples), got [4]");
    expect(final).toMatchObject({ step: 1, samples: 4 });
  });
});

describe('the same messages in both training modes', () => {
  /** Everything but the create, sent in one go: samples, sets, a reset, one-step samples, calls at their turn. */
  function script(c: TestClient): void {
    c.send(samples('s', 0, 5));
    c.send({ id: 'lr', type: 'control', session: 's', control: { action: 'set', lr: 0.05, momentum: 0.9 } });
    c.send(samples('s', 1, 3));
    c.send({ id: 'p1', type: 'predict', session: 's', x: predictX });
    c.send({ id: 'bs', type: 'control', session: 's', control: { action: 'set', batchSize: 3 } });
    c.send(oneStep(2, 7));
    c.send(samples('s', 3, 7));
    c.send({ id: 'mid', type: 'snapshot', session: 's' });
    c.send({ id: 'reset', type: 'control', session: 's', control: { action: 'reset' } });
    c.send(samples('s', 4, 4));
    c.send({ id: 'weights', type: 'control', session: 's', control: { action: 'snapshot' } });
    c.send(samples('s', 5, 6));
    c.send({ id: 'final', type: 'snapshot', session: 's' });
  }

  /** The same calls on an in-process trainer, in the same order. */
  function local(): { t: Trainer; events: TrainEvent[]; answers: Map<string, unknown> } {
    const { t, events } = localTrainer();
    const answers = new Map<string, unknown>();
    const at = (id: string, run: () => unknown) => t.inOrder({ run: () => answers.set(id, run()), refused: (e) => expect.fail(e.message) });
    t.offer(chunkBatch(0, 5), quietly);
    t.control({ action: 'set', lr: 0.05, momentum: 0.9 });
    t.offer(chunkBatch(1, 3), quietly);
    at('p1', () => new Uint8Array(bytes(t.predict({ dtype: 'float32', shape: [2, 4], data: new Float32Array(predictX.data.buffer.slice(0)) }).output.data)));
    t.control({ action: 'set', batchSize: 3 });
    t.offer(chunkBatch(2, 7), quietly, { step: true });
    t.offer(chunkBatch(3, 7), quietly);
    at('mid', () => trainerBytes(t));
    t.control({ action: 'reset' });
    t.offer(chunkBatch(4, 4), quietly);
    t.control({ action: 'snapshot' });
    t.offer(chunkBatch(5, 6), quietly);
    at('final', () => trainerBytes(t));
    return { t, events, answers };
  }

  it('gives the same weights, steps and controls bit for bit on threads, inline, and in process', async () => {
    const runs: TestClient[] = [];
    for (const { trainingThreads } of TRAINING_MODES) {
      const c = await open(trainingThreads);
      script(c);
      await reply(c, 'final');
      runs.push(c);
    }
    const [threads, inline] = runs as [TestClient, TestClient];
    const { events, answers } = local();

    const expectedBatches = [4, 1, 3, 7, 3, 3, 1, 3, 3, 3];
    const localSteps = events.filter((e) => e.type === 'step').map(stepFacts);
    const localControls = events.filter((e) => e.type === 'control').map(controlFacts);
    expect(localSteps.map((s) => s[1])).toEqual(expectedBatches);
    for (const c of [threads, inline]) {
      expect(c.of('step', 's').map(stepFacts)).toEqual(localSteps);
      expect(c.of('control', 's').map(controlFacts)).toEqual(localControls);
      const at = (ref: string) => c.messages.find((m) => m['ref'] === ref)!;
      expect([at('p1')['step'], at('mid')['step'], at('final')['step']]).toEqual([2, 6, 10]);
      expect(new Uint8Array(at('p1')['output']['data'] as Uint8Array)).toEqual(answers.get('p1'));
      expect(snapshotBytes(at('mid'))).toEqual(answers.get('mid'));
      expect(snapshotBytes(at('final'))).toEqual(answers.get('final'));
      expect(replies(c)).toEqual(['ack 0', 'controlled lr', 'ack 1', 'prediction p1', 'controlled bs', 'ack 2', 'ack 3', 'snapshot mid', 'controlled reset', 'ack 4', 'controlled weights', 'ack 5', 'snapshot final']);
    }
    expect(localControls.map(([step, c]) => [(c as { action: string }).action, step])).toEqual([['set', 2], ['set', 3], ['reset', 7], ['snapshot', 8]]);
  });
});
