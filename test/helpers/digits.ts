/**
 * Loads test/fixtures/digits.csv (the UCI 8×8 digits, pixels scaled to [0, 1]) in place:
 * header f0..f63,label, one sample per line. Tests only.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createStepper, mlp, rng, sgd, type KernelChoice, type Mlp, type StepConfig } from '../../src/index.js';

export interface Digits {
  readonly rows: number;
  /** Features per sample (64). */
  readonly cols: number;
  /** x: [rows, cols] row-major. */
  readonly x: Float32Array;
  /** One class index in [0, 9] per row. */
  readonly labels: Int32Array;
}

export const DIGITS_CSV = fileURLToPath(new URL('../fixtures/digits.csv', import.meta.url));

export function loadDigits(path: string = DIGITS_CSV): Digits {
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.length > 0);
  const header = lines[0]!.split(',');
  const cols = header.length - 1;
  if (header[cols] !== 'label' || header.slice(0, cols).some((h, j) => h !== `f${j}`)) {
    throw new Error(`Expected header f0..f${cols - 1},label in ${path}, got ${lines[0]!.slice(0, 40)}…`);
  }
  const rows = lines.length - 1;
  const x = new Float32Array(rows * cols);
  const labels = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const cells = lines[i + 1]!.split(',');
    if (cells.length !== cols + 1) throw new Error(`Expected ${cols + 1} cells on line ${i + 2} of ${path}, got ${cells.length}`);
    for (let j = 0; j < cols; j++) x[i * cols + j] = Number(cells[j]);
    labels[i] = Number(cells[cols]);
  }
  return { rows, cols, x, labels };
}

const BATCH = 32;

/**
 * Trains a fresh 64-64-10 sigmoid/softmax network (W2) with sgd lr 0.5 and cross-entropy, on batches
 * of 32 drawn without replacement from an order reshuffled every epoch by the seeded generator.
 */
export function trainDigits(data: Digits, seed: number, epochs: number, kernels: KernelChoice | 'auto' = 'auto'): Mlp {
  const model = mlp({ inputSize: data.cols, layers: [{ units: 64, activation: 'sigmoid' }, { units: 10, activation: 'softmax' }], seed });
  const config: StepConfig = { loss: 'crossEntropy', optimizer: sgd({ lr: 0.5 }) };
  const stepper = createStepper(model, config, undefined, BATCH, { kernels, threads: 1 });
  const random = rng(seed);
  const order = Int32Array.from({ length: data.rows }, (_, i) => i);
  const x = new Float32Array(BATCH * data.cols);
  const y = new Int32Array(BATCH);
  for (let epoch = 0; epoch < epochs; epoch++) {
    random.shuffle(order);
    for (let start = 0; start < data.rows; start += BATCH) {
      const m = Math.min(BATCH, data.rows - start);
      for (let r = 0; r < m; r++) {
        const i = order[start + r]!;
        x.set(data.x.subarray(i * data.cols, (i + 1) * data.cols), r * data.cols);
        y[r] = data.labels[i]!;
      }
      const info = stepper.step(x, { labels: true, data: y }, m);
      if (!info.applied) throw new Error(`Expected every batch to be applied, got ${info.skipReason} in epoch ${epoch}`);
    }
  }
  return model;
}

/** The share of `data` a digits model classifies right (its forward pass on the TypeScript kernels). */
export function accuracy(model: Mlp, data: Digits): number {
  const stepper = createStepper(model, { loss: 'crossEntropy', optimizer: sgd({ lr: 0 }) }, undefined, data.rows, { kernels: 'js' });
  const out = stepper.forward(data.x, data.rows);
  let correct = 0;
  for (let i = 0; i < data.rows; i++) {
    let best = 0;
    for (let j = 1; j < 10; j++) if (out[i * 10 + j]! > out[i * 10 + best]!) best = j;
    if (best === data.labels[i]) correct++;
  }
  return correct / data.rows;
}
