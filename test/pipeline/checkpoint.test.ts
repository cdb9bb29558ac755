/**
 * A trainer's checkpoint and restore (src/pipeline/trainer/checkpoint.ts), and manual mode: a
 * trainer restored from a checkpoint taken between any two steps and given the inputs that came
 * after it does what the original did, bit for bit; a `manual` trainer given each input at the
 * step it entered the live order (what its journal said) does what the live trainer did.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  adam,
  checkpointDifference,
  createTrainer,
  LivegradError,
  sgd,
  type Batch,
  type Control,
  type Journal,
  type Optimizer,
  type TrainConfig,
  type Trainer,
  type TrainerCheckpoint,
  type TrainEvent,
} from '../../src/index.js';
import { expectSameBits, expectSameModel, expectSameState } from '../helpers/bits.js';
import { randomChunk, record, settled, TINY } from '../helpers/pipeline.js';

const quietly = { accepted: () => undefined, rejected: (e: LivegradError) => expect.fail(e.message), consumed: () => undefined };
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

const OPTIMIZERS: readonly (readonly [string, Optimizer])[] = [
  ['sgd with momentum', sgd({ lr: 0.4, momentum: 0.9 })],
  ['adam', adam({ lr: 0.05 })],
];

function configOf(optimizer: Optimizer, overrides: Partial<TrainConfig> = {}): TrainConfig {
  // metricsWindow 5: the window wraps several times in a script
  return { model: TINY, loss: 'crossEntropy', optimizer, batchSize: 4, events: { metricsEvery: 1, metricsWindow: 5, gradientsEvery: 3, weightsEvery: 7 }, ...overrides };
}

/** Events without what describes the run's timing (time, durationMs, queueDepth). */
function timeless(events: readonly TrainEvent[]): unknown[] {
  return events.map((e) => {
    const { time: _t, ...rest } = e;
    if (rest.type !== 'step') return rest;
    const { durationMs: _d, queueDepth: _q, ...step } = rest;
    return step;
  });
}

/** An input as a journal saw it enter the order (a `resume` or `step` taken from the waiting offers is one too: `flow` is left out). */
type Input =
  | { readonly kind: 'samples'; readonly steps: number; readonly firstStep: number; readonly oneStep: boolean; readonly chunk: Batch }
  | { readonly kind: 'control'; readonly steps: number; readonly control: Control; readonly atStep: number | undefined }
  | { readonly kind: 'end'; readonly steps: number; readonly resume: boolean };

function copyOf(b: Batch): Batch {
  return { x: { ...b.x, data: b.x.data.slice() }, y: { ...b.y, data: b.y.data.slice() } };
}

/** A journal that keeps what it is told in memory. */
function capture(into: Input[]): Journal {
  return {
    samples: (chunk, at) => into.push({ kind: 'samples', steps: at.steps, firstStep: at.firstStep, oneStep: at.oneStep, chunk: copyOf(chunk) }),
    control: (c, at) => into.push({ kind: 'control', steps: at.steps, control: c, atStep: at.atStep }),
    end: (at) => into.push({ kind: 'end', steps: at.steps, resume: at.resume }),
    close: () => expect.fail('Expected no close in these sessions'),
    stepped: () => undefined,
  };
}

/** One thing given to a trainer, or a wait until it has trained what it can. */
type Op =
  | { readonly kind: 'offer'; readonly seed: number; readonly m: number; readonly oneStep?: boolean }
  | { readonly kind: 'control'; readonly control: Control; readonly atStep?: number }
  | { readonly kind: 'tick' }
  | { readonly kind: 'end' };

const offer = (seed: number, m: number, oneStep = false): Op => ({ kind: 'offer', seed, m, oneStep });
const control = (c: Control, atStep?: number): Op => (atStep === undefined ? { kind: 'control', control: c } : { kind: 'control', control: c, atStep });
const TICK: Op = { kind: 'tick' };

/**
 * A session with something of everything a checkpoint holds between two of its ops: controls
 * scheduled for later steps (given first, at step 0, so that every run schedules them), a
 * changed batch size, held-back rows, a pause with `step` controls taken and queued, queued
 * `set` and `reset` controls, a one-step chunk, and the end.
 */
