/**
 * A recording played on the server (`livegrad replay LOG --serve`, `replays` in createServer):
 * a session that dashboards and clients subscribe to exactly like a live one — the same events,
 * re-trained from the log (src/record/replay.ts), published through the same fan-out — but fed
 * by its log instead of a producer. A `replay` message steers it: play, pause, a speed in steps
 * per second (or `max`), and seek to any step (it re-trains from the nearest checkpoint at or
 * before it, quietly, then plays on from that step). A fork is another played session of the same
 * log that sets a new learning rate at a step and plays on from there with the recorded inputs
 * (`livegrad replay LOG --at N --lr X`, played): its curves compare with the original's.
 */
import { LivegradError } from '../errors.js';
import { outputSize, parameterCount } from '../nn/mlp.js';
import type { TrainEvent } from '../pipeline/events.js';
import { checkTrainConfig } from '../pipeline/trainer/config.js';
import type { ForkOrigin, SessionInfo } from '../protocol/messages.js';
import type { Recording } from '../record/recording.js';
import { replay, replayKernels } from '../record/replay.js';
import { FanOut } from './fan-out.js';
import type { Counters } from './metrics.js';
import type { Packet } from './packet.js';
import type { Subscription } from './subscriber.js';

/** Steps per second, or as fast as the machine trains. */
export type ReplaySpeed = number | 'max';

export interface ReplayState {
  readonly path: string;
  readonly playing: boolean;
  readonly speed: ReplaySpeed;
  /** The last step the log names, and whether the replay has reached the log's end. */
  readonly lastStep: number;
  readonly ended: boolean;
  /** A fork's origin. */
  readonly fork?: ForkOrigin;
}

export interface ReplaySessionOptions {
  readonly speed: ReplaySpeed;
  readonly playing: boolean;
  readonly ringEvents: number;
  /** Default: the recorded session's name. */
  readonly name?: string;
  /** Play a fork: the learning rate set to `lr` at `step`, published from `step` on. */
  readonly fork?: ForkOrigin;
}

/** Throws RangeError unless `speed` is a positive finite number of steps per second or 'max'. */
export function checkSpeed(speed: unknown): ReplaySpeed {
  if (speed === 'max' || (typeof speed === 'number' && Number.isFinite(speed) && speed > 0)) return speed;
  throw new RangeError(`Expected a speed in steps per second > 0, or "max", got ${JSON.stringify(speed)}`);
}

/** Longest a `max` replay trains before it lets the sockets be served, ms. */
const SLICE_MS = 4;

export class ReplaySession {
  readonly name: string;
  private readonly out: FanOut;
  private run: { stop(): void } | undefined;
  steps: number;
  samples: number;
  private playing: boolean;
  private speed: ReplaySpeed;
  private ended = false;
  /** The paced step waiting for `play`, or for its time. */
  private waiting: (() => void) | undefined;
  private nextDue = 0;
  private sliceStart = 0;
  private closed = false;

  private readonly ringEvents: number;
  private readonly fork: ForkOrigin | undefined;

  constructor(
    readonly recording: Recording,
    options: ReplaySessionOptions,
    private readonly counters: Counters,
  ) {
    // E_KERNELS naming the log where its kernels cannot run here
    replayKernels(recording);
    checkTrainConfig(recording.config);
    this.name = options.name ?? recording.session;
    this.ringEvents = options.ringEvents;
    this.fork = options.fork;
    if (this.fork !== undefined) this.checkStep(this.fork.step);
    this.out = new FanOut(options.ringEvents);
    this.speed = checkSpeed(options.speed);
    this.playing = options.playing;
    this.steps = recording.firstStep;
    this.samples = 0;
    this.start(undefined);
  }

  state(): ReplayState {
    return { path: this.recording.path, playing: this.playing, speed: this.speed, lastStep: this.recording.lastStep, ended: this.ended, ...(this.fork === undefined ? {} : { fork: this.fork }) };
  }

  info(): SessionInfo & { readonly replay: ReplayState } {
    const { shape, config } = this.recording;
    return {
      session: this.name,
      step: this.steps,
      samples: this.samples,
      paused: !this.playing,
      dtype: shape.dtype,
      inputSize: shape.inputSize,
      outputSize: outputSize(shape),
      parameters: parameterCount(shape),
      loss: config.loss,
      batchSize: config.batchSize ?? 32,
      credits: 0,
      queueDepth: 0,
      subscribers: this.out.size,
      recording: false,
      producers: {},
      // a replay trains with the recorded kernels, on one thread (replay()'s default)
      kernels: this.recording.kernels,
      threads: 1,
      replay: this.state(),
    };
  }

