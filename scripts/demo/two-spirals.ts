/**
 * Two interleaved spirals, TensorFlow Playground's hardest data set, drawn with livegrad's seeded
 * generator: the same points for the same seed, in Node (the demo streams them) and in the
 * browser (the dashboard draws them under the decision boundary of the demo's `spirals` session).
 */
import { rng } from '../../src/nn/rng.js';

export interface TwoSpirals {
  /** Rows of [x1, x2] in about [-5, 5]² (Playground's scale: a tanh network separates them far sooner than in [-1, 1]²). */
  readonly x: [number, number][];
  /** The class of each row: 0 or 1. */
  readonly y: number[];
}

/**
 * `n` points per spiral, one and three quarter turns each, the second the first turned by π, with
 * uniform noise of ±`noise` on each coordinate; in the order class 0, class 1, interleaved.
 */
export function twoSpirals(n: number, noise: number, seed: number): TwoSpirals {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`Expected n to be a positive integer, got ${n}`);
  const r = rng(seed);
  const x: [number, number][] = [];
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    for (const label of [0, 1]) {
      const radius = (i / n) * 5;
      const t = 1.75 * (i / n) * 2 * Math.PI + label * Math.PI;
      x.push([radius * Math.sin(t) + (2 * r.uniform() - 1) * noise, radius * Math.cos(t) + (2 * r.uniform() - 1) * noise]);
      y.push(label);
    }
  }
  return { x, y };
}

/** The demo's spirals: what `npm start` streams into the `spirals` session. */
export const DEMO_SPIRALS = { n: 200, noise: 0.2, seed: 7 } as const;