const SCRIPT: readonly Op[] = [
  control({ action: 'set', lr: 0.3 }, 5),
  control({ action: 'set', clipNorm: 0.5 }, 11),
  control({ action: 'set', weightDecay: 0.01 }, 14),
  offer(1, 10),
  control({ action: 'set', batchSize: 3 }),
  offer(2, 7),
  TICK,
  offer(3, 5),
  control({ action: 'pause' }),
  offer(4, 9),
  TICK,
  control({ action: 'step' }),
  control({ action: 'step' }),
  offer(5, 4),
  control({ action: 'set', lr: 0.2 }),
  control({ action: 'reset' }),
  offer(6, 6),
  TICK,
  control({ action: 'resume' }),
  offer(7, 13),
  offer(8, 5, true),
  control({ action: 'snapshot' }),
  TICK,
  control({ action: 'set', batchSize: 4 }),
  offer(9, 17),
  { kind: 'end' },
];

function give(t: Trainer, op: Exclude<Op, { kind: 'tick' }>): void {
  switch (op.kind) {
    case 'offer':
      t.offer(randomChunk(op.seed, op.m), quietly, { step: op.oneStep === true });
      return;
    case 'control':
      t.control(op.control, op.atStep);
      return;
    case 'end':
      t.end();
      return;
    default: {
      const never: never = op;
      throw new Error(`unknown op ${JSON.stringify(never)}`);
    }
  }
}

/**
 * Turns of the event loop until one passes without a step: the trainers have trained all they
 * can (a drain that trains at all takes a step per turn), however slow the machine.
 */
async function idle(trainers: readonly Trainer[]): Promise<void> {
  const steps = (): number => trainers.reduce((n, t) => n + t.steps, 0);
  for (let before = -1; before !== steps(); ) {
    before = steps();
    await tick();
  }
}

/** Gives `ops` to every trainer, in turn; at each tick, waits until they are idle. */
async function feed(trainers: readonly Trainer[], ops: readonly Op[]): Promise<void> {
  for (const op of ops) {
    if (op.kind === 'tick') await idle(trainers);
    else for (const t of trainers) give(t, op);
  }
}

/** Trains a trainer to its end: a manual one in runTo, another on its own. */
async function finish(t: Trainer, manual: boolean): Promise<void> {
  const done = settled(t);
  if (manual) t.runTo(Infinity);
  await done;
  expect(t.done).toBe(true);
}

interface Continued {
  readonly cp: TrainerCheckpoint;
  readonly original: Trainer;
  readonly restored: Trainer;
  /** The original's events from the checkpoint on, and the restored trainer's. */
  readonly live: readonly TrainEvent[];
  readonly again: readonly TrainEvent[];
  /** Inputs that entered the original's order after the checkpoint, though given before it (offers waiting for room, and what waited behind them). */
  readonly late: number;
}

/**
 * The script run whole by an original trainer, and a trainer restored from the checkpoint the
 * original took before op `cut`. `same ops`: the restored trainer is given the ops from `cut` on,
 * in the same turns of the event loop (right for a queue with room for everything: nothing
 * waits). `journal`: it is given what the original's journal said entered the order after the
 * checkpoint (offers still waiting for room are not in a checkpoint: they enter later), a manual
 * trainer each at its step, as a replay does.
 */
async function continued(config: TrainConfig, cut: number, manual: boolean, feedWith: 'same ops' | 'journal'): Promise<Continued> {
  const inputs: Input[] = [];
  const original = createTrainer({ ...config, journal: capture(inputs) });
  const live = record(original);
  original.start();
  await feed([original], SCRIPT.slice(0, cut));
  const cp = original.checkpoint();
  const from = live.events.length;
  const before = inputs.length;
  const restored = createTrainer({ ...config, restore: cp, manual });
  const again = record(restored);
  if (feedWith === 'same ops') {
    await feed([original, restored], SCRIPT.slice(cut));
    await finish(original, false);
  } else {
    await feed([original], SCRIPT.slice(cut));
    await finish(original, false);
    giveInputs(restored, inputs.slice(before), manual);
  }
  await finish(restored, manual);
  const given = (ops: readonly Op[]): number => ops.filter((op) => op.kind === 'offer' || op.kind === 'control' || op.kind === 'end').length;
  return { cp, original, restored, live: live.events.slice(from), again: again.events, late: inputs.length - before - given(SCRIPT.slice(cut)) };
}

