/**
 * The training engine behind `train()` and behind every server session, composed of:
 *
 *   config.ts       the config, its defaults and its one check
 *   inbox.ts        the order: what was given, in the order it was given; room; tickets
 *   hyperparams.ts  what `set` and `reset` do
 *   guard.ts        what a step that was not applied does
 *   reporter.ts     the events of a step
 *   emitter.ts      events$
 *
 *   offer / push / control / inOrder → inbox (in order) → drain: step | apply control | run call → events$
 *
 * The rule: everything takes effect in the order it was given. A control applies after every row
 * given before it and before every row given after it (unless it names an `atStep`); a call made
 * with `inOrder` runs once every row given before it has trained in whole batches. Two kinds of
 * control are not bound to the rows: `resume` and `step` reach a paused trainer wherever they
 * stand, since the rows before them cannot train until they do.
 *
 * The drain trains until `sliceMs` has passed, then yields to the event loop (setImmediate), so
 * the loop is never blocked for longer than one slice or one batch, whichever is longer.
 */
import type { Observable } from 'rxjs';
import { LivegradError } from '../../errors.js';
import type { Batch } from '../../nn/batch.js';
import { JoinedBatch } from '../rebatch.js';
import type { Targets } from '../../nn/losses.js';
import { cloneModel, mlp, predict, type Mlp } from '../../nn/mlp.js';
import type { OptimizerState } from '../../nn/optimizers.js';
import { cloneOptimizerState, createStepper, type StepConfig } from '../../nn/step.js';
import { allocate, dtypeOf, type FloatArray, type Tensor } from '../../nn/tensor.js';
import { assertNever } from '../../nn/activations.js';
import { checkControl, type Control } from '../controls.js';
import type { LifecycleState, TrainEvent } from '../events.js';
import { checkTrainConfig, isSpec, type TrainConfig } from './config.js';
import { createEmitter } from './emitter.js';
import { guard } from './guard.js';
import { nextStepConfig, resetTo } from './hyperparams.js';
import { Inbox, type ControlHandlers, type OfferHandlers, type OfferOptions, type Queued, type TurnHandlers } from './inbox.js';
import type { TrainerCheckpoint } from './checkpoint.js';
import { Reporter } from './reporter.js';

/** Most controls one trainer holds for a later step (`atStep`): each is a promise kept in memory. */
export const MAX_SCHEDULED = 1024;

/** Called once the rows of a pushed chunk have all been trained (`step`), or dropped by the queue (`step` undefined). */
export type ConsumedCallback = (step: number | undefined) => void;

