/**
 * TensorFlow Playground's two pictures of a model, from its latest weights: the network as
 * neurons and edges (edge colour by sign, width by |w|; neuron colour by bias), and for a model
 * with two inputs the decision boundary — the model's output over a grid of the input plane,
 * computed in the browser with the library's own forward pass (`predict` of src/nn/mlp.ts) —
 * under the data points when the page knows them.
 */
import type { Mlp } from 'livegrad/client';
import { predict } from '../../../src/nn/mlp.js';

/** Playground's colours: orange for negative / class 0, blue for positive / class 1. */
const NEG = [245, 147, 34] as const;
const POS = [8, 119, 189] as const;

function mix(t: number): [number, number, number] {
  // t in [-1, 1] → orange … white … blue
  const c = t < 0 ? NEG : POS;
  const a = Math.min(1, Math.abs(t));
  return [Math.round(255 + (c[0] - 255) * a), Math.round(255 + (c[1] - 255) * a), Math.round(255 + (c[2] - 255) * a)];
}

const css = ([r, g, b]: readonly number[], alpha = 1): string => `rgba(${r}, ${g}, ${b}, ${alpha})`;

/** Most neurons drawn per layer (a 64-input layer is drawn whole; wider ones show their first 64). */
const MAX_NEURONS = 64;

/** What drawing a network needs: an `Mlp`, or the layers of a weights event (whose activations it does not name). */
export interface NetworkView {
  readonly inputSize: number;
  readonly layers: readonly { readonly nin: number; readonly nout: number; readonly w: ArrayLike<number>; readonly b: ArrayLike<number>; readonly activation?: string }[];
}

export function drawNetwork(canvas: HTMLCanvasElement, model: NetworkView): void {
  const ctx = canvas.getContext('2d');
  if (ctx === null) return;
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  const sizes = [model.inputSize, ...model.layers.map((l) => l.nout)];
  const cols = sizes.length;
  const pos = (layer: number, i: number): [number, number] => {
    const n = Math.min(sizes[layer]!, MAX_NEURONS);
    return [30 + (layer * (width - 60)) / (cols - 1), 20 + ((i + 0.5) * (height - 40)) / n];
  };
  model.layers.forEach((l, k) => {
    let max = 0;
    for (let i = 0; i < l.w.length; i++) max = Math.max(max, Math.abs(l.w[i]!));
    const nin = Math.min(l.nin, MAX_NEURONS);
    const nout = Math.min(l.nout, MAX_NEURONS);
    const dense = nin * nout > 1000;
    for (let i = 0; i < nin; i++) {
      for (let j = 0; j < nout; j++) {
        const v = max === 0 ? 0 : l.w[i * l.nout + j]! / max;
        const [x0, y0] = pos(k, i);
        const [x1, y1] = pos(k + 1, j);
        ctx.strokeStyle = css(v < 0 ? NEG : POS, dense ? 0.15 + 0.5 * Math.abs(v) : 0.35 + 0.65 * Math.abs(v));
        ctx.lineWidth = dense ? 0.5 + Math.abs(v) : 0.5 + 4 * Math.abs(v);
        ctx.beginPath();
        ctx.moveTo(x0, y0);
        ctx.lineTo(x1, y1);
        ctx.stroke();
      }
    }
  });
  sizes.forEach((size, k) => {
    const n = Math.min(size, MAX_NEURONS);
    const r = Math.max(2, Math.min(9, (height - 40) / n / 2.5));
    const layer = k === 0 ? undefined : model.layers[k - 1];
    let bmax = 0;
    if (layer !== undefined) for (let j = 0; j < layer.b.length; j++) bmax = Math.max(bmax, Math.abs(layer.b[j]!));
    for (let i = 0; i < n; i++) {
      const [x, y] = pos(k, i);
      ctx.fillStyle = layer === undefined ? '#eceef0' : css(mix(bmax === 0 ? 0 : layer.b[i]! / bmax));
      ctx.strokeStyle = '#6b7075';
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.arc(x, y, r, 0, 2 * Math.PI);
      ctx.fill();
      ctx.stroke();
    }
    ctx.fillStyle = '#6b7075';
    ctx.font = '11px system-ui, sans-serif';
    ctx.textAlign = 'center';
    const [x] = pos(k, 0);
    ctx.fillText(k === 0 ? `${size} in` : `${size} ${model.layers[k - 1]!.activation ?? 'units'}`, x, height - 4);
  });
}

/** The input plane the boundary covers: [lo, hi] on both axes. */
export interface Plane {
  readonly lo: number;
  readonly hi: number;
}

/** Points to draw over the boundary: rows of [x1, x2] and their classes (0 or 1). */
export interface Points {
  readonly x: readonly (readonly [number, number])[];
  readonly y: readonly number[];
}

/** Grid cells per side of the boundary (Playground uses 100). */
const GRID = 80;

/**
 * Draws a 2-input model's output over the plane: for a softmax of two classes p(1) − p(0), for
 * one output its value (tanh in [-1, 1], sigmoid mapped from [0, 1]); then the points.
 */
export function drawBoundary(canvas: HTMLCanvasElement, model: Mlp, plane: Plane, points: Points | undefined): void {
  const ctx = canvas.getContext('2d');
  if (ctx === null || model.inputSize !== 2) return;
  const grid: number[][] = [];
  const cell = (plane.hi - plane.lo) / GRID;
  for (let r = 0; r < GRID; r++) for (let c = 0; c < GRID; c++) grid.push([plane.lo + (c + 0.5) * cell, plane.hi - (r + 0.5) * cell]);
  const out = predict(model, grid);
  const k = out.shape[1]!;
  const last = model.layers[model.layers.length - 1]!.activation;
  const image = ctx.createImageData(GRID, GRID);
  for (let i = 0; i < GRID * GRID; i++) {
    let t: number;
    if (k >= 2) t = out.data[i * k + 1]! - out.data[i * k]!;
    else if (last === 'sigmoid') t = 2 * out.data[i]! - 1;
    else t = Math.max(-1, Math.min(1, out.data[i]!));
    const [r, g, b] = mix(t * 0.8);
    image.data.set([r, g, b, 255], 4 * i);
  }
  const off = document.createElement('canvas');
  off.width = GRID;
  off.height = GRID;
  off.getContext('2d')?.putImageData(image, 0, 0);
  const { width, height } = canvas;
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(off, 0, 0, width, height);
  if (points === undefined) return;
  const sx = (v: number): number => ((v - plane.lo) / (plane.hi - plane.lo)) * width;
  const sy = (v: number): number => ((plane.hi - v) / (plane.hi - plane.lo)) * height;
  ctx.lineWidth = 1;
  ctx.strokeStyle = '#ffffff';
  points.x.forEach(([a, b], i) => {
    ctx.fillStyle = css(points.y[i] === 1 ? POS : NEG);
    ctx.beginPath();
    ctx.arc(sx(a), sy(b), 3, 0, 2 * Math.PI);
    ctx.fill();
    ctx.stroke();
  });
}
