/**
 * A live line chart on uPlot: real axes with ticks, a legend that reads out every series under
 * the cursor, drag to zoom (double-click or `resetZoom()` to see everything again), TensorBoard's
 * smoothing with the raw line kept faint behind, a log or linear y axis, and x as step or wall
 * time. Each draw downsamples every series to the pixels it covers (series.ts), so 100,000 points
 * per series cost what a few thousand do.
 */
import uPlot from 'uplot';
import { downsample, Smoother, type Trace } from './series.js';

export type XMode = 'step' | 'time';

export interface Line {
  readonly label: string;
  readonly colour: string;
  readonly trace: Trace;
  /** Smoothed by the view's smoothing (losses yes, an eval accuracy taken every 50 steps no). */
  readonly smooth: boolean;
}

export interface View {
  readonly xMode: XMode;
  readonly log: boolean;
  /** EMA weight in [0, 1). */
  readonly smoothing: number;
}

export interface ChartOptions {
  /** The y axis' label, units included. */
  readonly y: string;
  /** Whether the view's log toggle applies (a loss yes, an accuracy no). */
  readonly allowLog: boolean;
  readonly yRange?: readonly [number, number];
  readonly height?: number;
  /** Pairs of line indices to fill between (unsmoothed lines only): a distribution's quantile bands. */
  readonly bands?: readonly (readonly [number, number])[];
}

const fmt = (v: number | null | undefined): string => (v === null || v === undefined || !Number.isFinite(v) ? '–' : Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toPrecision(4));

