/**
 * Re-batching: rows arrive in chunks of any size and leave in batches of exactly `size`
 * rows (the last one, on flush, may be shorter). A chunk that already is one whole batch
 * with nothing carried over passes through without a copy.
 */
import { LivegradError } from '../errors.js';
import { allocate, type Tensor } from '../nn/tensor.js';
import type { Batch } from '../nn/step.js';

export class Rebatcher {
  private size: number;
  private xs: Tensor[] = [];
  private ys: Tensor[] = [];
  private rows = 0;

  constructor(size: number) {
    this.size = checkSize(size);
  }

  get batchSize(): number {
    return this.size;
  }

  /** Rows held back, waiting for a full batch. */
  get pending(): number {
    return this.rows;
  }

  setBatchSize(size: number): void {
    this.size = checkSize(size);
  }

  /** Throws LivegradError E_SHAPE unless the chunk's x width and y layout match the rows held back. */
  check(chunk: Batch): void {
    const x0 = this.xs[0], y0 = this.ys[0];
    if (x0 === undefined || y0 === undefined) return;
    const layout = (x: Tensor, y: Tensor): string => `x [m, ${x.shape[1]}], y ${y.shape.length === 1 ? '[m]' : `[m, ${y.shape[1]}]`}`;
    const held = layout(x0, y0), got = layout(chunk.x, chunk.y);
    if (got !== held) throw new LivegradError('E_SHAPE', `Expected a chunk like the rows held back (${held}), got ${got}`);
  }

  /** Adds a chunk (x [m, nin], y [m, nout] or [m]) and calls `emit` for every whole batch it completes. */
  push(chunk: Batch, emit: (batch: Batch) => void): void {
    const m = chunk.x.shape[0]!;
    if (m === 0) return;
    this.check(chunk);
    if (this.rows === 0 && m === this.size) {
      emit(chunk);
      return;
    }
    this.xs.push(chunk.x);
    this.ys.push(chunk.y);
    this.rows += m;
    while (this.rows >= this.size) emit(this.take(this.size));
  }

  /** Emits what is left as a last, shorter batch. */
  flush(emit: (batch: Batch) => void): void {
    if (this.rows > 0) emit(this.take(this.rows));
  }

  private take(n: number): Batch {
    const x0 = this.xs[0]!, y0 = this.ys[0]!;
    const xw = x0.shape[1]!;
    const yw = y0.shape.length === 1 ? 1 : y0.shape[1]!;
    const x = allocate(x0.dtype, n * xw);
    const y = allocate(y0.dtype, n * yw);
    let filled = 0;
    while (filled < n) {
      const cx = this.xs[0]!, cy = this.ys[0]!;
      const rows = cx.shape[0]!;
      const k = Math.min(rows, n - filled);
      x.set(cx.data.subarray(0, k * xw), filled * xw);
      y.set(cy.data.subarray(0, k * yw), filled * yw);
      filled += k;
      if (k === rows) {
        this.xs.shift();
        this.ys.shift();
      } else {
        this.xs[0] = { dtype: cx.dtype, shape: [rows - k, xw], data: cx.data.subarray(k * xw) };
        this.ys[0] = { dtype: cy.dtype, shape: cy.shape.length === 1 ? [rows - k] : [rows - k, yw], data: cy.data.subarray(k * yw) };
      }
    }
    this.rows -= n;
    return {
      x: { dtype: x0.dtype, shape: [n, xw], data: x },
      y: { dtype: y0.dtype, shape: y0.shape.length === 1 ? [n] : [n, yw], data: y },
    };
  }
}

function checkSize(size: number): number {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`Expected batch size to be a positive integer, got ${size}`);
  return size;
}
