/**
 * Activations and losses: values against the textbook, and backpropagation against central
 * finite differences for every hidden activation × every loss (a property over random shapes,
 * weights and targets, fast-check seeded).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  LEAKY_RELU_SLOPE,
  activate,
  activateBackward,
  backwardInto,
  createWorkspace,
  forwardInto,
  lossAndDelta,
  lossInto,
  mlpFromWeights,
  tensor,
  type Activation,
  type LossName,
  type Mlp,
  type Targets,
  type Workspace,
} from '../../src/index.js';

const HIDDEN: readonly Activation[] = ['sigmoid', 'tanh', 'relu', 'leakyRelu', 'linear'];

/**
 * Values in [-r, r] on a grid of 2^-18, drawn uniformly. (fc.double is uniform over bit patterns,
 * so most of its values are tiny, which puts relu pre-activations on their kink.)
 */
function grid(r: number): fc.Arbitrary<number> {
  return fc.noBias(fc.integer({ min: -r * 2 ** 18, max: r * 2 ** 18 })).map((k) => k / 2 ** 18);
}

describe('activate / activateBackward', () => {
  it('computes each activation as in its definition', () => {
    const z = new Float64Array([-2, 0, 3]);
    const a = new Float64Array(3);
    const expected: Record<Exclude<Activation, 'softmax'>, number[]> = {
      sigmoid: [1 / (1 + Math.exp(2)), 0.5, 1 / (1 + Math.exp(-3))],
      tanh: [Math.tanh(-2), 0, Math.tanh(3)],
      relu: [0, 0, 3],
      leakyRelu: [-0.02, 0, 3],
      linear: [-2, 0, 3],
    };
    for (const [kind, values] of Object.entries(expected)) {
      activate(kind as Activation, z, a, 1, 3);
      expect(Array.from(a), kind).toEqual(values);
    }
    expect(LEAKY_RELU_SLOPE).toBe(0.01);
  });

  it('computes softmax row by row, rows summing to 1', () => {
    const z = new Float64Array([0, Math.log(3), 1, 1]);
    const a = new Float64Array(4);
    activate('softmax', z, a, 2, 2);
    expect(a[0]).toBeCloseTo(0.25, 15);
    expect(a[1]).toBeCloseTo(0.75, 15);
    expect(Array.from(a.subarray(2))).toEqual([0.5, 0.5]);
  });

  it('keeps softmax finite for logits that would overflow e^z (shift by the row max)', () => {
    for (const z of [new Float32Array([1000, 999, -1000]), new Float64Array([1000, 999, -1000])]) {
      const a = z.slice();
      activate('softmax', z, a, 1, 3);
      expect(Array.from(a).every(Number.isFinite)).toBe(true);
      expect(a[0]! / a[1]!).toBeCloseTo(Math.E, 5);
      expect(a[2]).toBe(0);
    }
  });

  it('keeps sigmoid finite at ±1000 (e^1000 = Inf gives the right limit 0)', () => {
    const a = new Float64Array(2);
    activate('sigmoid', new Float64Array([-1000, 1000]), a, 1, 2);
    expect(Array.from(a)).toEqual([0, 1]);
  });

  it('only touches the first m rows', () => {
    const z = new Float64Array([1, 2, 3, 4]);
    const a = new Float64Array([9, 9, 9, 9]);
    activate('tanh', z, a, 1, 2);
    expect(Array.from(a.subarray(2))).toEqual([9, 9]);
  });

  it('gives the derivative of each activation (property: dz = da · (f(z+h) - f(z-h)) / 2h)', () => {
    const h = 1e-6;
    fc.assert(
      fc.property(
        fc.constantFrom(...HIDDEN),
        fc.array(grid(5), { minLength: 1, maxLength: 8 }),
        grid(3),
        (kind, values, da) => {
          // NOTE: relu / leakyRelu have a kink at 0 where the derivative is not defined.
          fc.pre(values.every((v) => Math.abs(v) > 1e-3));
          const n = values.length;
          const z = Float64Array.from(values);
          const a = new Float64Array(n), dz = new Float64Array(n);
          activate(kind, z, a, 1, n);
          activateBackward(kind, z, a, new Float64Array(n).fill(da), dz, 1, n);
          const up = new Float64Array(n), down = new Float64Array(n);
          activate(kind, z.map((v) => v + h), up, 1, n);
          activate(kind, z.map((v) => v - h), down, 1, n);
          for (let i = 0; i < n; i++) {
            const numeric = (da * (up[i]! - down[i]!)) / (2 * h);
            expect(Math.abs(dz[i]! - numeric)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(numeric)));
          }
        },
      ),
      { seed: 101, numRuns: 200 },
    );
  });

  it('throws a TypeError for a name that is not an activation (also one Object.prototype has)', () => {
    const z = new Float64Array(1);
    for (const kind of ['swish', 'toString']) {
      expect(() => activate(kind as Activation, z, z, 1, 1)).toThrow(new TypeError(`Unexpected value ${kind}`));
      expect(() => activateBackward(kind as Activation, z, z, z, z, 1, 1)).toThrow(TypeError);
    }
  });

  it('gives the softmax Jacobian-vector product a ⊙ (da - Σ da ⊙ a)', () => {
    const z = new Float64Array([0.5, -1, 2]);
    const a = new Float64Array(3);
    activate('softmax', z, a, 1, 3);
    const da = new Float64Array([1, 0, -2]);
    const dz = new Float64Array(3);
    activateBackward('softmax', z, a, da, dz, 1, 3);
    // J[i][j] = a_i (δij - a_j); dz_j = Σ_i da_i J[i][j]
    for (let j = 0; j < 3; j++) {
      let s = 0;
      for (let i = 0; i < 3; i++) s += da[i]! * a[i]! * ((i === j ? 1 : 0) - a[j]!);
      expect(dz[j]).toBeCloseTo(s, 14);
    }
  });
});

