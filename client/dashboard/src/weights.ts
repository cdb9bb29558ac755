/**
 * Pictures of a layer's weights: a heat map of the matrix now (blue negative, white zero, red
 * positive, scaled by the largest |w|) and its histograms over time. Their distribution over time
 * is a line chart of quantile bands (run.ts `BANDS`, drawn by main.ts through chart.ts).
 */
import type { Tensor } from 'livegrad/client';

/** Draws w [nin, nout] transposed (a row per unit, a column per input) to fill the canvas; returns max |w|. */
export function drawHeatmap(canvas: HTMLCanvasElement, w: Tensor): number {
  const ctx = canvas.getContext('2d');
  const [nin = 0, nout = 0] = w.shape;
  if (ctx === null || nin === 0 || nout === 0) return 0;
  let max = 0;
  for (let i = 0; i < w.data.length; i++) max = Math.max(max, Math.abs(w.data[i]!));
  const image = ctx.createImageData(nin, nout);
  for (let i = 0; i < nin; i++) {
    for (let j = 0; j < nout; j++) {
      const v = max === 0 ? 0 : w.data[i * nout + j]! / max;
      const t = Math.round(255 * (1 - Math.abs(v)));
      const p = 4 * (j * nin + i);
      image.data[p] = v > 0 ? 255 : t;
      image.data[p + 1] = t;
      image.data[p + 2] = v < 0 ? 255 : t;
      image.data[p + 3] = 255;
    }
  }
  const off = document.createElement('canvas');
  off.width = nin;
  off.height = nout;
  off.getContext('2d')?.putImageData(image, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.imageSmoothingEnabled = false;
  const scale = Math.min(canvas.width / nin, canvas.height / nout);
  ctx.drawImage(off, 0, 0, nin * scale, nout * scale);
  return max;
}

/** A layer's weights at one step, kept for its histogram over time. */
export interface Snapshot {
  readonly step: number;
  readonly values: Float32Array;
}

/**
 * TensorBoard's histograms view ("offset" mode): one histogram per snapshot, the oldest at the
 * top and faintest, the newest at the bottom, all over the same bins — so a layer's weights can
 * be seen spreading or shifting as it trains.
 *
 * @param snapshots  in step order
 */
export function drawHistograms(canvas: HTMLCanvasElement, snapshots: readonly Snapshot[], bins = 50): void {
  const ctx = canvas.getContext('2d');
  if (ctx === null || snapshots.length === 0) return;
  let lo = Infinity;
  let hi = -Infinity;
  for (const { values } of snapshots) {
    for (let i = 0; i < values.length; i++) {
      lo = Math.min(lo, values[i]!);
      hi = Math.max(hi, values[i]!);
    }
  }
  if (!(hi > lo)) hi = lo + 1;
  const counts = snapshots.map(({ values }) => {
    const c = new Uint32Array(bins);
    for (let i = 0; i < values.length; i++) c[Math.min(bins - 1, Math.floor(((values[i]! - lo) / (hi - lo)) * bins))]!++;
    return c;
  });
  const peak = Math.max(1, ...counts.map((c) => Math.max(...c)));
  const { width, height } = canvas;
  const base = height - 16;
  const n = snapshots.length;
  // each ridge is this tall at the peak; consecutive ridges start this far apart
  const ridge = Math.min(60, base / 2);
  const gap = n > 1 ? (base - ridge - 4) / (n - 1) : 0;
  ctx.clearRect(0, 0, width, height);
  counts.forEach((c, k) => {
    const y0 = 4 + ridge + k * gap;
    const t = n > 1 ? k / (n - 1) : 1;
    ctx.beginPath();
    ctx.moveTo(0, y0);
    for (let b = 0; b < bins; b++) ctx.lineTo(((b + 0.5) / bins) * width, y0 - (c[b]! / peak) * ridge);
    ctx.lineTo(width, y0);
    ctx.closePath();
    ctx.fillStyle = `rgba(245, 147, 34, ${0.15 + 0.6 * t})`;
    ctx.strokeStyle = `rgba(180, 90, 10, ${0.3 + 0.7 * t})`;
    ctx.fill();
    ctx.stroke();
  });
  ctx.fillStyle = '#6b7075';
  ctx.font = '11px system-ui, sans-serif';
  ctx.textAlign = 'left';
  ctx.fillText(lo.toPrecision(3), 0, height - 3);
  ctx.textAlign = 'right';
  ctx.fillText(hi.toPrecision(3), width, height - 3);
  ctx.textAlign = 'center';
  ctx.fillText(`steps ${snapshots[0]!.step}…${snapshots[n - 1]!.step}, newest at the bottom`, width / 2, height - 3);
}
