/**
 * The step on the WebAssembly kernels (src/nn/wasm/stepper.ts) against the step on the TypeScript
 * kernels, its reference: the same model, state and batches, every activation, loss and optimizer,
 * within float32 tolerance; the same bits run to run and on one thread or two; the model and state
 * resident in WebAssembly memory; the fallback where the kernels cannot run.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  adam, adamw, cloneModel, countCorrect, createStepper, mlp, rng, sgd, step,
  type Activation, type LossName, type Mlp, type Optimizer, type StepConfig, type Stepper, type Targets,
} from '../../src/index.js';
import { cloneOptimizerState, newOptimizerState, resolveKernels } from '../../src/nn/step.js';
import { expectSameModel, expectSameState } from '../helpers/bits.js';
import { accuracy, loadDigits, trainDigits } from '../helpers/digits.js';

const WASM = resolveKernels({ dtype: 'float32', inputSize: 1, layers: [] }, 'auto') === 'wasm';

interface Case {
  readonly sizes: readonly number[];
  readonly hidden: Activation;
  readonly output: Activation;
  readonly loss: LossName;
  readonly optimizer: Optimizer;
  readonly clipNorm?: number;
  readonly labels: boolean;
}

function batchFor(c: Case, m: number, seed: number): { x: Float32Array; targets: Targets } {
  const r = rng(seed);
  const nin = c.sizes[0]!, nout = c.sizes[c.sizes.length - 1]!;
  const x = Float32Array.from({ length: m * nin }, () => r.normal());
  if (c.labels) return { x, targets: { labels: true, data: Int32Array.from({ length: m }, () => r.int(nout)) } };
  const y = new Float32Array(m * nout);
  for (let i = 0; i < m; i++) {
    if (c.loss === 'crossEntropy') {
      // soft targets: a distribution per row
      let s = 0;
      for (let j = 0; j < nout; j++) s += y[i * nout + j] = r.uniform();
      for (let j = 0; j < nout; j++) y[i * nout + j]! /= s;
    } else for (let j = 0; j < nout; j++) y[i * nout + j] = c.loss === 'bce' ? (r.uniform() < 0.5 ? 0 : 1) : r.normal();
  }
  return { x, targets: { labels: false, data: y } };
}

function modelFor(c: Case, seed: number): Mlp {
  return mlp({
    inputSize: c.sizes[0]!,
    layers: c.sizes.slice(1).map((units, i) => ({ units, activation: i === c.sizes.length - 2 ? c.output : c.hidden })),
    seed,
    biasInit: 'normal',
  });
}

/** |a − b| ≤ atol + rtol·|b| everywhere; the message names the first element that is not. */
function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, rtol: number, atol: number, what: string): void {
  expect(a.length, what).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= atol + rtol * Math.abs(b[i]!))) expect.fail(`${what}[${i}]: wasm ${a[i]} vs js ${b[i]} (difference ${d})`);
  }
}

const CASES: readonly Case[] = [
  { sizes: [64, 64, 10], hidden: 'sigmoid', output: 'softmax', loss: 'crossEntropy', optimizer: sgd({ lr: 0.5 }), labels: true },
  { sizes: [13, 37, 21, 5], hidden: 'tanh', output: 'softmax', loss: 'crossEntropy', optimizer: sgd({ lr: 0.1, momentum: 0.9, nesterov: true }), labels: false },
  { sizes: [9, 17, 3], hidden: 'relu', output: 'sigmoid', loss: 'bce', optimizer: adam({ lr: 0.01 }), labels: false },
  { sizes: [7, 33, 12, 1], hidden: 'leakyRelu', output: 'linear', loss: 'mse', optimizer: adamw({ lr: 0.01, weightDecay: 0.1 }), clipNorm: 0.5, labels: false },
  { sizes: [3, 4, 1], hidden: 'sigmoid', output: 'sigmoid', loss: 'sse', optimizer: sgd({ lr: 1 }), labels: false },
  { sizes: [20, 8, 6], hidden: 'linear', output: 'softmax', loss: 'sse', optimizer: sgd({ lr: 0.05, momentum: 0.5, dampening: 0.1, weightDecay: 0.01 }), labels: true },
  { sizes: [70, 66, 10], hidden: 'relu', output: 'softmax', loss: 'crossEntropy', optimizer: sgd({ lr: 0.1 }), clipNorm: 1, labels: true },
];