describe('lossAndDelta', () => {
  const values = (data: number[]): Targets => ({ labels: false, data: Float64Array.from(data) });
  const labels = (data: number[]): Targets => ({ labels: true, data: Int32Array.from(data) });

  it('computes sse as ½ Σ (a - t)² with delta (a - t) f\'(z) (linear: f\' = 1)', () => {
    const a = new Float64Array([1, 2, 3, 5]);
    const dz = new Float64Array(4);
    // errors 1, 2, -1, 1 → ½ (1 + 4 + 1 + 1) = 3.5
    expect(lossAndDelta('sse', 'linear', a, a, values([0, 0, 4, 4]), dz, 2, 2)).toBe(3.5);
    expect(Array.from(dz)).toEqual([1, 2, -1, 1]);
  });

  it('computes mse as Σ (a - t)² / (m·n) with delta 2 (a - t) / (m·n)', () => {
    const a = new Float64Array([1, 2, 3, 5]);
    const dz = new Float64Array(4);
    expect(lossAndDelta('mse', 'linear', a, a, values([0, 0, 4, 4]), dz, 2, 2)).toBe(7 / 4);
    expect(Array.from(dz)).toEqual([0.5, 1, -0.5, 0.5]);
  });

  it('reads class indices as one-hot rows for sse', () => {
    const a = new Float64Array([0.25, 0.75, 0.5, 0.5]);
    const d1 = new Float64Array(4), d2 = new Float64Array(4);
    const l1 = lossAndDelta('sse', 'linear', a, a, labels([1, 0]), d1, 2, 2);
    const l2 = lossAndDelta('sse', 'linear', a, a, values([0, 1, 1, 0]), d2, 2, 2);
    expect(l1).toBe(l2);
    expect(Array.from(d1)).toEqual(Array.from(d2));
  });

  it('computes bce from logits: z = 0 costs log 2, delta (σ(z) - t) / (m·n)', () => {
    const z = new Float64Array([0, 0]);
    const a = new Float64Array([0.5, 0.5]);
    const dz = new Float64Array(2);
    expect(lossAndDelta('bce', 'sigmoid', z, a, values([1, 0]), dz, 1, 2)).toBeCloseTo(Math.LN2, 15);
    expect(Array.from(dz)).toEqual([-0.25, 0.25]);
  });

  it('keeps bce finite and exact for saturated logits (fused with the sigmoid)', () => {
    // z = 40 → σ(z) rounds to 1 in float32; log(1 - a) would be -Inf. The exact loss is 40 + log(1 + e^-40) ≈ 40.
    const z = new Float32Array([40, -40]);
    const a = new Float32Array(2);
    activate('sigmoid', z, a, 1, 2);
    const loss = lossAndDelta('bce', 'sigmoid', z, a, values([0, 1]), new Float32Array(2), 1, 2);
    expect(loss).toBeCloseTo(40, 10);
  });

  it('computes crossEntropy as the mean of -log softmax(z)[label], delta (a - onehot) / m', () => {
    const z = new Float64Array([0, Math.log(3), 2, 2]);
    const a = new Float64Array(4);
    activate('softmax', z, a, 2, 2);
    const dz = new Float64Array(4);
    // row 0: p = [¼, ¾], label 1 → -log ¾;  row 1: p = [½, ½], label 0 → log 2
    const loss = lossAndDelta('crossEntropy', 'softmax', z, a, labels([1, 0]), dz, 2, 2);
    expect(loss).toBeCloseTo((-Math.log(0.75) + Math.LN2) / 2, 15);
    expect(dz[0]).toBeCloseTo(0.125, 15);
    expect(dz[1]).toBeCloseTo(-0.125, 15);
    expect(dz[2]).toBeCloseTo(-0.25, 15);
    expect(dz[3]).toBeCloseTo(0.25, 15);
  });

  it('gives the same crossEntropy for class indices and one-hot rows', () => {
    const z = new Float64Array([0.3, -1.2, 2.5, 0.1, 0.2, 0.3]);
    const a = new Float64Array(6);
    activate('softmax', z, a, 2, 3);
    const d1 = new Float64Array(6), d2 = new Float64Array(6);
    const l1 = lossAndDelta('crossEntropy', 'softmax', z, a, labels([2, 0]), d1, 2, 3);
    const l2 = lossAndDelta('crossEntropy', 'softmax', z, a, values([0, 0, 1, 1, 0, 0]), d2, 2, 3);
    expect(l1).toBeCloseTo(l2, 15);
    d1.forEach((v, i) => expect(v).toBeCloseTo(d2[i]!, 15));
  });

  it('keeps crossEntropy finite for logits of ±1000 (log-softmax, not log of softmax)', () => {
    const z = new Float32Array([1000, -1000]);
    const a = new Float32Array(2);
    activate('softmax', z, a, 1, 2);
    const loss = lossAndDelta('crossEntropy', 'softmax', z, a, labels([1]), new Float32Array(2), 1, 2);
    expect(loss).toBe(2000);
  });
});