function expectSameTrainer(actual: Trainer, expected: Trainer): void {
  expect([actual.steps, actual.samples, actual.batchSize]).toEqual([expected.steps, expected.samples, expected.batchSize]);
  expectSameModel(actual.model, expected.model);
  expectSameState(actual.optimizerState, expected.optimizerState);
}

describe('Trainer.checkpoint and restore', () => {
  describe.each(OPTIMIZERS)('%s', (_name, optimizer) => {
    it.each([
      ['same ops', false, 64],
      ['same ops', true, 64],
      ['journal', false, 2],
      ['journal', true, 2],
    ] as const)('continues from a checkpoint taken before each op of a session, given the %s after it (manual %s, queue capacity %i): the same weights and events, bit for bit', async (feedWith, manual, capacity) => {
      const config = configOf(optimizer, { queue: { capacity } });
      const seen: TrainerCheckpoint[] = [];
      let late = 0;
      for (let cut = 0; cut < SCRIPT.length; cut++) {
        const run = await continued(config, cut, manual, feedWith);
        seen.push(run.cp);
        late = Math.max(late, run.late);
        expect(run.restored.steps, `cut ${cut}`).toBe(run.original.steps);
        expectSameTrainer(run.restored, run.original);
        expect(timeless(run.again), `events after cut ${cut}`).toEqual(timeless(run.live));
      }
      if (feedWith === 'same ops') expect(late, 'inputs that waited for room').toBe(0);
      else expect(late, 'inputs that waited for room').toBeGreaterThan(0);
      // the script reached every state it is meant to checkpoint
      const has = (what: string, p: (cp: TrainerCheckpoint) => boolean): void => expect(seen.some(p), what).toBe(true);
      has('steps taken', (cp) => cp.steps > 0);
      has('paused with a step control taken and not yet used', (cp) => cp.paused && cp.singleSteps > 0);
      has('a step control queued', (cp) => cp.queue.some((e) => e.kind === 'control' && e.control.action === 'step'));
      has('queued set and reset', (cp) => cp.queue.some((e) => e.kind === 'control' && e.control.action === 'set') && cp.queue.some((e) => e.kind === 'control' && e.control.action === 'reset'));
      has('queued batches', (cp) => cp.queue.some((e) => e.kind === 'batch'));
      has('held-back rows', (cp) => cp.held !== undefined);
      has('a control scheduled for a later step, with steps taken', (cp) => cp.scheduled.length > 0 && cp.steps > 0);
      has('a changed batch size', (cp) => cp.batchSize !== 4);
      has('a changed learning rate', (cp) => cp.stepConfig.optimizer.lr !== optimizer.lr);
      has('a full, wrapped metrics window', (cp) => cp.window.filled === 5 && cp.window.next !== 0);
      has('an optimizer state with history', (cp) => cp.optimizerState.t > 0);
    });
  });

  it('is a copy: training on after it, and trainers restored from it, change nothing in it', async () => {
    const config = configOf(sgd({ lr: 0.4, momentum: 0.9 }), { queue: { capacity: 64 } });
    const cut = 14; // paused with a step taken and one queued, batches queued, rows held back
    const original = createTrainer(config);
    original.start();
    await feed([original], SCRIPT.slice(0, cut));
    const cp = original.checkpoint();
    expect([cp.paused, cp.singleSteps, cp.queue.length > 0, cp.held !== undefined]).toEqual([true, 1, true, true]);
    const copy = structuredClone(cp);
    const first = createTrainer({ ...config, restore: cp, manual: true });
    const second = createTrainer({ ...config, restore: cp });
    await feed([original, first, second], SCRIPT.slice(cut));
    await finish(original, false);
    await finish(first, true);
    await finish(second, false);
    expect(original.steps).toBeGreaterThan(cp.steps);
    expect(checkpointDifference(copy, cp)).toBeUndefined();
    cp.layers.forEach((l, i) => {
      expectSameBits(l.w, copy.layers[i]!.w, `layers[${i}].w`);
      expectSameBits(l.b, copy.layers[i]!.b, `layers[${i}].b`);
    });
    expect(cp.stepConfig).toEqual(copy.stepConfig);
    // one checkpoint, restored twice: both go on as the original did
    expectSameTrainer(first, original);
    expectSameTrainer(second, original);
  });

  it('a trainer restored from a checkpoint taken after end() trains what is left and completes, as the original does', async () => {
    const config = configOf(sgd({ lr: 0.4 }));
    const original = createTrainer(config);
    original.offer(randomChunk(1, 30), quietly);
    original.end();
    const cp = original.checkpoint();
    expect([cp.ending, cp.queue.length]).toEqual([true, 8]);
    const restored = createTrainer({ ...config, restore: cp });
    await settled(original);
    await Promise.race([settled(restored), new Promise((r) => setTimeout(r, 100))]);
    expect(restored.done).toBe(true);
    expectSameTrainer(restored, original);
  });

  describe('refuses a checkpoint that does not fit, with E_BAD_STATE naming what is wrong', () => {
    /** A checkpoint after 5 steps, with a queued batch, held rows and a control scheduled for step 8. */
    function checkpoint(): { config: TrainConfig; cp: TrainerCheckpoint } {
      const config = configOf(sgd({ lr: 0.4 }));
      const t = createTrainer({ ...config, manual: true });
      t.control({ action: 'set', lr: 0.1 }, 8);
      t.offer(randomChunk(1, 26), quietly);
      t.runTo(5);
      const cp = t.checkpoint();
      t.close();
      expect([cp.steps, cp.queue.length, cp.held?.x.shape[0], cp.scheduled.length]).toEqual([5, 1, 2, 1]);
      return { config, cp };
    }

    const refusal = (config: TrainConfig, cp: TrainerCheckpoint): LivegradError => {
      try {
        createTrainer({ ...config, restore: cp });
      } catch (e) {
        expect(e).toBeInstanceOf(LivegradError);
        return e as LivegradError;
      }
      return expect.fail('Expected createTrainer to refuse the checkpoint');
    };

    it('of a model of another size', () => {
      const { config, cp } = checkpoint();
      const wider = { ...TINY, layers: [{ units: 4, activation: 'sigmoid' }, TINY.layers[1]!] } as const;
      expect(refusal({ ...config, model: wider }, cp)).toMatchObject({ code: 'E_BAD_STATE', message: expect.stringMatching(/layer 0 of other sizes/) });
      const deeper = { ...TINY, layers: [TINY.layers[0]!, { units: 3, activation: 'sigmoid' }, TINY.layers[1]!] } as const;
      expect(refusal({ ...config, model: deeper }, cp)).toMatchObject({ code: 'E_BAD_STATE', message: expect.stringMatching(/2 layers for a model of 3/) });
    });

    it('of another dtype', () => {
      const { config, cp } = checkpoint();
      expect(refusal({ ...config, model: { ...TINY, dtype: 'float64' } }, cp)).toMatchObject({ code: 'E_BAD_STATE', message: expect.stringMatching(/layer 0 of other sizes or dtype/) });
    });

    it('with a metrics window of another size', () => {
      const { config, cp } = checkpoint();
      const e = refusal({ ...config, events: { ...config.events, metricsWindow: 7 } }, cp);
      expect(e).toMatchObject({ code: 'E_BAD_STATE', message: expect.stringMatching(/a metrics window of 5 steps for events\.metricsWindow 7/) });
    });

    it('with a control scheduled before its step (one due at its very step is a checkpoint right after that step)', () => {
      const { config, cp } = checkpoint();
      expect(() => createTrainer({ ...config, restore: { ...cp, scheduled: [{ atStep: cp.steps, control: { action: 'pause' } }] } })).not.toThrow();
      for (const atStep of [cp.steps - 1, cp.steps - 2]) {
        const e = refusal(config, { ...cp, scheduled: [{ atStep, control: { action: 'pause' } }] });
        expect(e).toMatchObject({ code: 'E_BAD_STATE', message: expect.stringContaining(`a control scheduled for step ${atStep} at step ${cp.steps}`) });
      }
    });

    it('with a queued batch, or held rows, of the wrong width', () => {
      const { config, cp } = checkpoint();
      const wide: Batch = randomChunk(3, 2, 5); // x [2, 5] for a model of 2 inputs
      expect(refusal(config, { ...cp, queue: [{ kind: 'batch', batch: wide }] })).toMatchObject({ code: 'E_BAD_STATE', message: expect.stringMatching(/queue\[0\]: .*5/) });
      expect(refusal(config, { ...cp, held: wide })).toMatchObject({ code: 'E_BAD_STATE', message: expect.stringMatching(/held rows: .*5/) });
    });

    it('and accepts the same checkpoint unchanged', () => {
      const { config, cp } = checkpoint();
      const t = createTrainer({ ...config, restore: cp });
      expect([t.steps, t.samples, t.queueDepth]).toEqual([cp.steps, cp.samples, 1]);
      t.close();
    });
  });
});

