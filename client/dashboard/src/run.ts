/**
 * One session followed through `livegrad/client`: its events kept as columns for the charts
 * (loss and gradient norms from `step`, running loss and accuracy from `metrics`, eval accuracy
 * and the confusion matrix from `eval`, the latest weights and their distribution over time from
 * `weights`), and the counts the page shows about what it did not receive.
 */
import type { Subscription } from 'rxjs';
import type { LivegradClient, SessionEvent, SessionInfo, Tensor } from 'livegrad/client';
import { quantiles, Trace } from './series.js';
import type { Snapshot } from './weights.js';

/** TensorBoard's distribution bands: min, 7%, 16%, 31%, median, 69%, 84%, 93%, max. */
export const BANDS = [0, 0.0668, 0.1587, 0.3085, 0.5, 0.6915, 0.8413, 0.9332, 1] as const;

/** The rates the page asks for: the server skips (lossless topics) or conflates (weights) the rest. */
export const RATES = { step: 120, weights: 4, gradients: 4 } as const;

export interface LayerWeightsView {
  readonly w: Tensor;
  readonly b: Tensor;
}

export class Run {
  readonly loss = new Trace();
  readonly runningLoss = new Trace();
  readonly accuracy = new Trace();
  readonly evalAccuracy = new Trace();
  readonly evalLoss = new Trace();
  readonly gradNorms: Trace[] = [];
  /** Per layer, per band: the weights' quantiles at each weights event. */
  readonly distributions: Trace[][] = [];
  /** Per layer, weight snapshots for the histograms over time: at most `HISTOGRAMS`, spread over the run. */
  readonly snapshots: Snapshot[][] = [];
  /** The latest gradient tensors, and their snapshots: only for a session with `events.gradientTensors`. */
  gradients: readonly LayerWeightsView[] | undefined;
  readonly gradientSnapshots: Snapshot[][] = [];
  weights: readonly LayerWeightsView[] | undefined;
  confusion: readonly (readonly number[])[] | undefined;
  info: SessionInfo | undefined;
  lastStep = -1;
  samples = 0;
  lr: number | undefined;
  queueDepth = 0;
  dropped = 0;
  lifecycle = '';
  ended = false;
  /** Step events received, steps the rate limit skipped, weights events received, gaps after reconnects. */
  readonly counts = { steps: 0, skipped: 0, weights: 0, gaps: 0 };
  readonly log: { readonly text: string; readonly error: boolean }[] = [];
  /** Samples per second, from the step events of the last second or so. */
  rate: number | undefined;
  private rateMark: { time: number; samples: number } | undefined;
  private sub: Subscription | undefined;
  /** Bumped by every event: the page redraws what changed. */
  version = 0;

  constructor(
    readonly name: string,
    readonly colour: string,
  ) {}

  /**
   * Subscribes from the session's oldest kept event; reconnects by itself for as long as the page
   * is open. A played recording's steps come at the speed it is played at, so all of them are
   * asked for (the scrubber reads the loss of any step); a live session's at most `RATES.step`.
   */
  follow(client: LivegradClient, onChange: () => void, replay: boolean): void {
    this.sub = client
      .session(this.name)
      .events(['step', 'metrics', 'eval', 'weights', 'gradients', 'lifecycle', 'control', 'error'], { fromStep: 0, rate: replay ? { weights: RATES.weights, gradients: RATES.gradients } : RATES, reconnect: { attempts: Infinity, maxDelayMs: 2000 } })
      .subscribe({
        next: (e) => {
          this.onEvent(e);
          onChange();
        },
        error: (e: unknown) => {
          this.note(`events stopped: ${e instanceof Error ? e.message : String(e)}`, true);
          this.ended = true;
          onChange();
        },
        complete: () => {
          this.ended = true;
          onChange();
        },
      });
  }

  stop(): void {
    this.sub?.unsubscribe();
  }

  note(text: string, error = false): void {
    this.log.unshift({ text, error });
    if (this.log.length > 200) this.log.pop();
    this.version++;
  }