/** `#rrggbb` at `alpha`. */
function faint(colour: string, alpha: number): string {
  const n = parseInt(colour.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

export class LineChart {
  private plot: uPlot | undefined;
  /** What the plot was built for: rebuilt when the lines or the view's axes change. */
  private built = '';
  private lines: readonly Line[] = [];
  private view: View = { xMode: 'step', log: false, smoothing: 0 };
  /** The x range the user zoomed to; undefined: follow the data. */
  private zoom: readonly [number, number] | undefined;
  /** Per trace, its smoothed values so far: each draw smooths only the points that are new. */
  private readonly smoothed = new WeakMap<Trace, Smoother>();
  /** Raw points held, over all lines (the page shows it as `data-points`). */
  points = 0;

  constructor(
    private readonly el: HTMLElement,
    private readonly options: ChartOptions,
  ) {
    new ResizeObserver(() => this.plot?.setSize(this.size())).observe(el);
  }

  setLines(lines: readonly Line[]): void {
    this.lines = lines;
  }

  setView(view: View): void {
    if (view.xMode !== this.view.xMode) this.zoom = undefined;
    this.view = view;
  }

  resetZoom(): void {
    this.zoom = undefined;
    this.draw();
  }

  /** Draws the lines as they are now. */
  draw(): void {
    const log = this.view.log && this.options.allowLog;
    const smoothed = this.view.smoothing > 0;
    const key = JSON.stringify([this.lines.map((l) => [l.label, l.colour, l.smooth]), this.view.xMode, log, smoothed]);
    if (key !== this.built) this.build(key, log, smoothed);
    const plot = this.plot!;
    let x0 = Infinity;
    let x1 = -Infinity;
    this.points = 0;
    for (const l of this.lines) {
      const xs = this.view.xMode === 'step' ? l.trace.step.data : l.trace.time.data;
      if (xs.length === 0) continue;
      x0 = Math.min(x0, xs[0]!);
      x1 = Math.max(x1, xs[xs.length - 1]!);
      this.points += xs.length;
    }
    if (!(x1 >= x0)) return;
    const [v0, v1] = this.zoom ?? [x0, x1];
    const buckets = Math.max(100, Math.round(plot.bbox.width / devicePixelRatio) || 600);
    const tables: uPlot.AlignedData[] = [];
    for (const l of this.lines) {
      const xs = this.view.xMode === 'step' ? l.trace.step.data : l.trace.time.data;
      const raw = l.trace.y.data;
      const drawn = smoothed && l.smooth ? [raw, this.smooth(l.trace, log)] : [raw];
      for (const ys of drawn) {
        const d = downsample(xs, ys, v0, v1, buckets);
        // a log axis has no place for 0 or less: a gap there
        tables.push([d.x, d.y.map((v) => (Number.isFinite(v) && (!log || v > 0) ? v : null))]);
      }
    }
    const data = tables.length === 1 ? tables[0]! : uPlot.join(tables);
    plot.setData(data, this.zoom === undefined);
    if (this.zoom !== undefined) plot.setScale('x', { min: this.zoom[0], max: this.zoom[1] });
    this.el.dataset['points'] = String(this.points);
    this.el.dataset['scale'] = log ? 'log' : 'linear';
    this.el.dataset['series'] = String(plot.series.length - 1);
    // the x range shown, for a reader (and a test) of the page
    this.el.dataset['xMin'] = String(v0);
    this.el.dataset['xMax'] = String(v1);
  }

  /** The trace smoothed (series.ts `Smoother`): each draw smooths only the points added since the last. */
  private smooth(trace: Trace, log: boolean): Float64Array {
    const ys = trace.y.data;
    let s = this.smoothed.get(trace);
    if (s === undefined || s.weight !== this.view.smoothing || s.log !== log || s.out.length > ys.length) {
      s = new Smoother(this.view.smoothing, log);
      this.smoothed.set(trace, s);
    }
    return s.extend(ys);
  }

  private size(): { width: number; height: number } {
    return { width: Math.max(200, this.el.clientWidth), height: this.options.height ?? 220 };
  }

  private build(key: string, log: boolean, smoothed: boolean): void {
    this.plot?.destroy();
    this.built = key;
    const series: uPlot.Series[] = [{ label: this.view.xMode === 'step' ? 'step' : 'time', value: this.view.xMode === 'step' ? (_u, v) => (v == null ? '–' : String(Math.round(v))) : '{YYYY}-{MM}-{DD} {H}:{mm}:{ss}' }];
    for (const l of this.lines) {
      if (smoothed && l.smooth) series.push({ label: `${l.label} (raw)`, stroke: faint(l.colour, 0.3), width: 1, spanGaps: true, value: (_u, v) => fmt(v) });
      series.push({ label: l.label, stroke: l.colour, width: 1.5, spanGaps: true, value: (_u, v) => fmt(v) });
    }
    const y: uPlot.Scale = log ? { distr: 3, log: 10 } : this.options.yRange ? { range: [this.options.yRange[0], this.options.yRange[1]] } : {};
    const opts: uPlot.Options = {
      ...this.size(),
      series,
      scales: { x: { time: this.view.xMode === 'time' }, y },
      axes: [
        { label: this.view.xMode === 'step' ? 'step' : 'wall time', labelSize: 18, size: 36 },
        { label: this.options.y, labelSize: 18, size: 56, values: (_u, ticks) => ticks.map((t) => fmt(t)) },
      ],
      bands: (this.options.bands ?? []).filter(([a, b]) => a < this.lines.length && b < this.lines.length).map(([a, b]) => ({ series: [a + 1, b + 1] as [number, number], fill: faint(this.lines[a]!.colour, 0.12) })),
      cursor: { drag: { x: true, y: false, setScale: true } },
      legend: { live: true },
      hooks: {
        // NOTE: a zoom is what the user selected, read here; not inferred from setScale, which
        // uPlot also calls (a microtask later) for every autoscale of new data
        setSelect: [
          (u) => {
            if (u.select.width < 2) return;
            this.zoom = [u.posToVal(u.select.left, 'x'), u.posToVal(u.select.left + u.select.width, 'x')];
            queueMicrotask(() => this.draw());
          },
        ],
      },
    };
    this.plot = new uPlot(opts, [[], ...series.slice(1).map(() => [])], this.el);
    // uPlot's double-click shows all the data: the chart follows the data again
    this.plot.over.addEventListener('dblclick', () => this.resetZoom());
  }
}