// ---------------------------------------------------------------------------------------------
// replay = live: a manual trainer given each input at the step its journal said

/**
 * Gives `inputs` to a trainer in order: a manual one each at its step (runTo(steps), then the
 * input as it was given), as a replay does; another all at once.
 */
function giveInputs(t: Trainer, inputs: readonly Input[], manual: boolean): void {
  for (const i of inputs) {
    if (manual) expect(t.runTo(i.steps), `runTo(${i.steps}) for a ${i.kind}`).toBe(i.steps);
    switch (i.kind) {
      case 'samples':
        t.offer(copyOf(i.chunk), quietly, { step: i.oneStep });
        break;
      case 'control':
        t.control(i.control, i.atStep);
        break;
      case 'end':
        t.end({ resume: i.resume });
        break;
      default: {
        const never: never = i;
        throw new Error(`unknown input ${JSON.stringify(never)}`);
      }
    }
  }
}

/** A manual trainer (from `restore`, if given) given every input at its step, then trained to the end. */
function replayed(config: TrainConfig, inputs: readonly Input[], restore?: TrainerCheckpoint): { trainer: Trainer; events: TrainEvent[]; journaled: Input[] } {
  const journaled: Input[] = [];
  const trainer = createTrainer({ ...config, manual: true, journal: capture(journaled), ...(restore === undefined ? {} : { restore }) });
  const rec = record(trainer);
  trainer.start();
  giveInputs(trainer, inputs, true);
  trainer.runTo(Infinity);
  return { trainer, events: rec.events, journaled };
}

