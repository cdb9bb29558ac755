/**
 * createTrainer(): the bounded ingest queue and its policies, controls at batch boundaries,
 * the non-finite guard, and the events it publishes (metrics, weights, gradients, eval,
 * lifecycle, and the stamp on every event). Training is synchronous (`sliceMs: Infinity`)
 * unless a test is about the asynchronous drain.
 */
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import {
  adam,
  checkTrainConfig,
  cloneModel,
  createStepper,
  createTrainer,
  EVENT_TYPES,
  LivegradError,
  mlp,
  mlpFromWeights,
  predict,
  sgd,
  tensor,
  train,
  type Batch,
  type Control,
  type Mlp,
  type StepConfig,
  type Stepper,
  type TrainConfig,
  type Trainer,
  type TrainEvent,
  type WeightsEvent,
} from '../../src/index.js';
import { expectSameBits, expectSameModel, modelsDiffer } from '../helpers/bits.js';
import { digits, randomChunk, record, rows, settled, tag, TINY, W2, type Recording } from '../helpers/pipeline.js';

const QUIET = { metricsEvery: 0, gradientsEvery: 0, weightsEvery: 0 };
const SGD = sgd({ lr: 0.5 });
const BATCHES: readonly Batch[] = Array.from({ length: 16 }, (_, i) => randomChunk(100 + i, 2));

function tiny(overrides: Partial<TrainConfig> = {}): Trainer {
  return createTrainer({ model: TINY, loss: 'crossEntropy', optimizer: SGD, batchSize: 2, sliceMs: Infinity, now: () => 0, events: QUIET, ...overrides });
}

/** A stepper on a fresh TINY model: the reference the trainer must match bit for bit. */
function referenceStepper(config: StepConfig = { loss: 'crossEntropy', optimizer: SGD }, model: Mlp = mlp(TINY)): Stepper {
  return createStepper(model, config);
}

function stepOn(s: Stepper, batch: Batch): void {
  s.step(batch.x.data, { labels: batch.y.shape.length === 1, data: batch.y.data }, batch.x.shape[0]!);
}

function expectLivegradError(fn: () => unknown, code: string): LivegradError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(LivegradError);
  expect((caught as LivegradError).code).toBe(code);
  return caught as LivegradError;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('checkTrainConfig', () => {
  const good: TrainConfig = { model: TINY, loss: 'crossEntropy', optimizer: SGD };
  const bad: [string, TrainConfig][] = [
    ['no config', null as unknown as TrainConfig],
    ['empty session', { ...good, session: '' }],
    ['unknown loss', { ...good, loss: 'hinge' as never }],
    ['no model', { ...good, model: undefined as never }],
    ['a spec without layers', { ...good, model: { ...TINY, layers: [] } }],
    ['a loss the output does not fit', { ...good, loss: 'bce' }],
    ['a bad optimizer', { ...good, optimizer: { kind: 'sgd', lr: -1 } as never }],
    ['a bad clipNorm', { ...good, clipNorm: 0 }],
    ['a state of another optimizer', { ...good, optimizerState: { kind: 'adam', t: 0, hasMomentum: false, buffers: [] } }],
    ['a state of other sizes', { ...good, optimizerState: { kind: 'sgd', t: 0, hasMomentum: true, buffers: [[new Float32Array(1)], [new Float32Array(1)], [new Float32Array(1)], [new Float32Array(1)]] } }],
    ['a bad event rate', { ...good, events: { weightsEvery: -1 } }],
    ['a bad queue capacity', { ...good, queue: { capacity: 0 } }],
    ['a bad queue policy', { ...good, queue: { policy: 'drop' as never } }],
    ['a bad onNonFinite', { ...good, onNonFinite: 'ignore' as never }],
    ['a bad sliceMs', { ...good, sliceMs: -1 }],
    ['an eval set of the wrong width', { ...good, evalSet: { x: tensor([[1, 2, 3]]), y: tensor([0]) } }],
    ['an eval label out of range', { ...good, evalSet: { x: tensor([[1, 2]]), y: tensor([7]) } }],
    ['a bad batch size', { ...good, batchSize: 0 }],
    ['a bad startStep', { ...good, startStep: -1 }],
    ['a bad startSamples', { ...good, startSamples: 1.5 }],
  ];

  it.each(bad)('refuses %s with the error createTrainer gives', (_, config) => {
    let expected: unknown;
    try {
      createTrainer(config);
    } catch (e) {
      expected = e;
    }
    expect(expected).toBeInstanceOf(Error);
    expect(() => checkTrainConfig(config)).toThrow(expected as Error);
    expect(() => checkTrainConfig(config)).toThrow((expected as Error).constructor as ErrorConstructor);
  });

  it('gives the values with their defaults and the shape, building nothing', () => {
    const c = checkTrainConfig({ ...good, batchSize: 4, startStep: 10, startSamples: 40 });
    expect(c).toMatchObject({ session: 'default', loss: 'crossEntropy', batchSize: 4, startStep: 10, startSamples: 40, onNonFinite: 'skip', sliceMs: 4, queue: { capacity: 8, policy: 'block' } });
    expect(c.shape).toEqual({ dtype: 'float32', inputSize: 2, layers: [{ nin: 2, nout: 3, activation: 'sigmoid' }, { nin: 3, nout: 3, activation: 'softmax' }] });
    // a model of a billion parameters is described, not allocated (mlp() would need 4 GB)
    const huge = checkTrainConfig({ ...good, model: { inputSize: 100_000, layers: [{ units: 10_000, activation: 'relu' }, { units: 3, activation: 'softmax' }] } });
    expect(huge.shape.layers[0]).toEqual({ nin: 100_000, nout: 10_000, activation: 'relu' });
    // an existing model is taken as it is
    const model = mlp(TINY);
    expect(checkTrainConfig({ ...good, model }).shape).toBe(model);
  });
});