// ---------------------------------------------------------------------------------------------
// Gradient check: backpropagation (forwardInto → lossInto → backwardInto) against central finite
// differences (L(p + h) - L(p - h)) / 2h, in float64, for every weight and bias.
//
// Criterion, per parameter: |analytic - numeric| ≤ 1e-6 · max(|analytic|, |numeric|) + 1e-9 · max(1, |L|).
// The first term is the required relative error 1e-6. The second is an absolute floor for gradients
// at or near zero, where a relative error means nothing: the rounding error of the difference
// quotient is about ε·|L|/h ≈ 1e-16·|L|/1e-5 = 1e-11·|L|, so the floor sits ~100× above it, and far
// below the error of a wrong backward. h = 1e-5 balances rounding against the O(h²) truncation
// error; with h = 1e-6 the rounding error alone reaches the floor on these networks.
// ---------------------------------------------------------------------------------------------

const H = 1e-5;
/** Pre-activations of relu / leakyRelu layers closer to 0 than this are kinks: the sample is skipped. */
const KINK_MARGIN = 1e-3;

/**
 * values: regression targets in [-2, 2]; labels: class indices; onehot: rows of 0/1; soft: bce
 * probabilities in [0, 1] or, for crossEntropy, rows that are distributions; weights: crossEntropy
 * rows of non-negative values that do not sum to 1 (the delta is then a·Σt - t).
 */