/** What a replay gives back of a session's events: all but lifecycle events (why: the it.fails test "gives the live lifecycle events too …" below). */
const replayable = (events: readonly TrainEvent[]): unknown[] => timeless(events.filter((e) => e.type !== 'lifecycle'));

type Action =
  | { readonly kind: 'offer'; readonly seed: number; readonly m: number; readonly oneStep: boolean }
  | { readonly kind: 'lr'; readonly lr: number; readonly ahead: number | undefined }
  | { readonly kind: 'pause' | 'step' | 'resume' | 'reset' | 'tick' }
  | { readonly kind: 'batchSize'; readonly n: number };

const LRS = [0.05, 0.1, 0.3] as const;

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('offer' as const), seed: fc.nat(1_000_000), m: fc.integer({ min: 1, max: 70 }), oneStep: fc.integer({ min: 0, max: 5 }).map((n) => n === 0) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('lr' as const), lr: fc.constantFrom(...LRS), ahead: fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined }) }) },
  { weight: 2, arbitrary: fc.constantFrom('pause' as const, 'step' as const, 'resume' as const, 'reset' as const).map((kind) => ({ kind })) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 40 }).map((n) => ({ kind: 'batchSize' as const, n })) },
  { weight: 4, arbitrary: fc.constant({ kind: 'tick' as const }) },
);

