/**
 * The three workloads of shared/bench/WORKLOADS.md, as data every runner shares: the network,
 * the loss, the learning rate, the initial weights and the batches. Every impl starts from the
 * same weights (a livegrad `mlp()` with a fixed seed, copied) and sees the same batches in the
 * same order, so their losses agree step for step to float32 rounding (`npm run bench -- --check`).
 */
import { readFileSync } from 'node:fs';
import { mlp, rng, type Activation, type Mlp, type Rng } from '../../src/index.js';

export type WorkloadId = 'W1' | 'W2' | 'W3';

export const WORKLOAD_IDS: readonly WorkloadId[] = ['W1', 'W2', 'W3'];

export interface Workload {
  readonly id: WorkloadId;
  readonly name: string;
  readonly sizes: readonly [number, number, number];
  readonly hidden: Activation;
  /** W1: sigmoid + ½·Σ(out−y)²; W2/W3: softmax + cross-entropy, mean over the batch. */
  readonly loss: 'sse' | 'crossEntropy';
  readonly lr: number;
  readonly batch: number;
  /** W1 reports steps/s (in the same output field), the others samples/s. */
  readonly throughput: 'steps/s' | 'samples/s';
  /** Fresh initial weights, the same for every impl (glorotUniform, zero bias, seed 1). */
  model(): Mlp;
  /** A fresh batch stream, the same sequence for every impl. */
  batches(): BatchStream;
}

/**
 * Batches of one workload. `next()` fills `x` ([m, nin], row-major), `labels` ([m], class indices)
 * and `onehot` ([m, nout]; W1: the regression targets) and returns m. Allocation-free: the buffers
 * are reused (W3 swaps between preallocated views of its pool).
 */
export interface BatchStream {
  x: Float32Array;
  labels: Int32Array;
  onehot: Float32Array;
  next(): number;
}

const SEED = 1;

function model(w: Workload): Mlp {
  return mlp({
    inputSize: w.sizes[0],
    layers: [
      { units: w.sizes[1], activation: w.hidden },
      { units: w.sizes[2], activation: w.loss === 'sse' ? 'sigmoid' : 'softmax' },
    ],
    seed: SEED,
  });
}

/** W1: the tutorial's whole data set, X = [[0,0,1],[1,1,1]], y = [[0],[1]], every step. */
function seedBatches(): BatchStream {
  const x = Float32Array.of(0, 0, 1, 1, 1, 1);
  const y = Float32Array.of(0, 1);
  return { x, labels: Int32Array.of(0, 1), onehot: y, next: () => 2 };
}

export interface Digits {
  /** [rows, 64], pixel counts / 16. */
  readonly x: Float32Array;
  readonly labels: Int32Array;
  readonly rows: number;
}

let digitsCache: Digits | undefined;

/** scikit-learn's digits (1797 × 64 + label), from test/fixtures/digits.csv. */
export function digits(): Digits {
  if (digitsCache) return digitsCache;
  const text = readFileSync(new URL('../../test/fixtures/digits.csv', import.meta.url), 'utf8');
  const lines = text.split('\n').filter((l) => l.trim() !== '').slice(1);
  const x = new Float32Array(lines.length * 64);
  const labels = new Int32Array(lines.length);
  lines.forEach((line, i) => {
    const cols = line.split(',').map(Number);
    if (cols.length !== 65 || cols.some((v) => !Number.isFinite(v))) throw new Error(`Expected 65 numbers on digits.csv row ${i + 1}, got ${line.slice(0, 40)}…`);
    for (let j = 0; j < 64; j++) x[i * 64 + j] = cols[j]!;
    labels[i] = cols[64]!;
  });
  digitsCache = { x, labels, rows: lines.length };
  return digitsCache;
}

/**
 * W2: batches of 32 drawn without replacement from an order that is reshuffled (seeded) at the
 * start of every epoch; the last batch of an epoch holds the 1797 mod 32 = 5 leftover rows.
 */
export function digitsBatches(batch = 32, seed = SEED): BatchStream {
  const d = digits();
  const order = new Int32Array(d.rows);
  for (let i = 0; i < d.rows; i++) order[i] = i;
  const random: Rng = rng(seed);
  const s: BatchStream = {
    x: new Float32Array(batch * 64),
    labels: new Int32Array(batch),
    onehot: new Float32Array(batch * 10),
    next: () => 0,
  };
  let pos = d.rows;
  s.next = function nextDigitsBatch(): number {
    if (pos >= d.rows) {
      random.shuffle(order);
      pos = 0;
    }
    const m = Math.min(batch, d.rows - pos);
    s.onehot.fill(0);
    for (let r = 0; r < m; r++) {
      const i = order[pos + r]!;
      for (let j = 0; j < 64; j++) s.x[r * 64 + j] = d.x[i * 64 + j]!;
      const label = d.labels[i]!;
      s.labels[r] = label;
      s.onehot[r * 10 + label] = 1;
    }
    pos += m;
    return m;
  };
  return s;
}

/** W3: a pool of 8 batches of 64 uniform [0, 1) inputs and uniform labels, cycled in order. */
function wideBatches(): BatchStream {
  const pool = 8, m = 64, nin = 784, nout = 10;
  const random = rng(SEED + 2);
  const xs: Float32Array[] = [], ls: Int32Array[] = [], hs: Float32Array[] = [];
  for (let b = 0; b < pool; b++) {
    const x = new Float32Array(m * nin);
    for (let i = 0; i < x.length; i++) x[i] = random.uniform();
    const labels = new Int32Array(m);
    const onehot = new Float32Array(m * nout);
    for (let r = 0; r < m; r++) {
      labels[r] = random.int(nout);
      onehot[r * nout + labels[r]!] = 1;
    }
    xs.push(x);
    ls.push(labels);
    hs.push(onehot);
  }
  let b = -1;
  const s: BatchStream = {
    x: xs[0]!,
    labels: ls[0]!,
    onehot: hs[0]!,
    next: function nextWideBatch(): number {
      b = (b + 1) % pool;
      s.x = xs[b]!;
      s.labels = ls[b]!;
      s.onehot = hs[b]!;
      return m;
    },
  };
  return s;
}

function workload(w: Omit<Workload, 'model'>): Workload {
  const full: Workload = { ...w, model: () => model(full) };
  return full;
}

export const WORKLOADS: Readonly<Record<WorkloadId, Workload>> = {
  W1: workload({ id: 'W1', name: 'seed 3-4-1', sizes: [3, 4, 1], hidden: 'sigmoid', loss: 'sse', lr: 1, batch: 2, throughput: 'steps/s', batches: seedBatches }),
  W2: workload({ id: 'W2', name: 'digits 64-64-10', sizes: [64, 64, 10], hidden: 'sigmoid', loss: 'crossEntropy', lr: 0.5, batch: 32, throughput: 'samples/s', batches: () => digitsBatches() }),
  W3: workload({ id: 'W3', name: 'wide 784-256-10', sizes: [784, 256, 10], hidden: 'relu', loss: 'crossEntropy', lr: 0.01, batch: 64, throughput: 'samples/s', batches: wideBatches }),
};