describe.skipIf(!WASM)('createStepper with kernels "wasm"', () => {
  const opened: Stepper[] = [];
  afterEach(() => {
    for (const s of opened.splice(0)) s.close();
  });
  const stepperOf = (model: Mlp, config: StepConfig, kernels: 'wasm' | 'js', rows: number, threads = 1): Stepper => {
    const s = createStepper(model, config, undefined, rows, { kernels, threads });
    opened.push(s);
    return s;
  };

  for (const [n, c] of CASES.entries()) {
    it(`case ${n}: ${c.sizes.join('-')} ${c.hidden}/${c.output} ${c.loss} ${c.optimizer.kind}: each step's loss, norms and weights equal the reference within float32 tolerance`, () => {
      const config: StepConfig = { loss: c.loss, optimizer: c.optimizer, ...(c.clipNorm === undefined ? {} : { clipNorm: c.clipNorm }) };
      const js = stepperOf(modelFor(c, n), config, 'js', 8);
      const wasm = stepperOf(modelFor(c, n), config, 'wasm', 8);
      expect([js.kernels, wasm.kernels]).toEqual(['js', 'wasm']);
      for (let s = 0; s < 3; s++) {
        // batch sizes not multiples of 4 or 8 too (and growing past the workspace's 8 rows)
        const m = [8, 5, 13][s]!;
        const { x, targets } = batchFor(c, m, 100 * n + s);
        // one step from the same weights: the reference's copy starts where the wasm model is
        js.model.layers.forEach((l, i) => {
          l.w.set(wasm.model.layers[i]!.w);
          l.b.set(wasm.model.layers[i]!.b);
        });
        js.state.t = wasm.state.t;
        js.state.hasMomentum = wasm.state.hasMomentum;
        js.state.buffers.forEach((bs, i) => bs.forEach((b, j) => b.set(wasm.state.buffers[i]![j]!)));
        const a = { ...wasm.step(x, targets, m) }, aNorms = a.gradNorms.slice();
        const b = js.step(x, targets, m);
        expect(a.applied).toBe(true);
        expect(a.lr).toBe(b.lr);
        expectClose([a.loss], [b.loss], 1e-5, 1e-6, `step ${s} loss`);
        expectClose(aNorms, b.gradNorms, 1e-4, 1e-6, `step ${s} gradNorms`);
        wasm.model.layers.forEach((l, i) => {
          expectClose(l.w, js.model.layers[i]!.w, 1e-4, 1e-5, `step ${s} layers[${i}].w`);
          expectClose(l.b, js.model.layers[i]!.b, 1e-4, 1e-5, `step ${s} layers[${i}].b`);
        });
        wasm.state.buffers.forEach((bs, i) => bs.forEach((buf, j) => expectClose(buf, js.state.buffers[i]![j]!, 1e-3, 1e-5, `step ${s} state[${i}][${j}]`)));
        expectClose(wasm.workspace.dW[0]!, js.workspace.dW[0]!, 1e-4, 1e-5, `step ${s} dW[0]`);
        expectClose(wasm.forward(x, m).subarray(0, m * c.sizes.at(-1)!), js.forward(x, m).subarray(0, m * c.sizes.at(-1)!), 1e-4, 1e-6, `step ${s} forward`);
      }
    });
  }

  it('trains the model in place: its layers become views on WebAssembly memory, with the same values', () => {
    const model = modelFor(CASES[1]!, 1);
    const before = cloneModel(model);
    const s = stepperOf(model, { loss: 'crossEntropy', optimizer: CASES[1]!.optimizer }, 'wasm', 4);
    expect(s.model).toBe(model);
    expectSameModel(model, before);
    for (const l of model.layers) expect(l.w.buffer).toBeInstanceOf(SharedArrayBuffer);
    const { x, targets } = batchFor(CASES[1]!, 4, 9);
    s.step(x, targets, 4);
    expect(model.layers[0]!.w).not.toEqual(before.layers[0]!.w);
  });

  it('adopts a given optimizer state: its buffers become views too, and stepping updates them', () => {
    const c = CASES[1]!;
    const model = modelFor(c, 2);
    const state = newOptimizerState(model, c.optimizer);
    const s = createStepper(model, { loss: c.loss, optimizer: c.optimizer }, state, 4, { kernels: 'wasm', threads: 1 });
    opened.push(s);
    expect(s.state).toBe(state);
    expect(state.buffers[0]![0]!.buffer).toBeInstanceOf(SharedArrayBuffer);
    const { x, targets } = batchFor(c, 4, 3);
    s.step(x, targets, 4);
    expect(state.t).toBe(1);
    expect(state.hasMomentum).toBe(true);
    expect(state.buffers[0]![0]!.some((v) => v !== 0)).toBe(true);
  });

  it('gives the same bits run to run, and on one thread or two (the products split between threads)', () => {
    // W3's shape: every product is large enough to split
    const c: Case = { sizes: [784, 256, 10], hidden: 'relu', output: 'softmax', loss: 'crossEntropy', optimizer: sgd({ lr: 0.01, momentum: 0.9 }), labels: true };
    const runs = [1, 1, 2].map((threads) => {
      const s = stepperOf(modelFor(c, 5), { loss: c.loss, optimizer: c.optimizer }, 'wasm', 64, threads);
      const losses: number[] = [];
      for (let k = 0; k < 4; k++) {
        const { x, targets } = batchFor(c, 64, 40 + k);
        losses.push(s.step(x, targets, 64).loss);
      }
      return { s, losses };
    });
    expect(runs[2]!.s.threads).toBe(2);
    for (const r of runs.slice(1)) {
      expect(r.losses).toEqual(runs[0]!.losses);
      expectSameModel(r.s.model, runs[0]!.s.model);
      expectSameState(r.s.state, runs[0]!.s.state);
    }
  });

  it('skips a batch whose loss or gradients are not finite, as the reference does, and leaves the model untouched', () => {
    const c = CASES[0]!;
    for (const [bad, reason] of [[NaN, 'non-finite loss'], [Infinity, 'non-finite gradients']] as const) {
      const wasm = stepperOf(modelFor(c, 3), { loss: c.loss, optimizer: c.optimizer }, 'wasm', 4);
      const js = stepperOf(modelFor(c, 3), { loss: c.loss, optimizer: c.optimizer }, 'js', 4);
      const before = cloneModel(wasm.model);
      const { x, targets } = batchFor(c, 4, 1);
      x[5] = bad;
      const a = wasm.step(x, targets, 4), b = js.step(x, targets, 4);
      expect([a.applied, a.skipReason]).toEqual([false, reason]);
      expect([b.applied, b.skipReason]).toEqual([false, reason]);
      expectSameModel(wasm.model, before);
    }
  });

  it('the pure step() with kernels "wasm" equals a stepper\'s first step bit for bit, and leaves its inputs alone', () => {
    const c = CASES[2]!;
    const model = modelFor(c, 4);
    const state = newOptimizerState(model, c.optimizer);
    const { x, targets } = batchFor(c, 6, 2);
    const config: StepConfig = { loss: c.loss, optimizer: c.optimizer };
    const r = step(model, state, { x: { dtype: 'float32', shape: [6, 9], data: x }, y: { dtype: 'float32', shape: [6, 3], data: targets.data as Float32Array } }, config, { kernels: 'wasm' });
    expect(model.layers[0]!.w.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    const s = stepperOf(cloneModel(model), config, 'wasm', 6);
    s.step(x, targets, 6);
    expectSameModel(r.model, s.model);
    expectSameState(r.state, cloneOptimizerState(s.state));
  });

  it('pure steps, which share one memory on a thread, chain bit for bit as a stepper\'s steps, across models of other shapes, and keep their results', () => {
    // three cases taking turns (different shapes, optimizers and state), each chained 4 steps through step()
    const cases = [CASES[2]!, CASES[0]!, CASES[CASES.length - 1]!];
    const chains = cases.map((c, n) => {
      const config: StepConfig = { loss: c.loss, optimizer: c.optimizer, ...(c.clipNorm === undefined ? {} : { clipNorm: c.clipNorm }) };
      const model = modelFor(c, 40 + n);
      return { c, config, model, state: newOptimizerState(model, c.optimizer), stepper: stepperOf(cloneModel(model), config, 'wasm', 8), results: [] as { model: Mlp; copy: Mlp }[] };
    });
    for (let s = 0; s < 4; s++) {
      for (const [n, ch] of chains.entries()) {
        const m = [7, 13, 3, 8][s]!;
        const { x, targets } = batchFor(ch.c, m, 500 + 10 * n + s);
        const nout = ch.c.sizes[ch.c.sizes.length - 1]!;
        const y = targets.labels ? Float32Array.from(targets.data) : (targets.data as Float32Array);
        const r = step(ch.model, ch.state, { x: { dtype: 'float32', shape: [m, ch.c.sizes[0]!], data: x }, y: { dtype: 'float32', shape: targets.labels ? [m] : [m, nout], data: y } }, ch.config, { kernels: 'wasm' });
        const info = { ...ch.stepper.step(x, targets, m) };
        expect(r.info.loss).toBe(info.loss);
        expectSameModel(r.model, ch.stepper.model);
        expectSameState(r.state, cloneOptimizerState(ch.stepper.state));
        // the result owns its arrays: no view on the memory the next pure step reuses
        for (const l of r.model.layers) expect([l.w.buffer, l.b.buffer].some((b) => b instanceof SharedArrayBuffer)).toBe(false);
        for (const bs of r.state.buffers) for (const b of bs) expect(b.buffer).not.toBeInstanceOf(SharedArrayBuffer);
        ch.results.push({ model: r.model, copy: cloneModel(r.model) });
        ch.model = r.model;
        ch.state = r.state;
      }
    }
    // every earlier result is still what it was when it came (the later steps, in the same memory, did not touch it)
    for (const ch of chains) for (const r of ch.results) expectSameModel(r.model, r.copy);
    const ch = chains[0]!;
    const replay = stepperOf(cloneModel(modelFor(ch.c, 40)), ch.config, 'wasm', 8);
    for (let s = 0; s < 4; s++) {
      const m = [7, 13, 3, 8][s]!;
      const { x, targets } = batchFor(ch.c, m, 500 + s);
      replay.step(x, targets, m);
      expectSameModel(ch.results[s]!.model, replay.model);
    }
  });

  it('W2 (digits, 64-64-10, sgd 0.5, 20 epochs) reaches the accuracy the reference kernels reach', () => {
    const data = loadDigits();
    const [wasm, js] = (['wasm', 'js'] as const).map((kernels) => accuracy(trainDigits(data, 7, 20, kernels), data));
    expect(wasm).toBeGreaterThan(0.95);
    expect(Math.abs(wasm! - js!)).toBeLessThan(0.01);
  });

  it('counts the rows its output classifies right after a step on class indices (as countCorrect does), and says it cannot otherwise', () => {
    const c = CASES[0]!;
    const wasm = stepperOf(modelFor(c, 8), { loss: c.loss, optimizer: c.optimizer }, 'wasm', 16);
    const js = stepperOf(modelFor(c, 8), { loss: c.loss, optimizer: c.optimizer }, 'js', 16);
    const { x, targets } = batchFor(c, 13, 4);
    wasm.step(x, targets, 13);
    js.step(x, targets, 13);
    expect(wasm.correctLabels(13)).toBe(countCorrect(wasm.workspace.a[1]!, targets, 13, 10));
    expect(js.correctLabels(13)).toBeUndefined();
    // only for the rows of the step just taken, and not once a forward pass has overwritten its output
    expect(wasm.correctLabels(12)).toBeUndefined();
    wasm.forward(x, 13);
    expect(wasm.correctLabels(13)).toBeUndefined();
    const soft = CASES[1]!; // cross-entropy against target rows: no class indices to count against
    const s = stepperOf(modelFor(soft, 8), { loss: soft.loss, optimizer: soft.optimizer }, 'wasm', 4);
    const b = batchFor(soft, 4, 5);
    s.step(b.x, b.targets, 4);
    expect(s.correctLabels(4)).toBeUndefined();
  });

  it('grows its per-row buffers by half at least: batches of 1, 2, 3, … 400 rows take memory in proportion to the last, and the same bits as a stepper made for 400', () => {
    const c = CASES[2]!;
    const config: StepConfig = { loss: c.loss, optimizer: c.optimizer };
    const growing = stepperOf(modelFor(c, 9), config, 'wasm', 1);
    const sized = stepperOf(modelFor(c, 9), config, 'wasm', 400);
    for (let m = 1; m <= 400; m++) {
      const { x, targets } = batchFor(c, m, 7000 + m);
      growing.step(x, targets, m);
      sized.step(x, targets, m);
    }
    expectSameModel(growing.model, sized.model);
    // (the latest view's buffer is the memory as it is now) a row here is 9 + 3 + 3·(17 + 3) = 72 floats:
    // grown a row at a time, 1 + 2 + … + 400 rows would take 23 MB; 400 rows take 115 KB
    const bytes = growing.workspace.z[0]!.buffer.byteLength;
    expect(bytes).toBeLessThan(2 * 2 ** 20);
    // room for fewer rows than the grown buffers hold: the same view from call to call (the trainer asks every step)
    const room = growing.input(32);
    expect(room.length).toBe(32 * 9);
    expect(growing.input(32)).toBe(room);
    expect(growing.input(400).length).toBe(400 * 9);
  });

  it('refuses with E_KERNELS a model and batch that cannot fit in 4 GiB of WebAssembly memory, naming what to do', () => {
    const big = mlp({ inputSize: 4096, layers: [{ units: 4096, activation: 'relu' }, { units: 10, activation: 'softmax' }] });
    let err: unknown;
    try {
      createStepper(big, { loss: 'crossEntropy', optimizer: sgd({ lr: 0.1 }) }, undefined, 65536, { kernels: 'wasm', threads: 1 });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'E_KERNELS', message: expect.stringMatching(/fit in the wasm kernels' 4\.00 GiB of memory, got 4\.\d\d GiB needed: use smaller batches, or kernels "js"/) });
  });

  it('a closed stepper stops its worker and still steps, on one thread, to the same bits', () => {
    const c: Case = { sizes: [784, 256, 10], hidden: 'relu', output: 'softmax', loss: 'crossEntropy', optimizer: sgd({ lr: 0.01 }), labels: true };
    const two = stepperOf(modelFor(c, 6), { loss: c.loss, optimizer: c.optimizer }, 'wasm', 64, 2);
    const one = stepperOf(modelFor(c, 6), { loss: c.loss, optimizer: c.optimizer }, 'wasm', 64, 1);
    for (let k = 0; k < 3; k++) {
      const { x, targets } = batchFor(c, 64, 70 + k);
      if (k === 1) two.close();
      two.step(x, targets, 64);
      one.step(x, targets, 64);
    }
    expectSameModel(two.model, one.model);
  });
});

describe('kernel choice', () => {
  it('auto is wasm for float32 where the kernels run, and js for float64; wasm for float64 is a TypeError', () => {
    const f64 = mlp({ inputSize: 2, layers: [{ units: 1, activation: 'sigmoid' }], dtype: 'float64' });
    expect(resolveKernels(f64, 'auto')).toBe('js');
    expect(() => resolveKernels(f64, 'wasm')).toThrow(/float32 model/);
    expect(() => resolveKernels(f64, 'fast' as 'js')).toThrow(/Expected kernels "auto", "wasm" or "js", got "fast"/);
    const s = createStepper(f64, { loss: 'sse', optimizer: sgd({ lr: 1 }) });
    expect([s.kernels, s.threads]).toEqual(['js', 1]);
    expect(() => createStepper(f64, { loss: 'sse', optimizer: sgd({ lr: 1 }) }, undefined, 1, { threads: 3 })).toThrow(/Expected threads to be 1 or 2, got 3/);
  });

  describe('where WebAssembly SIMD or shared memory is missing', () => {
    afterEach(() => {
      vi.unstubAllGlobals();
      vi.resetModules();
    });
    for (const [what, stub] of [
      ['no SharedArrayBuffer (a page that is not cross-origin isolated)', () => vi.stubGlobal('SharedArrayBuffer', undefined)],
      ['a runtime that does not validate SIMD128', () => vi.stubGlobal('WebAssembly', { ...WebAssembly, validate: () => false })],
    ] as const) {
      it(`falls back to js with ${what}, and refuses an explicit wasm with E_KERNELS`, async () => {
        vi.resetModules();
        stub();
        const lib = await import('../../src/index.js');
        const model = lib.mlp({ inputSize: 3, layers: [{ units: 4, activation: 'sigmoid' }, { units: 1, activation: 'sigmoid' }] });
        const s = lib.createStepper(model, { loss: 'sse', optimizer: lib.sgd({ lr: 1 }) });
        expect(s.kernels).toBe('js');
        expect(model.layers[0]!.w.buffer).not.toBeInstanceOf(globalThis.SharedArrayBuffer ?? class {});
        let code: string | undefined;
        try {
          lib.createStepper(model, { loss: 'sse', optimizer: lib.sgd({ lr: 1 }) }, undefined, 1, { kernels: 'wasm' });
        } catch (e) {
          code = (e as { code?: string }).code;
        }
        expect(code).toBe('E_KERNELS');
      });
    }
  });
});