const session = fc.record({
  optimizer: fc.constantFrom<Optimizer>(sgd({ lr: 0.3, momentum: 0.9 }), adam({ lr: 0.03 })),
  batchSize: fc.integer({ min: 1, max: 16 }),
  capacity: fc.integer({ min: 1, max: 4 }),
  actions: fc.array(action, { minLength: 10, maxLength: 40, size: 'max' }),
});

describe('manual mode: replay = live', () => {
  it('a manual trainer given each journaled input at its step (runTo), from the start or from a checkpoint, equals the live trainer, bit for bit', async () => {
    await fc.assert(
      fc.asyncProperty(session, fc.nat(), async ({ optimizer, batchSize, capacity, actions }, cutSeed) => {
        const inputs: Input[] = [];
        const config = configOf(optimizer, { batchSize, queue: { capacity } });
        const live = createTrainer({ ...config, journal: capture(inputs) });
        const rec = record(live);
        const done = settled(live);
        live.start();
        // a checkpoint between two actions, taken from outside (so between two steps)
        const cut = cutSeed % actions.length;
        let cp: TrainerCheckpoint | undefined;
        let inputsBefore = 0;
        let eventsBefore = 0;
        for (const [i, a] of actions.entries()) {
          if (i === cut) {
            cp = live.checkpoint();
            inputsBefore = inputs.length;
            eventsBefore = rec.events.length;
          }
          switch (a.kind) {
            case 'offer':
              live.offer(randomChunk(a.seed, a.m), quietly, { step: a.oneStep });
              break;
            case 'lr':
              if (a.ahead === undefined) live.control({ action: 'set', lr: a.lr });
              else live.control({ action: 'set', lr: a.lr }, live.steps + a.ahead);
              break;
            case 'batchSize':
              live.control({ action: 'set', batchSize: a.n });
              break;
            case 'tick':
              await tick();
              break;
            default:
              live.control({ action: a.kind });
          }
        }
        // with resume: a pause not yet applied no longer pauses, so the session always ends
        live.end({ resume: true });
        await done;
        expect(live.done).toBe(true);

        const whole = replayed(config, inputs);
        expect(whole.trainer.done).toBe(true);
        expect(whole.journaled).toEqual(inputs);
        expectSameTrainer(whole.trainer, live);
        expect(replayable(whole.events)).toEqual(replayable(rec.events));

        const rest = inputs.slice(inputsBefore);
        const resumed = replayed(config, rest, cp);
        expect(resumed.journaled).toEqual(rest);
        expectSameTrainer(resumed.trainer, live);
        expect(replayable(resumed.events)).toEqual(replayable(rec.events.slice(eventsBefore)));
      }),
      { seed: 20240611, numRuns: 25 },
    );
  });

  it('gives the live lifecycle events too when end({ resume: true }) finds the trainer paused', async () => {
    // live: the pause, given with the row before it, takes effect after step 1, before end() is called; end({ resume: true }) resumes
    const inputs: Input[] = [];
    const config = configOf(sgd({ lr: 0.4 }), { batchSize: 1 });
    const live = createTrainer({ ...config, journal: capture(inputs) });
    const rec = record(live);
    live.start();
    live.offer(randomChunk(1, 1), quietly);
    live.control({ action: 'pause' });
    for (let i = 0; i < 10 && !live.paused; i++) await tick();
    expect([live.steps, live.paused]).toEqual([1, true]);
    live.end({ resume: true });
    await settled(live);
    expect(inputs.map((i) => `${i.kind}@${i.steps}`)).toEqual(['samples@0', 'control@0', 'end@1']);
    // replay: runTo(1) stops right after step 1, before the pause takes effect; end({ resume: true }) then cancels it
    const replay = replayed(config, inputs);
    const states = (es: readonly TrainEvent[]) => es.flatMap((e) => (e.type === 'lifecycle' ? [`${e.state}@${e.step}`] : []));
    expect(states(rec.events)).toEqual(['started@0', 'paused@1', 'resumed@1', 'completed@1']);
    expect(states(replay.events)).toEqual(states(rec.events));
  });
});