  subscribe(key: object, sub: Subscription, fromStep: number | undefined): { replay: Packet[]; complete: boolean } {
    return this.out.subscribe(key, sub, fromStep);
  }

  unsubscribe(key: object): boolean {
    return this.out.unsubscribe(key);
  }

  play(): void {
    this.playing = true;
    this.nextDue = 0;
    this.release();
  }

  pause(): void {
    this.playing = false;
  }

  setSpeed(speed: unknown): void {
    this.speed = checkSpeed(speed);
    this.nextDue = 0;
    this.release();
  }

  /** Plays on from `step` (a step the log holds; a fork's from its fork step on): re-trains quietly from the checkpoint at or before it. Throws RangeError for another step. */
  seek(step: unknown): number {
    this.start(this.checkStep(step));
    return step as number;
  }

  /**
   * A new played session `name` of the same log: at `step` the learning rate becomes `lr`, and it
   * plays on from there with the recorded inputs, at this one's speed. Throws RangeError for a
   * step the log does not hold.
   */
  forkAt(name: string, step: unknown, lr: number): ReplaySession {
    this.checkStep(step);
    return new ReplaySession(this.recording, { speed: this.speed, playing: true, ringEvents: this.ringEvents, name, fork: { from: this.name, step: step as number, lr } }, this.counters);
  }

  private checkStep(step: unknown): number {
    const { lastStep } = this.recording;
    const firstStep = this.fork?.step ?? this.recording.firstStep;
    if (typeof step !== 'number' || !Number.isInteger(step) || step < firstStep || step > lastStep) {
      throw new RangeError(`Expected a step in [${firstStep}, ${lastStep}] (the steps ${this.fork === undefined ? 'recording' : 'fork'} "${this.name}" holds), got ${JSON.stringify(step)}`);
    }
    return step;
  }

  close(): void {
    this.closed = true;
    this.run?.stop();
    this.out.closeAll();
  }

  private release(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }

  /** A new run of the replay: from the log's start, or (a seek) from the checkpoint before `at`, publishing from step `at`. */
  private start(at: number | undefined): void {
    this.run?.stop();
    this.release();
    this.out.restart();
    this.ended = false;
    let stopped = false;
    const fork = this.fork;
    const from = at ?? fork?.step;
    const seek = from !== undefined && from > this.recording.firstStep;
    const sub = replay(this.recording, {
      // NOTE: a fork trains quietly from the log's first checkpoint: a later one may come after the
      // recorded session was told to end (a drained close arrives before the rows it drains are
      // trained), from where the recorded inputs no longer let a fork go on
      ...(fork === undefined ? (seek ? { from: from - 1, emitFrom: from } : {}) : { at: fork.step, change: { lr: fork.lr }, ...(seek ? { emitFrom: from } : {}) }),
      pace: () => (stopped ? undefined : this.pace()),
    }).subscribe({
      next: (e) => this.publish(e),
      complete: () => {
        if (!stopped) this.ended = true;
      },
      error: (e: unknown) => {
        if (stopped || this.closed) return;
        this.ended = true;
        const message = e instanceof Error ? e.message : String(e);
        this.out.publish({ type: 'error', session: this.name, step: this.steps, time: Date.now(), code: e instanceof LivegradError ? e.code : 'E_INTERNAL', message });
      },
    });
    this.run = {
      stop: () => {
        stopped = true;
        sub.unsubscribe();
        this.release();
      },
    };
  }

  private publish(recorded: TrainEvent): void {
    // a fork's events are its own session's
    const e = recorded.session === this.name ? recorded : { ...recorded, session: this.name };
    if (e.type === 'step') {
      this.steps = e.step;
      this.samples = e.samples;
      this.counters.steps++;
      this.counters.samples += e.batchSize;
    }
    this.out.publish(e);
  }

  /** What the replay waits for before its next step: `play`, the speed's interval, or a turn of the event loop. */
  private pace(): Promise<void> | undefined {
    if (!this.playing) return new Promise<void>((resolve) => (this.waiting = resolve));
    const now = performance.now();
    let wait = 0;
    if (this.speed !== 'max') {
      const due = Math.max(this.nextDue, now);
      this.nextDue = due + 1000 / this.speed;
      wait = due - now;
    }
    if (wait <= 0 && now - this.sliceStart < SLICE_MS) return undefined;
    return new Promise<void>((resolve) => {
      this.waiting = resolve;
      const go = (): void => {
        // a pause meanwhile keeps it waiting for play; a seek meanwhile has let it go already
        if (this.waiting !== resolve || !this.playing) return;
        this.waiting = undefined;
        this.sliceStart = performance.now();
        resolve();
      };
      if (wait > 0) setTimeout(go, wait);
      else setImmediate(go);
    });
  }
}