type TargetKind = 'values' | 'labels' | 'onehot' | 'soft' | 'weights';

interface Case {
  readonly loss: LossName;
  readonly output: Activation;
  readonly targets: TargetKind;
}

const CASES: readonly Case[] = [
  ...(['sse', 'mse'] as const).flatMap((loss) =>
    (['linear', 'sigmoid', 'tanh', 'softmax'] as const).map((output): Case => ({ loss, output, targets: 'values' })),
  ),
  { loss: 'sse', output: 'softmax', targets: 'labels' },
  { loss: 'mse', output: 'softmax', targets: 'onehot' },
  { loss: 'bce', output: 'sigmoid', targets: 'soft' },
  { loss: 'bce', output: 'sigmoid', targets: 'labels' },
  { loss: 'crossEntropy', output: 'softmax', targets: 'labels' },
  { loss: 'crossEntropy', output: 'softmax', targets: 'onehot' },
  { loss: 'crossEntropy', output: 'softmax', targets: 'soft' },
  { loss: 'crossEntropy', output: 'softmax', targets: 'weights' },
];

interface Sample {
  readonly m: number;
  readonly sizes: readonly number[]; // [nin, hidden…, nout]
  readonly values: readonly number[]; // x, then every layer's weights and bias
  readonly raw: readonly number[]; // m × nout in [0, 1]: targets
  readonly classes: readonly number[]; // m class indices
}

const unit = grid(2);
const prob = grid(1).map(Math.abs);

function sampleArb(minOut: number): fc.Arbitrary<Sample> {
  return fc
    .record({
      m: fc.integer({ min: 1, max: 4 }),
      nin: fc.integer({ min: 1, max: 4 }),
      hidden: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 2 }),
      nout: fc.integer({ min: minOut, max: 4 }),
    })
    .chain(({ m, nin, hidden, nout }) => {
      const sizes = [nin, ...hidden, nout];
      let count = m * nin;
      for (let i = 1; i < sizes.length; i++) count += (sizes[i - 1]! + 1) * sizes[i]!;
      return fc.record({
        m: fc.constant(m),
        sizes: fc.constant(sizes),
        values: fc.array(unit, { minLength: count, maxLength: count }),
        raw: fc.array(prob, { minLength: m * nout, maxLength: m * nout }),
        classes: fc.array(fc.nat({ max: nout - 1 }), { minLength: m, maxLength: m }),
      });
    });
}

function build(sample: Sample, hidden: Activation, c: Case): { model: Mlp; x: Float64Array; targets: Targets } {
  const { m, sizes, values, raw, classes } = sample;
  let off = 0;
  const take = (n: number): number[] => values.slice(off, (off += n));
  const x = Float64Array.from(take(m * sizes[0]!));
  const layers = sizes.slice(1).map((nout, i) => ({
    activation: i === sizes.length - 2 ? c.output : hidden,
    weights: tensor(take(sizes[i]! * nout), [sizes[i]!, nout], 'float64'),
    bias: tensor(take(nout), [nout], 'float64'),
  }));
  const model = mlpFromWeights(layers, 'float64');
  const nout = sizes[sizes.length - 1]!;
  let targets: Targets;
  switch (c.targets) {
    case 'labels':
      targets = { labels: true, data: Int32Array.from(classes) };
      break;
    case 'onehot':
      targets = { labels: false, data: Float64Array.from({ length: m * nout }, (_, k) => (classes[Math.floor(k / nout)] === k % nout ? 1 : 0)) };
      break;
    case 'soft': {
      // bce: independent probabilities in [0, 1]; crossEntropy: each row a distribution.
      const t = Float64Array.from(raw);
      if (c.loss === 'crossEntropy') {
        for (let i = 0; i < m; i++) {
          const row = t.subarray(i * nout, (i + 1) * nout);
          const s = row.reduce((acc, v) => acc + v, 0);
          row.forEach((v, j) => (row[j] = s > 0 ? v / s : 1 / nout));
        }
      }
      targets = { labels: false, data: t };
      break;
    }
    case 'weights':
      targets = { labels: false, data: Float64Array.from(raw, (v) => 2 * v) };
      break;
    case 'values':
      targets = { labels: false, data: Float64Array.from(raw, (v) => 4 * v - 2) };
      break;
  }
  return { model, x, targets };
}

