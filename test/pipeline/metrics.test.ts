/**
 * countCorrect: as a property, the count of rows whose predicted class (predictedClass) is the
 * actual one (actualClass), row by row, for class indices and target rows, with ties and NaN; and
 * the WebAssembly kernels' countArgmax, which the trainer uses with them, gives the same count.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countCorrect } from '../../src/index.js';
import { actualClass, predictedClass } from '../../src/pipeline/metrics.js';
import type { Targets } from '../../src/nn/losses.js';
import type { FloatArray } from '../../src/nn/tensor.js';
import { createMemory, instantiate, kernelModule } from '../../src/nn/wasm/module.js';

/** The definition: one row at a time. */
function rowByRow(output: FloatArray, t: Targets, m: number, n: number): number {
  let correct = 0;
  for (let i = 0; i < m; i++) if (predictedClass(output, i, n) === actualClass(t, i, n)) correct++;
  return correct;
}

// few distinct values, so that rows often tie; NaN too
const value = fc.constantFrom(0, 0.25, 0.5, 1, -1, NaN, Infinity);

const cases = fc
  .record({ m: fc.integer({ min: 0, max: 13 }), n: fc.integer({ min: 1, max: 12 }), float64: fc.boolean() })
  .chain(({ m, n, float64 }) =>
    fc.record({
      m: fc.constant(m),
      n: fc.constant(n),
      float64: fc.constant(float64),
      output: fc.array(value, { minLength: m * n, maxLength: m * n }),
      labels: fc.array(fc.nat({ max: n - 1 }), { minLength: m, maxLength: m }),
      rows: fc.array(value, { minLength: m * n, maxLength: m * n }),
    }),
  );

describe('countCorrect', () => {
  it('counts the rows whose predicted class is the actual one, as row by row (class indices and target rows, ties, NaN)', () => {
    fc.assert(
      fc.property(cases, ({ m, n, float64, output, labels, rows }) => {
        const out = float64 ? Float64Array.from(output) : Float32Array.from(output);
        const byLabel: Targets = { labels: true, data: Float32Array.from(labels) };
        const byRow: Targets = { labels: false, data: Float32Array.from(rows) };
        expect(countCorrect(out, byLabel, m, n)).toBe(rowByRow(out, byLabel, m, n));
        expect(countCorrect(out, byRow, m, n)).toBe(rowByRow(out, byRow, m, n));
      }),
      { numRuns: 500 },
    );
  });

  it('takes the first of tied largest outputs, and a row that starts with NaN predicts class 0', () => {
    const out = Float32Array.of(1, 3, 3, /* */ NaN, 5, 6, /* */ 2, NaN, 1);
    expect(countCorrect(out, { labels: true, data: Float32Array.of(1, 0, 0) }, 3, 3)).toBe(3);
    expect(countCorrect(out, { labels: true, data: Float32Array.of(2, 2, 1) }, 3, 3)).toBe(0);
  });

  it.skipIf(kernelModule() === undefined)('the wasm kernels count class indices the same (countArgmax, four rows a lane: ties, NaN, ±Infinity, 0 to 13 rows, one to many columns)', () => {
    const memory = createMemory(1 << 16);
    const k = instantiate(kernelModule()!, memory);
    const A = 1024, L = 32768;
    fc.assert(
      fc.property(cases, ({ m, n, output, labels }) => {
        fc.pre(n > 1); // one output is a threshold (a > 0.5), not an argmax: the trainer counts it in JS
        new Float32Array(memory.buffer, A, m * n).set(output);
        new Int32Array(memory.buffer, L, m).set(labels);
        const out = Float32Array.from(output);
        expect(k.countArgmax(A, L, m, n)).toBe(countCorrect(out, { labels: true, data: Float32Array.from(labels) }, m, n));
      }),
      { numRuns: 500 },
    );
  });
});