export interface Trainer {
  readonly session: string;
  /** Hot stream of events; completes when the session completes, errors when it fails. */
  readonly events$: Observable<TrainEvent>;
  /** The live model (read only: it changes after every step). */
  readonly model: Mlp;
  readonly optimizerState: OptimizerState;
  readonly config: StepConfig;
  /** The batch size rows given from now on are cut to. */
  readonly batchSize: number;
  /** Steps taken so far. */
  readonly steps: number;
  readonly samples: number;
  readonly paused: boolean;
  /** Batches admitted and not yet trained, plus offers waiting their turn. */
  readonly queueDepth: number;
  readonly dropped: number;
  readonly done: boolean;
  /** Emits `lifecycle: started`. Called by push() and offer() if not called before. */
  start(): void;
  /**
   * Checks a chunk and admits it now, at the end of the order. With no room, the queue policy
   * decides: `block` trains until there is room, `dropOldest` drops the oldest batches, `error`
   * refuses. Throws LivegradError (E_SHAPE, E_NON_FINITE, E_LABEL_RANGE, E_QUEUE_FULL, E_SESSION_CLOSED).
   */
  push(chunk: Batch, onConsumed?: ConsumedCallback): void;
  /**
   * Gives a chunk that waits its turn and for room: exactly one of `accepted` / `rejected`
   * follows (now, if it can be admitted now and the controls and calls given before it have
   * taken effect), then `consumed` once its last row has trained.
   * `options.step`: train its rows as exactly one step of their own.
   */
  offer(chunk: Batch, handlers: OfferHandlers, options?: OfferOptions): void;
  /** Forgets the offers of `owner` still waiting: they hear nothing more. */
  withdraw(owner: unknown): void;
  /**
   * Checks a control (throws LivegradError E_BAD_CONTROL, E_SESSION_CLOSED) and queues it in
   * order; with `atStep`, it applies once `steps` reaches atStep instead. `handlers.applied` says
   * the step it took effect at. Called from an events$ handler during a step, it waits for the
   * end of that step's events.
   */
  control(control: Control | unknown, atStep?: number, handlers?: ControlHandlers): void;
  /** Runs `handlers.run` at its turn: once every row given before it has trained, in whole batches. */
  inOrder(handlers: TurnHandlers): void;
  /** Inference on the weights as they are now. */
  predict(x: Tensor): { output: Tensor; step: number };
  /** Copies of the weights and optimizer state as they are now. */
  snapshot(): { model: Mlp; state: OptimizerState; step: number; samples: number };
  /** Emits an `error` event that did not stop training. */
  report(code: string, message: string): void;
  /**
   * The whole state between two steps, copied (see checkpoint.ts): `createTrainer({ ...config,
   * restore })` continues from it. Call it between steps: from outside, or inside a journal call.
   */
  checkpoint(): TrainerCheckpoint;
  /**
   * Trains (a `manual` trainer: the only way it trains) until `step` steps are taken or nothing
   * more can train now, taking effect of everything in the order as it goes, and stops right
   * after the step (what follows it takes effect with the next input or runTo); returns the steps.
   */
  runTo(step: number): number;
  /** Fail the session now: `lifecycle: failed`, then events$ errors with `err`. */
  abort(err: unknown): void;
  /**
   * No more input: admit everything given, train it all (the last partial batch too), then
   * complete. `resume`: a paused trainer resumes, and a `pause` given before no longer pauses.
   */
  end(options?: { readonly resume?: boolean }): void;
  /** Stop now: drop the queue, refuse what waits, emit `completed` (reason "closed") and complete. */
  close(reason?: string): void;
}