describe('createTrainer: the ingest queue', () => {
  it("'block' trains inside push() when the queue is full and never holds more than its capacity", async () => {
    const t = createTrainer({ model: TINY, loss: 'crossEntropy', optimizer: SGD, batchSize: 2, events: QUIET, queue: { capacity: 2, policy: 'block' } });
    const rec = record(t);
    const depths: number[] = [];
    for (const batch of BATCHES.slice(0, 10)) {
      t.push(batch);
      depths.push(t.queueDepth);
    }
    expect(depths).toEqual([1, 2, 2, 2, 2, 2, 2, 2, 2, 2]);
    expect(t.steps).toBe(8); // trained inline by the producer
    t.end();
    await settled(t);
    const steps = rec.of('step');
    expect(steps.map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(Math.max(...steps.map((e) => e.queueDepth))).toBeLessThanOrEqual(2);
    expect(steps.every((e) => e.dropped === 0)).toBe(true);
    // and it trained exactly the batches pushed, in order
    const ref = referenceStepper();
    for (const batch of BATCHES.slice(0, 10)) stepOn(ref, batch);
    expectSameModel(t.model, ref.model);
  });

  describe("'block' with a full queue of batches: push() trains the front batch and queues the chunk", () => {
    /** capacity 2, pushed one batch at a time: from the third push on, each push trains one batch inline. */
    const full = () => createTrainer({ model: TINY, loss: 'crossEntropy', optimizer: SGD, batchSize: 2, events: QUIET, queue: { capacity: 2, policy: 'block' } });

    it('a chunk pushed from a step handler goes in before the chunk being pushed, and the queue never holds more than its capacity', async () => {
      const t = full();
      const rec = record(t);
      const extra = randomChunk(7, 2);
      t.events$.subscribe((e) => {
        if (e.type === 'step' && e.step === 3) t.push(extra);
      });
      const depths: number[] = [];
      for (const batch of BATCHES.slice(0, 8)) {
        t.push(batch);
        depths.push(t.queueDepth);
      }
      expect(Math.max(...depths)).toBe(2);
      t.end();
      await settled(t);
      expect(Math.max(...rec.of('step').map((e) => e.queueDepth))).toBeLessThanOrEqual(2);
      // b0 b1 b2 trained by the pushes of b2 b3 b4; during step 3 (b2) the handler pushed `extra`
      // behind b3, so the push of b4 trains b3 too before b4 fits
      const ref = referenceStepper();
      for (const batch of [...BATCHES.slice(0, 4), extra, ...BATCHES.slice(4, 8)]) stepOn(ref, batch);
      expectSameModel(t.model, ref.model);
      expect(t.steps).toBe(9);
    });

    it('a control given from a step handler takes effect before the chunk being pushed', async () => {
      const t = full();
      const rec = record(t);
      t.events$.subscribe((e) => {
        if (e.type === 'step' && e.step === 3) t.control({ action: 'set', lr: 0.1 });
      });
      for (const batch of BATCHES.slice(0, 8)) t.push(batch);
      t.end();
      await settled(t);
      // given during step 3, while b4 was being pushed: after b3 (queued before it), before b4
      expect(rec.of('step').map((e) => e.lr)).toEqual([0.5, 0.5, 0.5, 0.5, 0.1, 0.1, 0.1, 0.1]);
      expect(rec.of('control').map((e) => e.step)).toEqual([4]);
    });

    it('an offer made from a step handler is admitted before the chunk being pushed', async () => {
      const t = full();
      const extra = randomChunk(8, 2);
      const heard: string[] = [];
      t.events$.subscribe((e) => {
        if (e.type === 'step' && e.step === 3) {
          t.offer(extra, { accepted: () => heard.push('accepted'), rejected: (err) => heard.push(err.code), consumed: (step) => heard.push(`consumed@${step}`) });
        }
      });
      for (const batch of BATCHES.slice(0, 8)) t.push(batch);
      t.end();
      await settled(t);
      expect(heard).toEqual(['accepted', 'consumed@5']);
      const ref = referenceStepper();
      for (const batch of [...BATCHES.slice(0, 4), extra, ...BATCHES.slice(4, 8)]) stepOn(ref, batch);
      expectSameModel(t.model, ref.model);
    });

    it('a guard that pauses in the inline step leaves the chunk queued behind the pause', async () => {
      const t = createTrainer({ model: TINY, loss: 'crossEntropy', optimizer: sgd({ lr: 1e38 }), batchSize: 2, events: QUIET, onNonFinite: 'pause', queue: { capacity: 2, policy: 'block' } });
      const rec = record(t);
      let pushed = 0;
      try {
        for (const batch of BATCHES.slice(0, 8)) {
          t.push(batch);
          pushed++;
        }
      } catch (e) {
        expect((e as LivegradError).code).toBe('E_QUEUE_FULL');
      }
      // a huge lr makes the weights non-finite at once: the second step is skipped and pauses, and
      // the queue, full while paused, refuses the next chunk
      expect(t.paused).toBe(true);
      expect(rec.of('lifecycle').map((e) => e.state)).toEqual(['started', 'paused']);
      expect(t.queueDepth).toBe(2);
      expect(t.steps + t.queueDepth).toBe(pushed);
      t.close();
    });
  });

  it("'block' refuses a chunk with E_QUEUE_FULL when full while paused", () => {
    const t = tiny({ queue: { capacity: 2, policy: 'block' } });
    t.control({ action: 'pause' });
    t.push(BATCHES[0]!);
    t.push(BATCHES[1]!);
    const e = expectLivegradError(() => t.push(BATCHES[2]!), 'E_QUEUE_FULL');
    expect(e.message).toBe('Expected room in the ingest queue (capacity 2 batches), got a full queue while paused');
    expect(t.queueDepth).toBe(2);
    t.control({ action: 'resume' });
    expect(t.steps).toBe(2);
  });

  it("'dropOldest' drops the oldest batches, counts them, and tells their producers with an undefined step", async () => {
    const t = createTrainer({ model: TINY, loss: 'crossEntropy', optimizer: SGD, batchSize: 2, events: QUIET, queue: { capacity: 2, policy: 'dropOldest' } });
    const rec = record(t);
    const consumed: [number, number | undefined][] = [];
    BATCHES.slice(0, 5).forEach((batch, i) => t.push(batch, (step) => consumed.push([i, step])));
    expect(consumed).toEqual([
      [0, undefined],
      [1, undefined],
      [2, undefined],
    ]);
    expect(t.dropped).toBe(3);
    t.end();
    await settled(t);
    expect(consumed.slice(3)).toEqual([
      [3, 1],
      [4, 2],
    ]);
    expect(rec.of('step').map((e) => [e.dropped, e.queueDepth])).toEqual([
      [3, 1],
      [3, 0],
    ]);
    const ref = referenceStepper();
    stepOn(ref, BATCHES[3]!);
    stepOn(ref, BATCHES[4]!);
    expectSameModel(t.model, ref.model);
  });

  it("'error' refuses a chunk with E_QUEUE_FULL when full, and the refused chunk leaves no trace", async () => {
    const t = createTrainer({ model: TINY, loss: 'crossEntropy', optimizer: SGD, batchSize: 2, events: QUIET, queue: { capacity: 1, policy: 'error' } });
    const consumed: [string, number | undefined][] = [];
    t.push(BATCHES[0]!, (s) => consumed.push(['first', s]));
    expectLivegradError(() => t.push(BATCHES[1]!, (s) => consumed.push(['refused', s])), 'E_QUEUE_FULL');
    await nextTurn();
    t.push(BATCHES[2]!, (s) => consumed.push(['third', s]));
    t.end();
    await settled(t);
    expect(consumed).toEqual([
      ['first', 1],
      ['third', 2],
    ]);
    expect([t.steps, t.samples]).toEqual([2, 4]);
  });

  it("'error' refuses a chunk that would complete a batch into a full queue without losing the rows held back", async () => {
    // batches of 4 from chunks of 3: the third chunk would complete a second batch while the first is queued
    const chunks = [0, 1, 2].map((i) => randomChunk(200 + i, 3));
    const t = createTrainer({ model: TINY, loss: 'crossEntropy', optimizer: SGD, batchSize: 4, events: QUIET, queue: { capacity: 1, policy: 'error' } });
    const rec = record(t);
    const consumed: [number, number | undefined][] = [];
    t.push(chunks[0]!, (s) => consumed.push([0, s]));
    t.push(chunks[1]!, (s) => consumed.push([1, s]));
    expectLivegradError(() => t.push(chunks[2]!, (s) => consumed.push([-1, s])), 'E_QUEUE_FULL');
    await nextTurn();
    t.push(chunks[2]!, (s) => consumed.push([2, s]));
    t.end();
    await settled(t);
    expect(rec.of('step').map((e) => e.batchSize)).toEqual([4, 4, 1]);
    expect(consumed).toEqual([
      [0, 1],
      [1, 2],
      [2, 3],
    ]);
    // the same rows, re-batched by a trainer that never refused anything
    const calm = tiny({ batchSize: 4 });
    chunks.forEach((chunk) => calm.push(chunk));
    calm.end();
    expectSameModel(t.model, calm.model);
  });

  it('lets the last partial batch in over capacity at end() rather than lose it', async () => {
    const t = createTrainer({ model: TINY, loss: 'crossEntropy', optimizer: SGD, batchSize: 4, events: QUIET, queue: { capacity: 1, policy: 'error' } });
    const rec = record(t);
    t.push(randomChunk(300, 4));
    t.push(randomChunk(301, 2));
    expect(() => t.end()).not.toThrow();
    await settled(t);
    expect(rec.completed).toBe(true);
    expect(rec.of('step').map((e) => e.batchSize)).toEqual([4, 2]);
  });

  it('publishes the queue depth in step events', async () => {
    const t = createTrainer({ model: TINY, loss: 'crossEntropy', optimizer: SGD, batchSize: 2, events: QUIET });
    const rec = record(t);
    BATCHES.slice(0, 5).forEach((batch) => t.push(batch));
    expect(t.queueDepth).toBe(5);
    t.end();
    await settled(t);
    expect(rec.of('step').map((e) => e.queueDepth)).toEqual([4, 3, 2, 1, 0]);
  });

  it('yields to the event loop between slices with the default sliceMs', async () => {
    const data = digits();
    const n = 150;
    const t = createTrainer({ model: W2, loss: 'crossEntropy', optimizer: SGD, batchSize: 32, events: QUIET, queue: { capacity: 256 } });
    for (let i = 0; i < n; i++) t.push(rows(data, (i % 56) * 32, (i % 56) * 32 + 32));
    expect(t.steps).toBe(0);
    let atImmediate = -1, atTimeout = -1;
    setImmediate(() => (atImmediate = t.steps));
    setTimeout(() => (atTimeout = t.steps), 0);
    t.end();
    await settled(t);
    expect(t.steps).toBe(n);
    expect(atImmediate).toBeGreaterThan(0);
    expect(atImmediate).toBeLessThan(n);
    expect(atTimeout).toBeGreaterThanOrEqual(0);
    expect(atTimeout).toBeLessThan(n);
  });

  it('trains synchronously inside push() with sliceMs Infinity', () => {
    const t = tiny();
    BATCHES.slice(0, 5).forEach((batch) => t.push(batch));
    expect([t.steps, t.queueDepth]).toEqual([5, 0]);
  });

  it('refuses a chunk whose layout does not fit the rows held back, keeping them', () => {
    const t = tiny({ batchSize: 4 });
    const rec = record(t);
    t.push(randomChunk(1, 3));
    const oneHot: Batch = { x: tensor([[0, 1]]), y: tensor([[0, 0, 1]]) };
    expectLivegradError(() => t.push(oneHot), 'E_SHAPE');
    t.push(randomChunk(2, 1));
    expect(rec.of('step').map((e) => e.batchSize)).toEqual([4]);
    expect(t.samples).toBe(4);
  });

  it('refuses chunks after end()', () => {
    const t = tiny();
    t.end();
    expectLivegradError(() => t.push(BATCHES[0]!), 'E_SESSION_CLOSED');
  });
});

describe('createTrainer: controls', () => {
  it('applies each control at a batch boundary and emits a control event for it', () => {
    const t = tiny({ events: { ...QUIET, metricsEvery: 0 } });
    const rec = record(t);
    t.control({ action: 'set', lr: 0.1 }, 2);
    t.control({ action: 'snapshot' }, 3);
    t.control({ action: 'pause' }, 4);
    BATCHES.slice(0, 7).forEach((batch) => t.push(batch));
    expect([t.steps, t.queueDepth, t.paused]).toEqual([4, 3, true]);
    t.control({ action: 'step' });
    expect([t.steps, t.queueDepth]).toEqual([5, 2]);
    t.control({ action: 'resume' });
    t.control({ action: 'reset' });
    expect(rec.tags()).toEqual([
      'lifecycle:started@0',
      'step@1',
      'step@2',
      'control:set@2',
      'step@3',
      'weights@3',
      'control:snapshot@3',
      'step@4',
      'lifecycle:paused@4',
      'control:pause@4',
      'control:step@4',
      'step@5',
      'lifecycle:resumed@5',
      'control:resume@5',
      'step@6',
      'step@7',
      'lifecycle:reset@7',
      'control:reset@7',
    ]);
    expect(rec.of('step').map((e) => e.lr)).toEqual([0.5, 0.5, 0.1, 0.1, 0.1, 0.1, 0.1]);
  });

  it("'step' trains exactly one queued batch while paused, and nothing when not paused", () => {
    const t = tiny();
    t.control({ action: 'pause' });
    BATCHES.slice(0, 3).forEach((batch) => t.push(batch));
    expect(t.steps).toBe(0);
    t.control({ action: 'step' });
    expect([t.steps, t.queueDepth, t.paused]).toEqual([1, 2, true]);
    t.control({ action: 'step' });
    expect([t.steps, t.queueDepth]).toEqual([2, 1]);
    t.control({ action: 'resume' });
    expect([t.steps, t.queueDepth]).toEqual([3, 0]);
    t.control({ action: 'step' }); // not paused: no credit is kept for later
    t.control({ action: 'pause' });
    t.push(BATCHES[3]!);
    expect([t.steps, t.queueDepth]).toEqual([3, 1]);
  });

  /** A session with a control of every kind at fixed steps; returns the final weights. */
  function scripted(shift = 0): Mlp {
    const t = tiny({ optimizer: sgd({ lr: 0.3 }) });
    t.control({ action: 'set', lr: 0.2, momentum: 0.9 }, 2 + shift);
    t.control({ action: 'set', weightDecay: 0.01, clipNorm: 0.5 }, 4);
    t.control({ action: 'pause' }, 5);
    BATCHES.slice(0, 5).forEach((batch) => t.push(batch));
    t.control({ action: 'set', batchSize: 3 });
    BATCHES.slice(5, 8).forEach((batch) => t.push(batch));
    t.control({ action: 'step' });
    t.control({ action: 'set', clipNorm: null });
    t.control({ action: 'resume' });
    BATCHES.slice(8, 12).forEach((batch) => t.push(batch));
    t.end();
    return cloneModel(t.model);
  }

  it('is deterministic: the same batches and the same controls at the same steps give the same weights', () => {
    const first = scripted();
    expectSameModel(scripted(), first);
    expect(modelsDiffer(scripted(1), first)).toBe(true);
  });

  it('is deterministic with a synchronous control$ interleaved with the data', () => {
    function run(): Mlp {
      const chunks$ = new Subject<Batch>();
      const control$ = new Subject<Control>();
      let last: WeightsEvent | undefined;
      chunks$.pipe(train({ model: TINY, loss: 'crossEntropy', optimizer: SGD, batchSize: 2, sliceMs: Infinity, events: QUIET, control$ })).subscribe((e) => {
        if (e.type === 'weights') last = e;
      });
      BATCHES.slice(0, 4).forEach((batch) => chunks$.next(batch));
      control$.next({ action: 'set', lr: 0.05, momentum: 0.5 });
      BATCHES.slice(4, 8).forEach((batch) => chunks$.next(batch));
      control$.next({ action: 'snapshot' });
      chunks$.complete();
      return mlpFromWeights(last!.layers.map((l, i) => ({ activation: TINY.layers[i]!.activation, weights: l.w, bias: l.b })));
    }
    const first = run();
    expectSameModel(run(), first);
    expect(modelsDiffer(first, mlp(TINY))).toBe(true);
  });

  it('sets lr, momentum, weightDecay and clipNorm from the next step on, as the step config would', () => {
    const t = tiny({ optimizer: sgd({ lr: 0.3 }) });
    t.control({ action: 'set', lr: 0.1, momentum: 0.9, weightDecay: 0.01, clipNorm: 0.05 }, 3);
    t.control({ action: 'set', clipNorm: null }, 5);
    BATCHES.slice(0, 7).forEach((batch) => t.push(batch));
    const ref = referenceStepper({ loss: 'crossEntropy', optimizer: sgd({ lr: 0.3 }) });
    BATCHES.slice(0, 3).forEach((batch) => stepOn(ref, batch));
    ref.config = { loss: 'crossEntropy', optimizer: sgd({ lr: 0.1, momentum: 0.9, weightDecay: 0.01 }), clipNorm: 0.05 };
    BATCHES.slice(3, 5).forEach((batch) => stepOn(ref, batch));
    ref.config = { loss: 'crossEntropy', optimizer: sgd({ lr: 0.1, momentum: 0.9, weightDecay: 0.01 }) };
    BATCHES.slice(5, 7).forEach((batch) => stepOn(ref, batch));
    expectSameModel(t.model, ref.model);
    expect(t.config).toEqual(ref.config);
  });

  it('sets the batch size for the rows that arrive after the boundary', () => {
    const t = tiny();
    const rec = record(t);
    BATCHES.slice(0, 2).forEach((batch) => t.push(batch));
    t.control({ action: 'set', batchSize: 3 });
    BATCHES.slice(2, 6).forEach((batch) => t.push(batch));
    t.end();
    expect(rec.of('step').map((e) => e.batchSize)).toEqual([2, 2, 3, 3, 2]);
    expect(t.batchSize).toBe(3);
  });

  it('refuses a batch size change at a later step: which rows it reaches would depend on timing', () => {
    const t = tiny();
    const e = expectLivegradError(() => t.control({ action: 'set', batchSize: 3 }, 2), 'E_BAD_CONTROL');
    expect(e.message).toMatch(/^Expected a batchSize change without atStep/);
    t.control({ action: 'set', lr: 0.2 }, 2); // the rest of a set may name a step
  });

  it('resets to the initial weights bit for bit, and the optimizer state with them', () => {
    const t = tiny({ optimizer: sgd({ lr: 0.5, momentum: 0.9 }) });
    BATCHES.slice(0, 4).forEach((batch) => t.push(batch));
    const trained = cloneModel(t.model);
    expect(modelsDiffer(trained, mlp(TINY))).toBe(true);
    t.control({ action: 'reset' });
    expectSameModel(t.model, mlp(TINY));
    expect([t.optimizerState.t, t.optimizerState.hasMomentum]).toEqual([0, false]);
    expect(t.optimizerState.buffers.flat().every((b) => b.every((v) => v === 0))).toBe(true);
    // the same batches again retrace the same path, momentum included
    BATCHES.slice(0, 4).forEach((batch) => t.push(batch));
    expectSameModel(t.model, trained);
  });

  it('resets to explicit initial weights and leaves the caller’s model untouched', () => {
    const given = mlp({ ...TINY, seed: 99 });
    const before = cloneModel(given);
    const t = tiny({ model: given });
    BATCHES.slice(0, 3).forEach((batch) => t.push(batch));
    t.control({ action: 'reset' });
    expectSameModel(t.model, before);
    expectSameModel(given, before);
  });

  it('snapshots the current weights into a weights event, as copies', () => {
    const t = tiny();
    const rec = record(t);
    BATCHES.slice(0, 3).forEach((batch) => t.push(batch));
    t.control({ action: 'snapshot' });
    const [w] = rec.of('weights');
    expect(w!.step).toBe(3);
    w!.layers.forEach((l, i) => {
      expect(l.w.shape).toEqual([t.model.layers[i]!.nin, t.model.layers[i]!.nout]);
      expectSameBits(l.w.data, t.model.layers[i]!.w, `w${i}`);
      expectSameBits(l.b.data, t.model.layers[i]!.b, `b${i}`);
    });
    const copy = w!.layers[0]!.w.data.slice();
    t.push(BATCHES[3]!);
    expectSameBits(w!.layers[0]!.w.data, copy);
    expect(modelsDiffer(t.model, mlpFromWeights(w!.layers.map((l, i) => ({ activation: TINY.layers[i]!.activation, weights: l.w, bias: l.b }))))).toBe(true);
  });

  it('refuses momentum on adam with E_BAD_CONTROL, now or at a later step, and trains on', () => {
    const t = tiny({ optimizer: adam({ lr: 0.01 }) });
    const rec = record(t);
    expectLivegradError(() => t.control({ action: 'set', momentum: 0.9 }), 'E_BAD_CONTROL');
    expectLivegradError(() => t.control({ action: 'set', momentum: 0.9 }, 2), 'E_BAD_CONTROL');
    BATCHES.slice(0, 3).forEach((batch) => t.push(batch));
    expect([t.steps, t.done]).toEqual([3, false]);
    expect(rec.of('control')).toEqual([]);
    t.control({ action: 'set', lr: 0.02, weightDecay: 0.1 });
    expect(t.config.optimizer).toMatchObject({ kind: 'adam', lr: 0.02, weightDecay: 0.1 });
  });

  it.each([
    ['an unknown action', { action: 'rewind' }],
    ['a negative lr', { action: 'set', lr: -0.1 }],
    ['batchSize 0', { action: 'set', batchSize: 0 }],
    ['a fractional batchSize', { action: 'set', batchSize: 2.5 }],
    ['clipNorm 0', { action: 'set', clipNorm: 0 }],
    ['an unknown field', { action: 'set', lr: 0.1, beta: 0.9 }],
    ['nothing to set', { action: 'set' }],
    ['null', null],
  ])('refuses %s with LivegradError E_BAD_CONTROL', (_what, control) => {
    const t = tiny();
    const rec = record(t);
    const e = expectLivegradError(() => t.control(control), 'E_BAD_CONTROL');
    expect(e.cause).toBeInstanceOf(Error);
    expect(rec.of('control')).toEqual([]);
  });
});

describe('createTrainer: controls sent from an event handler', () => {
  it('wait until the step being reported has emitted all of its events', () => {
    const t = tiny({ events: { metricsEvery: 1, gradientsEvery: 1, weightsEvery: 0 } });
    const rec = record(t);
    t.events$.subscribe((e) => {
      if (e.type === 'step' && e.step === 2) t.control({ action: 'snapshot' });
    });
    for (const b of BATCHES.slice(0, 3)) t.push(b);
    const tags = rec.tags();
    const at = tags.indexOf('step@2');
    expect(tags.slice(at, at + 5)).toEqual(['step@2', 'metrics@2', 'gradients@2', 'weights@2', 'control:snapshot@2']);
    expect(tags[at + 5]).toBe('step@3');
  });
});

describe('createTrainer: the non-finite guard', () => {
  // float64 linear regression with lr 1e30: the weights grow ~1e30-fold per step and stay finite
  // until step 6, whose loss overflows (~1e309)
  const blowUp = (onNonFinite: 'skip' | 'pause' | 'fail'): Trainer =>
    createTrainer({
      model: mlpFromWeights([{ activation: 'linear', weights: [[0.5], [-0.25]], bias: [0] }], 'float64'),
      loss: 'mse',
      optimizer: sgd({ lr: 1e30 }),
      batchSize: 2,
      sliceMs: Infinity,
      events: QUIET,
      onNonFinite,
    });
  const regression: Batch = { x: tensor([[1, 2], [3, 1]], undefined, 'float64'), y: tensor([[1], [0]], undefined, 'float64') };

  it("'skip' leaves the weights unchanged, reports E_NON_FINITE naming the step, and trains on", () => {
    const t = blowUp('skip');
    const rec = record(t);
    for (let i = 0; i < 5; i++) t.push(regression);
    const before = cloneModel(t.model);
    expect(before.layers[0]!.w.every(Number.isFinite)).toBe(true);
    t.push(regression);
    expectSameModel(t.model, before);
    const step6 = rec.of('step').at(-1)!;
    expect([step6.step, step6.applied, step6.loss]).toEqual([6, false, Infinity]);
    const [error] = rec.of('error');
    expect([error!.code, error!.step]).toEqual(['E_NON_FINITE', 6]);
    expect(error!.message).toMatch(/^Step 6 not applied: non-finite loss/);
    expect(t.optimizerState.t).toBe(5);
    // training goes on: a reset and a sane rate and the next steps apply
    t.control({ action: 'reset' });
    t.control({ action: 'set', lr: 0.01 });
    t.push(regression);
    expect(rec.of('step').at(-1)!).toMatchObject({ step: 7, applied: true });
    expect(rec.completed || rec.error !== undefined).toBe(false);
  });

  it('reports the finite loss of a step skipped for non-finite gradients (docs/protocol.md: NaN only when the loss was not finite)', () => {
    // float32: the loss (summed in float64) is 2.5e39, the gradient 5e39 overflows float32
    const t = createTrainer({ model: mlpFromWeights([{ activation: 'linear', weights: [[0.5], [-0.25]], bias: [0] }]), loss: 'mse', optimizer: sgd({ lr: 0.1 }), batchSize: 2, sliceMs: Infinity, events: QUIET });
    const rec = record(t);
    t.push({ x: tensor([[1e20, 0], [1e20, 0]]), y: tensor([[0], [0]]) });
    const [step] = rec.of('step');
    expect(step).toMatchObject({ applied: false, loss: 2.5000001002043877e39 });
    expect(rec.of('error')[0]!.message).toMatch(/^Step 1 not applied: non-finite gradients \(loss 2\.5000001002043877e\+39, gradient norm Infinity\)$/);
  });

  it("'skip' gives the weights of a run that never saw the bad batch", () => {
    const linear = mlpFromWeights([{ activation: 'linear', weights: [[1], [1]], bias: [0] }]);
    const huge: Batch = { x: tensor([[3e38, 3e38], [3e38, 3e38]]), y: tensor([[0], [0]]) };
    const ok = [0, 1, 2].map((k): Batch => ({ x: tensor([[0.5, k], [1, -1]]), y: tensor([[1], [0]]) }));
    const config = { model: linear, loss: 'mse' as const, optimizer: sgd({ lr: 0.1, momentum: 0.9 }), batchSize: 2, sliceMs: Infinity, events: QUIET };
    const skipping = createTrainer(config);
    [ok[0]!, huge, ok[1]!, huge, ok[2]!].forEach((batch) => skipping.push(batch));
    const clean = createTrainer(config);
    ok.forEach((batch) => clean.push(batch));
    expect(skipping.steps).toBe(5);
    expectSameModel(skipping.model, clean.model);
    expect(skipping.optimizerState.t).toBe(clean.optimizerState.t);
  });

  it("'pause' pauses the session after the batch and holds the rest until resumed", () => {
    const t = blowUp('pause');
    const rec = record(t);
    for (let i = 0; i < 7; i++) t.push(regression);
    expect([t.steps, t.paused, t.queueDepth]).toEqual([6, true, 1]);
    const paused = rec.of('lifecycle').at(-1)!;
    expect([paused.state, paused.step]).toEqual(['paused', 6]);
    expect(paused.reason).toMatch(/^Step 6 not applied/);
    t.control({ action: 'resume' });
    expect(t.steps).toBe(7);
  });

  it("'fail' fails the session with LivegradError E_NON_FINITE after a lifecycle failed", () => {
    const t = blowUp('fail');
    const rec = record(t);
    for (let i = 0; i < 6; i++) t.push(regression);
    expect(rec.error).toBeInstanceOf(LivegradError);
    expect((rec.error as LivegradError).code).toBe('E_NON_FINITE');
    expect(rec.tags().slice(-3)).toEqual(['step@6', 'error:E_NON_FINITE@6', 'lifecycle:failed@6']);
    expect(t.done).toBe(true);
    expectLivegradError(() => t.push(regression), 'E_SESSION_CLOSED');
  });
});

describe('createTrainer: events', () => {
  it('publishes the running loss over the last `metricsWindow` steps', () => {
    const t = tiny({ events: { ...QUIET, metricsEvery: 1, metricsWindow: 3 } });
    const rec = record(t);
    BATCHES.slice(0, 8).forEach((batch) => t.push(batch));
    const losses = rec.of('step').map((e) => e.loss);
    const metrics = rec.of('metrics');
    expect(metrics.map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    metrics.forEach((e, i) => {
      const last = losses.slice(Math.max(0, i - 2), i + 1);
      expect(e.runningLoss).toBeCloseTo(last.reduce((x, y) => x + y, 0) / last.length, 12);
      expect([e.window, e.samples]).toEqual([3, 2 * (i + 1)]);
    });
  });

  it('scores accuracy test-then-train, on the predictions made before each update', () => {
    const data = digits();
    const t = createTrainer({ model: W2, loss: 'crossEntropy', optimizer: sgd({ lr: 2 }), batchSize: 16, sliceMs: Infinity, events: { ...QUIET, metricsEvery: 1, metricsWindow: 4 } });
    const rec = record(t);
    const correct = (b: Batch): number => {
      const out = t.predict(b.x).output.data;
      let k = 0;
      for (let i = 0; i < 16; i++) {
        const row = Array.from(out.subarray(i * 10, i * 10 + 10));
        if (row.indexOf(Math.max(...row)) === b.y.data[i]) k++;
      }
      return k;
    };
    const before: number[] = [], after: number[] = [];
    for (let i = 0; i < 12; i++) {
      const b = rows(data, i * 16, i * 16 + 16);
      before.push(correct(b));
      t.push(b);
      after.push(correct(b));
    }
    const expected = before.map((_, i) => before.slice(Math.max(0, i - 3), i + 1).reduce((x, y) => x + y, 0) / (16 * Math.min(4, i + 1)));
    expect(rec.of('metrics').map((e) => e.accuracy)).toEqual(expected);
    expect(after).not.toEqual(before); // the update changes the predictions, so the order matters
  });

  it('reports no accuracy for regression losses', () => {
    const t = createTrainer({ model: { inputSize: 2, layers: [{ units: 1, activation: 'linear' }] }, loss: 'mse', optimizer: SGD, batchSize: 2, sliceMs: Infinity, events: { ...QUIET, metricsEvery: 1 } });
    const rec = record(t);
    t.push({ x: tensor([[1, 2], [3, 4]]), y: tensor([[1], [0]]) });
    expect(rec.of('metrics')[0]!.accuracy).toBeUndefined();
  });

  it('publishes the weights every `weightsEvery` steps', () => {
    const t = tiny({ events: { ...QUIET, weightsEvery: 3 } });
    const rec = record(t);
    const ref = referenceStepper();
    const expected: Mlp[] = [];
    BATCHES.slice(0, 7).forEach((batch, i) => {
      t.push(batch);
      stepOn(ref, batch);
      if ((i + 1) % 3 === 0) expected.push(cloneModel(ref.model));
    });
    const weights = rec.of('weights');
    expect(weights.map((e) => e.step)).toEqual([3, 6]);
    weights.forEach((e, k) =>
      e.layers.forEach((l, i) => {
        expectSameBits(l.w.data, expected[k]!.layers[i]!.w, `weights@${e.step} w${i}`);
        expectSameBits(l.b.data, expected[k]!.layers[i]!.b, `weights@${e.step} b${i}`);
      }),
    );
  });

  it('publishes gradient norms every `gradientsEvery` steps, and the tensors when asked', () => {
    const t = tiny({ events: { ...QUIET, gradientsEvery: 2, gradientTensors: true } });
    const rec = record(t);
    const ref = referenceStepper();
    const expected: { dW: Float32Array[]; db: Float32Array[] }[] = [];
    BATCHES.slice(0, 4).forEach((batch, i) => {
      t.push(batch);
      stepOn(ref, batch);
      if (i % 2 === 1) expected.push({ dW: ref.workspace.dW.map((g) => Float32Array.from(g)), db: ref.workspace.db.map((g) => Float32Array.from(g)) });
    });
    const steps = rec.of('step');
    const grads = rec.of('gradients');
    expect(grads.map((e) => e.step)).toEqual([2, 4]);
    grads.forEach((e, k) => {
      expect(e.norms).toEqual(steps[e.step - 1]!.gradNorms);
      e.layers!.forEach((l, i) => {
        expectSameBits(l.w.data, expected[k]!.dW[i]!, `dW${i}`);
        expectSameBits(l.b.data, expected[k]!.db[i]!, `db${i}`);
        expect(Math.hypot(...l.w.data, ...l.b.data)).toBeCloseTo(e.norms[i]!, 6);
      });
    });
    const plain = tiny({ events: { ...QUIET, gradientsEvery: 1 } });
    const plainRec = record(plain);
    plain.push(BATCHES[0]!);
    expect(plainRec.of('gradients')[0]!.layers).toBeUndefined();
  });

  it('evaluates the eval set every `evalEvery` steps, with a confusion matrix over all of it', () => {
    const data = digits();
    const evalSet = rows(data, 1500, 1797);
    const t = createTrainer({ model: W2, loss: 'crossEntropy', optimizer: SGD, batchSize: 32, sliceMs: Infinity, evalSet, events: { ...QUIET, evalEvery: 5 } });
    const rec = record(t);
    const snapshots: Mlp[] = [];
    for (let i = 0; i < 10; i++) {
      t.push(rows(data, i * 32, i * 32 + 32));
      if ((i + 1) % 5 === 0) snapshots.push(cloneModel(t.model));
    }
    const evals = rec.of('eval');
    expect(evals.map((e) => e.step)).toEqual([5, 10]);
    evals.forEach((e, k) => {
      const out = predict(snapshots[k]!, evalSet.x).data;
      const confusion = Array.from({ length: 10 }, () => new Array<number>(10).fill(0));
      let loss = 0;
      for (let i = 0; i < 297; i++) {
        const row = Array.from(out.subarray(i * 10, i * 10 + 10));
        const actual = evalSet.y.data[i]!;
        confusion[actual]![row.indexOf(Math.max(...row))]!++;
        loss -= Math.log(row[actual]!);
      }
      expect(e.samples).toBe(297);
      expect(e.confusion).toEqual(confusion);
      expect(e.confusion!.flat().reduce((x, y) => x + y, 0)).toBe(297);
      expect(e.accuracy).toBe(confusion.reduce((s, r, i) => s + r[i]!, 0) / 297);
      expect(e.loss).toBeCloseTo(loss / 297, 4);
    });
  });

  it('stamps every event with the session, the step and the time, from started to completed', () => {
    let clock = 1_000;
    const evalSet = randomChunk(9, 6);
    const t = createTrainer({
      session: 'lab',
      model: TINY,
      loss: 'crossEntropy',
      optimizer: SGD,
      batchSize: 2,
      sliceMs: Infinity,
      evalSet,
      events: { metricsEvery: 2, weightsEvery: 3, gradientsEvery: 2, evalEvery: 4 },
      now: () => ++clock,
    });
    const rec = record(t);
    BATCHES.slice(0, 4).forEach((batch) => t.push(batch));
    t.control({ action: 'snapshot' });
    expectLivegradError(() => t.push({ x: tensor([[NaN, 0]]), y: tensor([0]) }), 'E_NON_FINITE');
    t.report('E_NON_FINITE', 'a chunk was refused');
    t.push(BATCHES[4]!);
    t.end();
    expect(rec.completed).toBe(true);
    const events: TrainEvent[] = rec.events;
    expect(new Set(events.map((e) => e.type))).toEqual(new Set(EVENT_TYPES));
    expect(events.every((e) => e.session === 'lab')).toBe(true);
    expect(events.map((e) => e.time)).toEqual(events.map((_, i) => 1_001 + i));
    let last = 0;
    for (const e of events) {
      expect(Number.isInteger(e.step) && e.step >= last).toBe(true);
      if (e.type === 'step') expect(e.step).toBe(last + 1);
      last = e.step;
    }
    expect(rec.tags()[0]).toBe('lifecycle:started@0');
    expect(rec.tags().at(-1)).toBe('lifecycle:completed@5');
  });

  it('continues the step and sample counters from startStep and startSamples', () => {
    const t = tiny({ startStep: 100, startSamples: 3200 });
    const rec = record(t);
    t.push(BATCHES[0]!);
    expect(rec.of('step').map((e) => [e.step, e.samples])).toEqual([[101, 3202]]);
  });

  it('completes with reason "closed" on close(), dropping the queue', () => {
    const t = tiny();
    const rec = record(t);
    t.control({ action: 'pause' });
    t.push(BATCHES[0]!);
    t.close();
    expect(rec.completed).toBe(true);
    const last = rec.of('lifecycle').at(-1)!;
    expect([last.state, last.reason]).toEqual(['completed', 'closed']);
    expect(t.queueDepth).toBe(0);
  });
});

describe('createTrainer: events$', () => {
  it('gives every event to every subscriber, and a late subscriber only what follows', () => {
    const t = tiny();
    const first = record(t);
    t.push(BATCHES[0]!);
    const second = record(t);
    t.push(BATCHES[1]!);
    t.end();
    expect(first.tags()).toEqual(['lifecycle:started@0', 'step@1', 'step@2', 'lifecycle:completed@2']);
    expect(second.tags()).toEqual(['step@2', 'lifecycle:completed@2']);
    expect([first.completed, second.completed]).toEqual([true, true]);
  });

  it('gives an event to those subscribed when its emit began, and none to one unsubscribed meanwhile', () => {
    const t = tiny();
    const got: string[] = [];
    let late: Recording | undefined;
    t.events$.subscribe((e) => {
      got.push(`a:${tag(e)}`);
      if (e.type === 'step' && e.step === 1) {
        b.unsubscribe(); // b is after a: it would have had this event next
        late = record(t); // subscribes now: gets step@2, not this step@1
      }
    });
    const b = t.events$.subscribe((e) => got.push(`b:${tag(e)}`));
    t.push(BATCHES[0]!);
    t.push(BATCHES[1]!);
    expect(got).toEqual(['a:lifecycle:started@0', 'b:lifecycle:started@0', 'a:step@1', 'a:step@2']);
    expect(late!.tags()).toEqual(['step@2']);
  });

  it('completes a subscriber that comes after the session completed, at once and with no events', () => {
    const t = tiny();
    t.push(BATCHES[0]!);
    t.end();
    const rec = record(t);
    expect([rec.events, rec.completed, rec.error]).toEqual([[], true, undefined]);
  });

  it('errors a subscriber that comes after the session failed, with the same error', () => {
    const t = tiny();
    const early = record(t);
    const boom = new Error('source failed');
    t.abort(boom);
    const rec = record(t);
    expect([rec.events, rec.completed, rec.error]).toEqual([[], false, boom]);
    expect(early.error).toBe(boom);
    expect(early.tags()).toEqual(['lifecycle:failed@0']);
  });
});