function nearKink(model: Mlp, x: Float64Array, m: number): boolean {
  const ws = createWorkspace(model, m);
  forwardInto(model, ws, x, m);
  return model.layers.some(
    (l, i) => (l.activation === 'relu' || l.activation === 'leakyRelu') && ws.z[i]!.subarray(0, m * l.nout).some((v) => Math.abs(v) < KINK_MARGIN),
  );
}

/**
 * Every parameter whose analytic gradient misses the finite-difference one, as readable lines
 * (empty when all pass). `tamper` may change the analytic gradients before the comparison.
 */
function gradientMismatches(model: Mlp, x: Float64Array, targets: Targets, loss: LossName, m: number, tamper?: (ws: Workspace) => void): string[] {
  const ws = createWorkspace(model, m);
  forwardInto(model, ws, x, m);
  const L = lossInto(model, ws, loss, targets, m);
  backwardInto(model, ws, x, m, new Float64Array(model.layers.length));
  tamper?.(ws);

  const probe = createWorkspace(model, m);
  const lossAt = (): number => {
    forwardInto(model, probe, x, m);
    return lossInto(model, probe, loss, targets, m);
  };
  const floor = 1e-9 * Math.max(1, Math.abs(L));
  const mismatches: string[] = [];
  model.layers.forEach((layer, li) => {
    for (const [name, p, g] of [['w', layer.w, ws.dW[li]!], ['b', layer.b, ws.db[li]!]] as const) {
      for (let k = 0; k < p.length; k++) {
        const saved = p[k]!;
        p[k] = saved + H;
        const up = lossAt();
        p[k] = saved - H;
        const down = lossAt();
        p[k] = saved;
        const numeric = (up - down) / (2 * H);
        const analytic = g[k]!;
        if (!(Math.abs(analytic - numeric) <= 1e-6 * Math.max(Math.abs(analytic), Math.abs(numeric)) + floor)) {
          mismatches.push(`layers[${li}].${name}[${k}]: analytic ${analytic}, numeric ${numeric}`);
        }
      }
    }
  });
  return mismatches;
}

describe('backwardInto (gradient check against finite differences)', () => {
  CASES.forEach((c, ci) => {
    HIDDEN.forEach((hidden, hi) => {
      it(`matches finite differences for ${hidden} hidden layers, ${c.output} output, ${c.loss} loss, ${c.targets} targets`, () => {
        fc.assert(
          fc.property(sampleArb(c.output === 'softmax' ? 2 : 1), (sample) => {
            const { model, x, targets } = build(sample, hidden, c);
            fc.pre(!nearKink(model, x, sample.m));
            expect(gradientMismatches(model, x, targets, c.loss, sample.m)).toEqual([]);
          }),
          { seed: 7000 + 10 * ci + hi, numRuns: 25 },
        );
      });
    });
  });

  it('reports a gradient that is off by 0.1% (the check can fail)', () => {
    const model = mlpFromWeights(
      [
        { activation: 'tanh', weights: [[0.5, -0.3]], bias: [0.1, 0.2] },
        { activation: 'linear', weights: [[0.7], [-1.1]], bias: [0.05] },
      ],
      'float64',
    );
    const x = new Float64Array([0.9]);
    const targets: Targets = { labels: false, data: new Float64Array([0.3]) };
    expect(gradientMismatches(model, x, targets, 'sse', 1)).toEqual([]);
    const off = gradientMismatches(model, x, targets, 'sse', 1, (ws) => (ws.dW[0]![1]! *= 1.001));
    expect(off).toHaveLength(1);
    expect(off[0]).toMatch(/^layers\[0\]\.w\[1\]/);
  });
});