export function createTrainer(config: TrainConfig): Trainer {
  const checked = checkTrainConfig(config);
  const { session, rates, onNonFinite, sliceMs } = checked;
  const { capacity, policy } = checked.queue;
  const { journal, restore: cp } = config;
  const manual = config.manual === true;
  const initial = isSpec(config.model) ? mlp(config.model) : cloneModel(config.model);
  const model = cloneModel(initial);
  if (cp) {
    model.layers.forEach((l, i) => {
      l.w.set(cp.layers[i]!.w);
      l.b.set(cp.layers[i]!.b);
    });
  }
  let stepConfig: StepConfig = checked.stepConfig;
  // NOTE: the global `performance` is a getter in Node: read once, not on every step
  const clock = performance;
  const origin = clock.timeOrigin;
  const now = config.now ?? (() => origin + clock.now());
  const startState = cp?.optimizerState ?? config.optimizerState;
  const stepper = createStepper(model, stepConfig, startState ? cloneOptimizerState(startState) : undefined, checked.batchSize, {
    kernels: checked.kernels,
    ...(checked.threads === undefined ? {} : { threads: checked.threads }),
  });
  const inbox = new Inbox(model, checked.batchSize, capacity, journal, () => steps);
  const out = createEmitter();
  const emit = out.emit;
  const reporter = new Reporter({
    session,
    stepper,
    loss: config.loss,
    rates,
    evalSet: checked.evalSet && config.evalSet ? { x: config.evalSet.x.data, ...checked.evalSet } : undefined,
    emit,
    now,
  });
  let steps = checked.startStep;
  let samples = checked.startSamples;
  let dropped = cp?.dropped ?? 0;
  let paused = cp?.paused ?? false;
  /** `step` controls taken while paused and not yet used. */
  let singleSteps = cp?.singleSteps ?? 0;
  /** A restored trainer goes on: it does not start again. */
  let started = cp !== undefined;
  let ending = cp?.ending ?? false;
  let resumeOnEnd = cp?.resumeOnEnd ?? false;
  if (cp) {
    inbox.restore(cp);
    reporter.restoreWindow(cp.window);
  }
  let done = false;
  /** Inside drain(), advance() or a push() that trains: work given meanwhile waits for that loop. */
  let busy = false;
  let timer: ReturnType<typeof setImmediate> | undefined;
  /** push() trains when the queue is full, and the drain runs in slices (with `sliceMs: Infinity`, wake() drains at once). */
  const producerTrains = policy === 'block' && !manual && sliceMs !== Infinity;

  /** The targets view of the batch in training, reused from step to step. */
  const targets: { labels: boolean; data: Targets['data'] } = { labels: false, data: new Float32Array(0) };
  const stamp = () => ({ session, step: steps, time: now() });
  const lifecycle = (state: LifecycleState, reason?: string): void => emit({ type: 'lifecycle', ...stamp(), state, reason });
  const closed = (what: string): LivegradError => new LivegradError('E_SESSION_CLOSED', `Expected an open session, got "${session}" ended before ${what}`);
  const queueDepth = (): number => inbox.batches + inbox.waitingCount;

  /** Where a joined batch's y is written, reused from step to step (grown as needed). */
  let joinedY: FloatArray = new Float32Array(0);

  /**
   * The x of the batch in training; its targets into `targets`. NOTE: the rows of a batch joined
   * from several chunks are copied once, straight into the stepper's input, not copied together
   * first and then copied again by the stepper (W2: 8 KB a step). Not when its dtype differs from
   * the model's under the js kernels, which read x as it is (the wasm kernels copy into float32 either way).
   */
  function batchInput(b: Batch, m: number): FloatArray {
    if (b instanceof JoinedBatch) {
      const { x: x0, y: y0 } = b.parts[0]!;
      if (stepper.kernels === 'wasm' || x0.dtype === model.dtype) {
        const yn = m * (y0.shape.length === 1 ? 1 : y0.shape[1]!);
        if (joinedY.length < yn || dtypeOf(joinedY) !== y0.dtype) joinedY = allocate(y0.dtype, yn);
        const x = stepper.input(m);
        const y = joinedY.length === yn ? joinedY : joinedY.subarray(0, yn);
        b.write(x, y);
        targets.labels = y0.shape.length === 1;
        targets.data = y;
        return x;
      }
    }
    targets.labels = b.y.shape.length === 1;
    targets.data = b.y.data;
    return b.x.data;
  }

  /** Trains the batch at the front, and reports it (events, tickets, the guard). */
  function trainNext(): void {
    const q = inbox.shift() as Queued & { kind: 'batch' };
    if (paused) singleSteps--;
    const x = batchInput(q.batch, q.m);
    const t0 = clock.now();
    const info = stepper.step(x, targets, q.m);
    const t1 = clock.now();
    steps++;
    samples += q.m;
    reporter.step(info, steps, samples, queueDepth(), dropped, config.now ? config.now() : origin + t1, t1 - t0);
    inbox.trained(q, steps);
    if (info.applied) {
      reporter.applied(info, targets, q.m, steps, samples);
    } else {
      const g = guard(onNonFinite, steps, info);
      emit({ type: 'error', ...stamp(), code: 'E_NON_FINITE', message: g.message });
      if (g.then === 'pause' && !paused) {
        paused = true;
        singleSteps = 0;
        lifecycle('paused', g.message);
      } else if (g.then === 'fail') {
        fail(new LivegradError('E_NON_FINITE', g.message));
      }
    }
    inbox.recycle(q);
    journal?.stepped(steps);
  }

  function applyControl(c: Control, handlers: ControlHandlers | undefined): void {
    switch (c.action) {
      case 'pause':
        if (!paused && !resumeOnEnd) {
          paused = true;
          lifecycle('paused');
        }
        break;
      case 'resume':
        if (paused) {
          paused = false;
          singleSteps = 0;
          lifecycle('resumed');
        }
        break;
      case 'step':
        if (paused) singleSteps++;
        break;
      case 'reset':
        resetTo(model, initial, stepper.state);
        reporter.resetWindow();
        lifecycle('reset');
        break;
      case 'set':
        // (a new batch size took effect when the control was admitted: rows are cut then)
        stepConfig = nextStepConfig(stepConfig, c);
        stepper.config = stepConfig;
        break;
      case 'snapshot':
        reporter.weights(steps);
        break;
      default:
        assertNever(c);
    }
    emit({ type: 'control', ...stamp(), control: c });
    handlers?.applied(steps);
  }

  function canTrain(): boolean {
    const head = inbox.queue.at(0);
    return head !== undefined && head.kind === 'batch' && (!paused || singleSteps > 0);
  }

  /** Takes effect of everything at the front of the order that needs no training: admissions, controls, calls. */
  function advance(): void {
    while (!done) {
      inbox.admit(ending);
      const due = inbox.due(steps);
      for (let i = 0; i < due.length; i++) applyControl(due[i]!.control, due[i]!.handlers);
      const head = inbox.queue.at(0);
      if (head === undefined) return;
      if (head.kind === 'batch') {
        if (!paused || singleSteps > 0) return; // the drain's to train
        const flow = inbox.takeFlow();
        if (flow === undefined) return;
        applyControl(flow.control, flow.handlers);
        continue;
      }
      inbox.shift();
      if (head.kind === 'control') applyControl(head.control, head.handlers);
      else head.handlers.run();
    }
  }

  function drain(): void {
    timer = undefined;
    if (busy || done) return;
    busy = true;
    try {
      const start = clock.now();
      for (;;) {
        advance();
        if (done || !canTrain()) break;
        trainNext();
        if (clock.now() - start >= sliceMs) {
          schedule();
          break;
        }
      }
    } catch (e) {
      fail(e);
    } finally {
      busy = false;
    }
    finishIfDone();
  }

  function schedule(): void {
    if (timer === undefined && !done && !manual) timer = setImmediate(drain);
  }

  /** Something was given: what needs no training takes effect now; training starts now or on the next turn (or, manual, in runTo). */
  function wake(): void {
    if (busy || done) return;
    if (sliceMs === Infinity && !manual) {
      drain();
      return;
    }
    advanceNow();
    if (canTrain() && !manual) schedule();
    finishIfDone();
  }

  /** advance(), unless the trainer is inside its own work (which advances as it goes); a throw fails the trainer. */
  function advanceNow(): void {
    if (busy) return;
    busy = true;
    try {
      advance();
    } catch (e) {
      fail(e);
    } finally {
      busy = false;
    }
  }

  function finishIfDone(): void {
    if (!ending || done || !inbox.empty) return;
    inbox.refuseScheduled((atStep) => closed(`step ${atStep}`));
    lifecycle('completed');
    done = true;
    stepper.close();
    out.end();
  }

  function fail(e: unknown): void {
    if (done) return;
    lifecycle('failed', e instanceof Error ? e.message : String(e));
    done = true;
    if (timer !== undefined) clearImmediate(timer);
    inbox.clear(closed('it took effect (the session failed)'));
    stepper.close();
    out.end({ err: e });
  }

  function refuseIfEnded(): void {
    if (done || ending) throw new LivegradError('E_SESSION_CLOSED', `Expected an open session, got ${done ? 'a finished' : 'an ending'} session "${session}"`);
  }

  /**
   * push() of `m` rows that do not fit: `block` trains until they do (the producer waits inside
   * push()), `error` refuses with E_QUEUE_FULL, `dropOldest` lets them in (and drops afterwards).
   * A chunk larger than the whole queue gets in under `block` once nothing is queued, and trains
   * inside push() down to the capacity (trainOver).
   */
  function makeRoom(m: number): void {
    if (policy === 'dropOldest' && inbox.waitingCount === 0) return;
    if (policy === 'block' && !busy && !manual) trainWhile(full, m);
    if (done) refuseIfEnded();
    if (!full(m)) return;
    const oversize = policy === 'block' && !busy && !paused && inbox.waitingCount === 0 && inbox.batches === 0;
    if (!oversize) throw new LivegradError('E_QUEUE_FULL', `Expected room in the ingest queue (capacity ${capacity} batches), got a full queue${paused ? ' while paused' : ''}`);
  }

  /**
   * push() of `m` rows under `block` in the steady state of a producer ahead of training: the
   * chunk needs one batch's room and the order holds only batches. Making room is then training
   * the front batch, which `makeRoom` would do in its general loop, asking at every turn what the
   * order holds (NOTE: W1 through train(), a 2-row batch a step: ~0.1 µs a step, 40 → 52 % of the
   * bare loop side by side in one process, 2–4 points in the bench's own runs).
   */
  function makesRoomInOneStep(m: number): boolean {
    return producerTrains && !busy && !paused && inbox.oneStepMakesRoom(m, capacity);
  }

  /** trainNext() as the trainer's own work: a throw fails the trainer. */
  function trainOne(): void {
    busy = true;
    try {
      trainNext();
    } catch (e) {
      fail(e);
    } finally {
      busy = false;
    }
  }

  /** No room for a chunk of `m` rows: offers wait before it, or its batches would overfill the queue. */
  function full(m: number): boolean {
    return inbox.waitingCount > 0 || !inbox.fits(m);
  }

  /** More batches queued than the capacity (a chunk larger than the queue got in). */
  function overCapacity(): boolean {
    return inbox.batches > capacity;
  }

  /**
   * Trains (inside push(), policy block) while `more(m)` and a batch can train.
   * NOTE: `more` is one of the two functions above and `m` its argument, not a closure made per
   * call: push() runs this for every chunk.
   */
  function trainWhile(more: (m: number) => boolean, m: number): void {
    if (busy) return;
    busy = true;
    try {
      while (more(m) && !done) {
        advance();
        if (!more(m) || !canTrain()) break;
        trainNext();
      }
    } catch (e) {
      fail(e);
    } finally {
      busy = false;
    }
  }

  const trainer: Trainer = {
    session,
    events$: out.events$,
    model,
    get optimizerState() {
      return stepper.state;
    },
    get config() {
      return stepConfig;
    },
    get batchSize() {
      return inbox.batchSize;
    },
    get steps() {
      return steps;
    },
    get samples() {
      return samples;
    },
    get paused() {
      return paused;
    },
    get queueDepth() {
      return queueDepth();
    },
    get dropped() {
      return dropped;
    },
    get done() {
      return done;
    },
    start() {
      if (started) return;
      started = true;
      lifecycle('started');
    },
    push(chunk, onConsumed) {
      refuseIfEnded();
      if (!started) trainer.start();
      const m = inbox.check(chunk, false);
      if (makesRoomInOneStep(m)) {
        trainOne();
        if (done) refuseIfEnded();
        // when nothing was given meanwhile (by an events$ handler), what follows would only queue
        // the chunk and see whether the drain is due
        if (inbox.fits(m) && inbox.quiet(steps)) {
          inbox.take(chunk, m, false, onConsumed);
          if (canTrain()) schedule();
          return;
        }
      }
      if (full(m)) makeRoom(m);
      inbox.take(chunk, m, false, onConsumed);
      if (policy === 'dropOldest') while (inbox.batches > capacity && inbox.dropOldest()) dropped++;
      if (policy === 'block' && !manual && overCapacity()) trainWhile(overCapacity, 0);
      wake();
    },
    offer(chunk, handlers, options = {}) {
      if (done || ending) {
        handlers.rejected(closed('the samples were accepted'));
        return;
      }
      trainer.start();
      inbox.offer(chunk, handlers, options);
      wake();
    },
    withdraw(owner) {
      inbox.withdraw(owner);
    },
    control(value, atStep, handlers) {
      let c: Control;
      try {
        c = checkControl(value);
      } catch (e) {
        throw new LivegradError('E_BAD_CONTROL', (e as Error).message, { cause: e });
      }
      if (atStep !== undefined && (!Number.isInteger(atStep) || atStep < 0)) throw new LivegradError('E_BAD_CONTROL', `Expected atStep to be an integer ≥ 0, got ${atStep}`);
      if (c.action === 'set') {
        if (c.batchSize !== undefined && atStep !== undefined) {
          throw new LivegradError('E_BAD_CONTROL', 'Expected a batchSize change without atStep (rows are cut into batches as they arrive, so which rows a change at a later step reaches would depend on timing), got both: send it in order, after the rows it should follow');
        }
        nextStepConfig(stepConfig, c); // refuse now what applying would refuse later, inside a drain
      }
      refuseIfEnded();
      if (atStep !== undefined && atStep > steps) {
        if (inbox.scheduledCount >= MAX_SCHEDULED) throw new LivegradError('E_BACKLOG', `Expected at most ${MAX_SCHEDULED} controls scheduled for a later step in session "${session}", got one more`);
        inbox.schedule(c, atStep, handlers);
        return;
      }
      inbox.control(c, handlers);
      wake();
    },
    inOrder(handlers) {
      if (done || ending) {
        handlers.refused(closed('it took its turn'));
        return;
      }
      inbox.turn(handlers);
      wake();
    },
    predict(x) {
      return { output: predict(model, x), step: steps };
    },
    snapshot() {
      return { model: cloneModel(model), state: cloneOptimizerState(stepper.state), step: steps, samples };
    },
    checkpoint() {
      return {
        steps,
        samples,
        dropped,
        layers: model.layers.map((l) => ({ w: l.w.slice(), b: l.b.slice() })),
        optimizerState: cloneOptimizerState(stepper.state),
        stepConfig: { ...stepConfig, optimizer: { ...stepConfig.optimizer } },
        paused,
        singleSteps,
        ending,
        resumeOnEnd,
        window: reporter.windowState(),
        ...inbox.checkpoint(),
      };
    },
    runTo(target) {
      if (busy) throw new LivegradError('E_BAD_CONTROL', `Expected runTo outside the trainer's own work, got a call during ${session}'s step`);
      busy = true;
      try {
        // NOTE: it stops right after step `target`, before what follows that step takes effect:
        // where a live trainer is when it tells its journal of step `target` (`stepped`)
        while (steps < target) {
          advance();
          if (done || !canTrain()) break;
          trainNext();
        }
      } catch (e) {
        fail(e);
      } finally {
        busy = false;
      }
      finishIfDone();
      return steps;
    },
    report(code, message) {
      emit({ type: 'error', ...stamp(), code, message });
    },
    abort(err) {
      fail(err);
    },
    end(options = {}) {
      if (done || ending) return;
      ending = true;
      // what waits is admitted first (and journaled as admitted), then the end itself
      inbox.admit(true);
      journal?.end({ steps, resume: options.resume === true });
      // what needs no training takes effect first (a `pause` due now pauses, and is then resumed
      // below): the same events whether or not the trainer got to it before the end came
      advanceNow();
      if (options.resume === true) {
        resumeOnEnd = true;
        if (paused) {
          paused = false;
          singleSteps = 0;
          lifecycle('resumed', 'closing with drain');
        }
      }
      inbox.cutRemainder();
      wake();
    },
    close(reason = 'closed') {
      if (done) return;
      journal?.close({ steps, reason });
      if (timer !== undefined) clearImmediate(timer);
      inbox.clear(closed('it took effect (the session was closed)'));
      lifecycle('completed', reason);
      done = true;
      stepper.close();
      out.end();
    },
  };
  // a restored trainer trains what it was given back (its queue) without waiting for a new input
  if (cp && !manual) schedule();
  return trainer;
}
