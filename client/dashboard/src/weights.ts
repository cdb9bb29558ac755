/**
 * Pictures of a weight matrix: a heat map (blue negative, white zero, red positive, scaled by the
 * largest |w|) and a histogram of its values now. Their distribution over time is a line chart
 * of quantile bands (run.ts `BANDS`, drawn by main.ts through chart.ts).
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

/** Draws a histogram of `values` in `bins` bins, with the range under it. */
export function drawHistogram(canvas: HTMLCanvasElement, values: ArrayLike<number>, bins = 40): void {
  const ctx = canvas.getContext('2d');
  if (ctx === null || values.length === 0) return;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    lo = Math.min(lo, values[i]!);
    hi = Math.max(hi, values[i]!);
  }
  if (hi === lo) hi = lo + 1;
  const counts = new Uint32Array(bins);
  for (let i = 0; i < values.length; i++) counts[Math.min(bins - 1, Math.floor(((values[i]! - lo) / (hi - lo)) * bins))]!++;
  const peak = Math.max(...counts);
  const { width, height } = canvas;
  const base = height - 16;
  ctx.clearRect(0, 0, width, height);
  ctx.fillStyle = '#1f6feb';
  const bw = width / bins;
  counts.forEach((c, i) => {
    const h = (c / peak) * (base - 4);
    ctx.fillRect(i * bw + 0.5, base - h, bw - 1, h);
  });
  ctx.fillStyle = '#6b7075';
  ctx.font = '11px system-ui, sans-serif';
  ctx.textAlign = 'left';
  ctx.fillText(lo.toPrecision(3), 0, height - 3);
  ctx.textAlign = 'right';
  ctx.fillText(hi.toPrecision(3), width, height - 3);
  ctx.textAlign = 'center';
  ctx.fillText(`${values.length} weights, peak ${peak}`, width / 2, height - 3);
}