  /** Forgets what came after `step`: a seek back plays those steps again. */
  private rewind(step: number): void {
    for (const t of [this.loss, this.runningLoss, this.accuracy, this.evalAccuracy, this.evalLoss, ...this.gradNorms, ...this.distributions.flat()]) t.truncate(step);
    for (const kept of [...this.snapshots, ...this.gradientSnapshots]) kept.splice(0, kept.length, ...kept.filter((s) => s.step < step));
    this.lastStep = step - 1;
  }

  private onEvent(e: SessionEvent): void {
    this.version++;
    switch (e.type) {
      case 'step': {
        if (e.step <= this.lastStep) this.rewind(e.step); // a played recording sought back
        if (this.lastStep >= 0 && e.step > this.lastStep + 1) this.counts.skipped += e.step - this.lastStep - 1;
        this.counts.steps++;
        this.lastStep = Math.max(this.lastStep, e.step);
        this.loss.push(e.step, e.time, e.loss === null ? NaN : e.loss);
        e.gradNorms.forEach((n, i) => (this.gradNorms[i] ??= new Trace()).push(e.step, e.time, n));
        this.samples = e.samples;
        this.lr = e.lr;
        this.queueDepth = e.queueDepth;
        this.dropped = e.dropped;
        const mark = this.rateMark;
        if (mark === undefined || e.time - mark.time >= 1000) {
          if (mark !== undefined && e.time > mark.time) this.rate = ((e.samples - mark.samples) * 1000) / (e.time - mark.time);
          this.rateMark = { time: e.time, samples: e.samples };
        }
        return;
      }
      case 'metrics':
        this.runningLoss.push(e.step, e.time, e.runningLoss);
        if (e.accuracy !== undefined) this.accuracy.push(e.step, e.time, e.accuracy);
        return;
      case 'eval':
        this.evalLoss.push(e.step, e.time, e.loss);
        if (e.accuracy !== undefined) this.evalAccuracy.push(e.step, e.time, e.accuracy);
        if (e.confusion !== undefined) this.confusion = e.confusion;
        return;
      case 'weights':
        this.counts.weights++;
        this.weights = e.layers;
        e.layers.forEach((l, i) => {
          const bands = (this.distributions[i] ??= BANDS.map(() => new Trace()));
          quantiles(l.w.data, BANDS).forEach((q, k) => bands[k]!.push(e.step, e.time, q));
          keepSnapshot((this.snapshots[i] ??= []), { step: e.step, values: Float32Array.from(l.w.data) });
        });
        return;
      case 'lifecycle':
        this.lifecycle = e.state;
        if (e.state === 'reset') this.note(`step ${e.step}: reset`);
        else this.note(`step ${e.step}: ${e.state}${e.reason === undefined ? '' : ` (${e.reason})`}`, e.state === 'failed');
        return;
      case 'control':
        this.note(`step ${e.step}: control ${JSON.stringify(e.control)}`);
        return;
      case 'error':
        this.note(`step ${e.step}: ${e.code} ${e.message}`, true);
        return;
      case 'gap':
        this.counts.gaps++;
        this.note(`events from step ${e.fromStep} to ${e.step} were missed while disconnected`, true);
        return;
      case 'gradients':
        // norms come with every step event; the tensors only when the session sends them
        if (e.layers === undefined) return;
        this.gradients = e.layers;
        e.layers.forEach((l, i) => keepSnapshot((this.gradientSnapshots[i] ??= []), { step: e.step, values: Float32Array.from(l.w.data) }));
        return;
      default:
        assertNever(e);
    }
  }
}

/** Histograms over time kept per layer. */
export const HISTOGRAMS = 30;

/**
 * Appends a snapshot; when there are twice `HISTOGRAMS`, keeps every other one (the newest
 * always), so the kept ones stay spread over the whole run in bounded memory.
 */
function keepSnapshot(kept: Snapshot[], s: Snapshot): void {
  kept.push(s);
  if (kept.length < 2 * HISTOGRAMS) return;
  const thinned = kept.filter((_, i) => (kept.length - 1 - i) % 2 === 0);
  kept.splice(0, kept.length, ...thinned);
}

function assertNever(x: never): never {
  throw new TypeError(`Expected a known event, got ${JSON.stringify(x)}`);
}
