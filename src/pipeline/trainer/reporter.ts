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

/** Copies of per-layer [nin, nout] and [nout] arrays (weights, or gradients) as tensors. */
function tensorsOf(model: Mlp, w: readonly FloatArray[], b: readonly FloatArray[]): LayerTensors[] {
  return model.layers.map((l, i) => ({
    w: { dtype: model.dtype, shape: [l.nin, l.nout], data: w[i]!.slice() },
    b: { dtype: model.dtype, shape: [l.nout], data: b[i]!.slice() },
  }));
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

/** The counters a `step` event carries, after the step. */
export interface StepCounters {
  readonly steps: number;
  readonly samples: number;
  readonly queueDepth: number;
  readonly dropped: number;
}

export class Reporter {
  private readonly model: Mlp;
  private readonly window: RunningWindow;
  private readonly classification: boolean;
  private readonly nout: number;
  private readonly evalWs;

  constructor(private readonly o: ReporterOptions) {
    this.model = o.stepper.model;
    this.window = new RunningWindow(o.rates.metricsWindow);
    this.classification = o.loss === 'crossEntropy' || o.loss === 'bce';
    this.nout = outputSize(this.model);
    this.evalWs = o.evalSet ? createWorkspace(this.model, o.evalSet.m) : undefined;
  }

  /** The `step` event of the step just taken (`time`: when it ended). */
  step(info: StepInfo, c: StepCounters, time: number, durationMs: number): void {
    const gradNorms = new Array<number>(info.gradNorms.length);
    for (let i = 0; i < gradNorms.length; i++) gradNorms[i] = info.gradNorms[i]!;
    // NOTE: the stamp written out, not spread from an object: this event is built every step
    this.o.emit({
      type: 'step',
      session: this.o.session,
      step: c.steps,
      time,
      loss: info.loss,
      batchSize: info.batchSize,
      samples: c.samples,
      lr: info.lr,
      gradNorms,
      durationMs,
      applied: info.applied,
      queueDepth: c.queueDepth,
      dropped: c.dropped,
    });
  }

  /** After an applied step of `m` rows: the running window, then metrics, gradients, weights, eval at their rates. */
  applied(info: StepInfo, targets: Targets, m: number, steps: number, samples: number): void {
    const { rates } = this.o;
    const ws = this.o.stepper.workspace;
    const correct = this.classification ? countCorrect(ws.a[this.model.layers.length - 1]!, targets, m, this.nout) : 0;
    this.window.add(info.loss, correct, m);
    if (rates.metricsEvery > 0 && steps % rates.metricsEvery === 0) {
      this.o.emit({ type: 'metrics', ...this.stamp(steps), runningLoss: this.window.meanLoss, accuracy: this.classification ? this.window.accuracy : undefined, window: rates.metricsWindow, samples });
    }
    if (rates.gradientsEvery > 0 && steps % rates.gradientsEvery === 0) {
      const norms = Array.from(info.gradNorms);
      this.o.emit({ type: 'gradients', ...this.stamp(steps), norms, layers: rates.gradientTensors ? tensorsOf(this.model, ws.dW, ws.db) : undefined });
    }
    if (rates.weightsEvery > 0 && steps % rates.weightsEvery === 0) this.weights(steps);
    if (this.o.evalSet && rates.evalEvery > 0 && steps % rates.evalEvery === 0) this.evaluate(steps);
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
