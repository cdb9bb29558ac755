// @ts-check
/**
 * Small canvas charts for the dashboard: line series over steps (linear or log y), and a
 * heat map of a weight matrix. No dependencies; every draw is a full redraw.
 */

export const COLORS = ['#1f6feb', '#d9480f', '#2b8a3e', '#7048e8', '#c2255c', '#0b7285'];

/** A series of (x, y) points, kept to at most `limit` points by halving its resolution when full. */
export class Series {
  /** @param {string} label @param {string} color @param {number} [limit] */
  constructor(label, color, limit = 4000) {
    this.label = label;
    this.color = color;
    this.limit = limit;
    /** @type {number[]} */ this.xs = [];
    /** @type {number[]} */ this.ys = [];
  }

  /** @param {number} x @param {number} y */
  push(x, y) {
    if (!Number.isFinite(y)) return;
    this.xs.push(x);
    this.ys.push(y);
    if (this.xs.length > this.limit) {
      // keep every other point: the chart stays the same shape at half the cost
      this.xs = this.xs.filter((_, i) => i % 2 === 0);
      this.ys = this.ys.filter((_, i) => i % 2 === 0);
    }
  }

  clear() {
    this.xs = [];
    this.ys = [];
  }
}

/**
 * Draws series as lines on a canvas, with the y range, the x range and a legend.
 * @param {HTMLCanvasElement} canvas
 * @param {Series[]} series
 * @param {{ log?: boolean, yMin?: number, yMax?: number }} [options]
 */
export function drawLines(canvas, series, options = {}) {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const w = canvas.width, h = canvas.height, pad = { l: 52, r: 10, t: 10, b: 22 };
  ctx.clearRect(0, 0, w, h);
  ctx.font = '11px system-ui, sans-serif';
  const f = options.log ? (/** @type {number} */ y) => Math.log10(y) : (/** @type {number} */ y) => y;
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const s of series) {
    for (let i = 0; i < s.xs.length; i++) {
      const y = s.ys[i];
      if (y === undefined || (options.log && !(y > 0))) continue;
      x0 = Math.min(x0, /** @type {number} */ (s.xs[i]));
      x1 = Math.max(x1, /** @type {number} */ (s.xs[i]));
      y0 = Math.min(y0, f(y));
      y1 = Math.max(y1, f(y));
    }
  }
  if (options.yMin !== undefined) y0 = f(options.yMin);
  if (options.yMax !== undefined) y1 = f(options.yMax);
  ctx.strokeStyle = '#d9dcdf';
  ctx.strokeRect(pad.l, pad.t, w - pad.l - pad.r, h - pad.t - pad.b);
  if (!(x1 >= x0) || !(y1 >= y0)) {
    ctx.fillStyle = '#6b7075';
    ctx.fillText('waiting for data…', pad.l + 8, pad.t + 16);
    return;
  }
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  const sx = (/** @type {number} */ x) => pad.l + ((x - x0) / (x1 - x0)) * (w - pad.l - pad.r);
  const sy = (/** @type {number} */ y) => h - pad.b - ((f(y) - y0) / (y1 - y0)) * (h - pad.t - pad.b);
  const label = (/** @type {number} */ v) => {
    const y = options.log ? 10 ** v : v;
    return Math.abs(y) >= 1000 || (Math.abs(y) < 0.01 && y !== 0) ? y.toExponential(1) : y.toPrecision(3);
  };
  ctx.fillStyle = '#6b7075';
  ctx.textAlign = 'right';
  ctx.fillText(label(y1), pad.l - 4, pad.t + 9);
  ctx.fillText(label(y0), pad.l - 4, h - pad.b);
  ctx.textAlign = 'left';
  ctx.fillText(`step ${Math.round(x0)}`, pad.l, h - 6);
  ctx.textAlign = 'right';
  ctx.fillText(`step ${Math.round(x1)}`, w - pad.r, h - 6);
  let legendX = pad.l + 8;
  ctx.textAlign = 'left';
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 1.25;
    ctx.beginPath();
    let started = false;
    for (let i = 0; i < s.xs.length; i++) {
      const y = /** @type {number} */ (s.ys[i]);
      if (options.log && !(y > 0)) continue;
      const px = sx(/** @type {number} */ (s.xs[i])), py = sy(y);
      if (started) ctx.lineTo(px, py);
      else ctx.moveTo(px, py);
      started = true;
    }
    ctx.stroke();
    ctx.fillStyle = s.color;
    ctx.fillText(s.label, legendX, pad.t + 14);
    legendX += ctx.measureText(s.label).width + 14;
  }
}

/**
 * Draws a row-major matrix [rows, cols] as a heat map: blue negative, white zero, red positive,
 * scaled by the largest absolute value. Returns that scale.
 * @param {HTMLCanvasElement} canvas
 * @param {ArrayLike<number>} data
 * @param {number} rows
 * @param {number} cols
 */
export function drawHeatmap(canvas, data, rows, cols) {
  const ctx = canvas.getContext('2d');
  if (!ctx) return 0;
  let max = 0;
  for (let i = 0; i < data.length; i++) max = Math.max(max, Math.abs(/** @type {number} */ (data[i])));
  const image = ctx.createImageData(cols, rows);
  for (let i = 0; i < rows * cols; i++) {
    const v = max === 0 ? 0 : /** @type {number} */ (data[i]) / max;
    const t = Math.round(255 * (1 - Math.abs(v)));
    image.data[4 * i] = v > 0 ? 255 : t;
    image.data[4 * i + 1] = t;
    image.data[4 * i + 2] = v < 0 ? 255 : t;
    image.data[4 * i + 3] = 255;
  }
  // scale the cols × rows image up to the canvas with square-ish pixels
  const off = document.createElement('canvas');
  off.width = cols;
  off.height = rows;
  off.getContext('2d')?.putImageData(image, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.imageSmoothingEnabled = false;
  const scale = Math.min(canvas.width / cols, canvas.height / rows);
  ctx.drawImage(off, 0, 0, cols * scale, rows * scale);
  return max;
}
