/**
 * The events a trained step publishes: `step` every step, then — for a step the guard applied —
 * `metrics`, `gradients`, `weights` and `eval` at their rates; and `weights` on demand.
 */
import type { Targets } from '../../nn/losses.js';
import { outputSize, type Mlp } from '../../nn/mlp.js';
import { createWorkspace, forwardInto, lossInto, type StepInfo, type Stepper } from '../../nn/step.js';
import type { FloatArray } from '../../nn/tensor.js';
import type { LayerTensors, TrainEvent } from '../events.js';
import { actualClass, countCorrect, predictedClass, RunningWindow, type WindowState } from '../metrics.js';
import type { EventRates } from './config.js';
import type { LossName } from '../../nn/losses.js';

/** The values of `a` in a new array. */
function numbers(a: Float64Array): number[] {
  const out = new Array<number>(a.length);
  for (let i = 0; i < out.length; i++) out[i] = a[i]!;
  return out;
}

/** Copies of per-layer [nin, nout] and [nout] arrays (weights, or gradients) as tensors. */
function tensorsOf(model: Mlp, w: readonly FloatArray[], b: readonly FloatArray[]): LayerTensors[] {
  return model.layers.map((l, i) => ({
    w: { dtype: model.dtype, shape: [l.nin, l.nout], data: w[i]!.slice() },
    b: { dtype: model.dtype, shape: [l.nout], data: b[i]!.slice() },
  }));
}

/**
 * Whether a step is a multiple of `every` (0: never), asked with rising steps. NOTE: one division
 * per `every` steps, not one per step for each of four rates: `applied` runs after every step.
 */
class Every {
  /** The first step after the last one asked that can be a multiple of `every`. */
  private next = 0;

  constructor(private readonly every: number) {}

  at(step: number): boolean {
    if (this.every === 0 || step < this.next) return false;
    const r = step % this.every;
    this.next = step - r + this.every;
    return r === 0;
  }
}

export interface ReporterOptions {
  readonly session: string;
  readonly stepper: Stepper;
  readonly loss: LossName;
  readonly rates: EventRates;
  /** The eval set's features and checked targets. */
  readonly evalSet: { readonly x: FloatArray; readonly m: number; readonly targets: Targets } | undefined;
  readonly emit: (e: TrainEvent) => void;
  /** Event time, ms since the epoch. */
  readonly now: () => number;
}

export class Reporter {
  private readonly model: Mlp;
  private readonly window: RunningWindow;
  private readonly classification: boolean;
  private readonly nout: number;
  private readonly evalWs;
  private readonly metricsDue: Every;
  private readonly gradientsDue: Every;
  private readonly weightsDue: Every;
  private readonly evalDue: Every;

  constructor(private readonly o: ReporterOptions) {
    this.model = o.stepper.model;
    this.window = new RunningWindow(o.rates.metricsWindow);
    this.classification = o.loss === 'crossEntropy' || o.loss === 'bce';
    this.nout = outputSize(this.model);
    this.evalWs = o.evalSet ? createWorkspace(this.model, o.evalSet.m) : undefined;
    this.metricsDue = new Every(o.rates.metricsEvery);
    this.gradientsDue = new Every(o.rates.gradientsEvery);
    this.weightsDue = new Every(o.rates.weightsEvery);
    this.evalDue = new Every(o.evalSet ? o.rates.evalEvery : 0);
  }

  /**
   * The `step` event of the step just taken (`time`: when it ended), with the counters after it.
   * NOTE: counters as arguments and the stamp written out, not spread from an object: this event
   * is built every step.
   */
  step(info: StepInfo, steps: number, samples: number, queueDepth: number, dropped: number, time: number, durationMs: number): void {
    this.o.emit({
      type: 'step',
      session: this.o.session,
      step: steps,
      time,
      loss: info.loss,
      batchSize: info.batchSize,
      samples,
      lr: info.lr,
      gradNorms: numbers(info.gradNorms),
      durationMs,
      applied: info.applied,
      queueDepth,
      dropped,
    });
  }

  /** After an applied step of `m` rows: the running window, then metrics, gradients, weights, eval at their rates. */
  applied(info: StepInfo, targets: Targets, m: number, steps: number, samples: number): void {
    const { rates } = this.o;
    const ws = this.o.stepper.workspace;
    // the kernels count it where they can (the wasm kernels, class indices): the same count, a fraction of the time
    const correct = this.classification ? (this.o.stepper.correctLabels(m) ?? countCorrect(ws.a[this.model.layers.length - 1]!, targets, m, this.nout)) : 0;
    this.window.add(info.loss, correct, m);
    // (the stamps written out, as in step())
    const { session, now } = this.o;
    if (this.metricsDue.at(steps)) {
      this.o.emit({ type: 'metrics', session, step: steps, time: now(), runningLoss: this.window.meanLoss, accuracy: this.classification ? this.window.accuracy : undefined, window: rates.metricsWindow, samples });
    }
    if (this.gradientsDue.at(steps)) {
      this.o.emit({ type: 'gradients', session, step: steps, time: now(), norms: numbers(info.gradNorms), layers: rates.gradientTensors ? tensorsOf(this.model, ws.dW, ws.db) : undefined });
    }
    if (this.weightsDue.at(steps)) this.weights(steps);
    if (this.evalDue.at(steps)) this.evaluate(steps);
  }

  /** A `weights` event now: copies of every layer. */
  weights(steps: number): void {
    const m = this.model;
    this.o.emit({ type: 'weights', ...this.stamp(steps), layers: tensorsOf(m, m.layers.map((l) => l.w), m.layers.map((l) => l.b)) });
  }

  /** The running window's contents (a checkpoint), and continuing from them. */
  windowState(): WindowState {
    return this.window.state();
  }

  restoreWindow(s: WindowState): void {
    this.window.restore(s);
  }

  /** The running window starts again (after a reset). */
  resetWindow(): void {
    this.window.reset();
  }

  private stamp(step: number): { session: string; step: number; time: number } {
    return { session: this.o.session, step, time: this.o.now() };
  }

  private evaluate(steps: number): void {
    const e = this.o.evalSet!;
    const ws = this.evalWs!;
    const out = forwardInto(this.model, ws, e.x, e.m);
    const loss = lossInto(this.model, ws, this.o.loss, e.targets, e.m);
    let accuracy: number | undefined;
    let confusion: number[][] | undefined;
    if (this.classification) {
      const k = this.nout === 1 ? 2 : this.nout;
      confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
      let correct = 0;
      for (let i = 0; i < e.m; i++) {
        const p = predictedClass(out, i, this.nout), a = actualClass(e.targets, i, this.nout);
        confusion[a]![p]!++;
        if (p === a) correct++;
      }
      accuracy = correct / e.m;
    }
    this.o.emit({ type: 'eval', ...this.stamp(steps), loss, samples: e.m, accuracy, confusion });
  }
}
