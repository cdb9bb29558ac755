/**
 * Serialisation: decode(encode(m)) = m bit for bit for the JSON and binary model forms and the
 * optimizer state, training resumed from them matches uninterrupted training, and malformed
 * input is a LivegradError E_BAD_MODEL / E_BAD_STATE.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  LivegradError,
  adam,
  adamw,
  cosineLR,
  createStepper,
  floatsFromBytes,
  floatsToBytes,
  mlp,
  mlpFromWeights,
  modelFromBinary,
  modelFromJSON,
  modelToBinary,
  modelToJSON,
  newOptimizerState,
  optimizerStateFromJSON,
  optimizerStateToJSON,
  rng,
  sgd,
  tensor,
  type Activation,
  type DType,
  type Mlp,
  type MlpJSON,
  type Optimizer,
  type StepConfig,
  type Targets,
} from '../../src/index.js';
import { expectSameModel, expectSameState } from '../helpers/bits.js';

const HIDDEN: readonly Activation[] = ['sigmoid', 'tanh', 'relu', 'leakyRelu', 'linear'];

/**
 * Random models with arbitrary finite weights: every float64 (subnormals and ±1.8e308 included) or
 * every float32. `negativeZero: false` turns -0 into 0, for JSON text, which has no -0 (see below).
 */
function modelArb(negativeZero: boolean): fc.Arbitrary<Mlp> {
  return fc
    .record({
      dtype: fc.constantFrom<DType>('float32', 'float64'),
      sizes: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 2, maxLength: 4 }),
      hidden: fc.constantFrom(...HIDDEN),
      output: fc.constantFrom<Activation>(...HIDDEN, 'softmax'),
    })
    .chain(({ dtype, sizes, hidden, output }) => {
      const value = (dtype === 'float64' ? fc.double({ noNaN: true, noDefaultInfinity: true }) : fc.float({ noNaN: true, noDefaultInfinity: true })).map((v) =>
        negativeZero || !Object.is(v, -0) ? v : 0,
      );
      const layers = sizes.slice(1).map((nout, i) =>
        fc.record({
          activation: fc.constant(i === sizes.length - 2 ? output : hidden),
          weights: fc.array(value, { minLength: sizes[i]! * nout, maxLength: sizes[i]! * nout }).map((w) => tensor(w, [sizes[i]!, nout], dtype)),
          bias: fc.array(value, { minLength: nout, maxLength: nout }).map((b) => tensor(b, [nout], dtype)),
        }),
      );
      return fc.tuple(...layers).map((ls) => mlpFromWeights(ls, dtype));
    });
}

function expectCode(f: () => unknown, code: 'E_BAD_MODEL' | 'E_BAD_STATE', message?: RegExp): void {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected a LivegradError').toBeInstanceOf(LivegradError);
  expect((caught as LivegradError).code).toBe(code);
  expect((caught as LivegradError).message).toMatch(message ?? /Expected /);
}

describe('modelToJSON / modelFromJSON', () => {
  it('writes the documented format', () => {
    const model = mlpFromWeights([{ activation: 'sigmoid', weights: [[0.5, -1], [2, 0]], bias: [0.25, 0] }], 'float64');
    expect(modelToJSON(model)).toEqual({
      format: 'livegrad-mlp',
      version: 1,
      dtype: 'float64',
      inputSize: 2,
      layers: [{ units: 2, activation: 'sigmoid', weights: [[0.5, -1], [2, 0]], bias: [0.25, 0] }],
    });
  });

  it('round-trips any model bit for bit (object form, -0 included)', () => {
    fc.assert(
      fc.property(modelArb(true), (model) => expectSameModel(modelFromJSON(modelToJSON(model)), model)),
      { seed: 2024, numRuns: 150 },
    );
  });

  it('round-trips any model bit for bit through JSON.stringify / JSON.parse and from text', () => {
    fc.assert(
      fc.property(modelArb(false), (model) => {
        const text = JSON.stringify(modelToJSON(model));
        expectSameModel(modelFromJSON(JSON.parse(text) as MlpJSON), model);
        expectSameModel(modelFromJSON(text), model);
      }),
      { seed: 2025, numRuns: 150 },
    );
  });

  it('turns -0 into 0 in JSON text (JSON.stringify writes -0 as 0); the binary form keeps it', () => {
    const model = mlpFromWeights([{ activation: 'linear', weights: [[-0]], bias: [0] }], 'float64');
    expect(Object.is(modelFromJSON(JSON.stringify(modelToJSON(model))).layers[0]!.w[0], 0)).toBe(true);
    expect(Object.is(modelFromBinary(modelToBinary(model)).layers[0]!.w[0], -0)).toBe(true);
  });

  it('rejects malformed models with E_BAD_MODEL', () => {
    const good = modelToJSON(mlpFromWeights([{ activation: 'tanh', weights: [[1, 2], [3, 4]], bias: [0, 1] }, { activation: 'linear', weights: [[1], [2]], bias: [0] }], 'float32'));
    const layer0 = good.layers[0]!;
    const withLayer0 = (patch: Record<string, unknown>): unknown => ({ ...good, layers: [{ ...layer0, ...patch }, good.layers[1]] });
    const cases: [unknown, RegExp?][] = [
      ['{"format":', /^Expected model JSON, got unparsable text/],
      [null, /^Expected format "livegrad-mlp", got undefined$/],
      [{ ...good, format: 'onnx' }, /^Expected format "livegrad-mlp", got "onnx"$/],
      [{ ...good, version: 2 }, /^Expected model format version 1, got 2$/],
      [{ ...good, dtype: 'int8' }, /^Expected dtype "float32" or "float64", got "int8"$/],
      [{ ...good, layers: [] }, /^Expected a non-empty layers array, got an array of length 0$/],
      [{ ...good, layers: 'none' }],
      [{ ...good, layers: [null] }],
      [withLayer0({ activation: 'gelu' }), /^Expected layers\[0\]\.activation to be an activation name, got "gelu"$/],
      [withLayer0({ weights: undefined }), /^Expected layers\[0\] to have weights and bias arrays$/],
      [withLayer0({ weights: [[1, 2], [3]] }), /Expected every row to have 2 values, got an array of length 1 at row 1/],
      [withLayer0({ weights: [[1, 2], 3] }), /^Expected layers\[0\]\.weights\[1\] to be an array, got 3$/],
      [withLayer0({ weights: [[1, null], [3, 4]] }), /^Expected layers\[0\]\.weights\[0\]\[1\] to be a number, got null$/],
      [withLayer0({ weights: [[1, '2'], [3, 4]] }), /^Expected layers\[0\]\.weights\[0\]\[1\] to be a number, got "2"$/],
      [withLayer0({ bias: [0, true] }), /^Expected layers\[0\]\.bias\[1\] to be a number, got true$/],
      [withLayer0({ bias: [0, [1]] }), /^Expected layers\[0\]\.bias\[1\] to be a number, got an array of length 1$/],
      [withLayer0({ bias: [0] }), /Expected layers\[0\]\.bias to have 2 values, got 1/],
      [withLayer0({ weights: [[1, 2, 3], [4, 5, 6]], bias: [0, 0, 0], units: 3 }), /Expected layers\[1\]\.weights to have 3 rows \(the previous layer's units\), got 2/],
      [withLayer0({ weights: [[]], bias: [] })],
      [withLayer0({ weights: [[1, NaN], [3, 4]] }), /Expected finite weights in layers\[0\], got NaN/],
      [{ ...good, inputSize: 3 }, /^Expected inputSize 2 \(rows of layers\[0\]\.weights\), got 3$/],
      [withLayer0({ units: 3 }), /^Expected layers\[0\]\.units 2, got 3$/],
    ];
    for (const [input, message] of cases) expectCode(() => modelFromJSON(input as MlpJSON), 'E_BAD_MODEL', message);
  });

  it('keeps the underlying error as the cause', () => {
    const bad = { ...modelToJSON(mlp({ inputSize: 1, layers: [{ units: 1, activation: 'linear' }] })), inputSize: 1 };
    let caught: unknown;
    try {
      modelFromJSON({ ...bad, layers: [{ ...bad.layers[0]!, bias: [1, 2] }] });
    } catch (e) {
      caught = e;
    }
    expect((caught as LivegradError).cause).toBeInstanceOf(RangeError);
  });
});

describe('modelToBinary / modelFromBinary', () => {
  it('round-trips any model bit for bit, in float32 and float64', () => {
    fc.assert(
      fc.property(modelArb(true), (model) => expectSameModel(modelFromBinary(modelToBinary(model)), model)),
      { seed: 2026, numRuns: 150 },
    );
  });

  it('writes "LGM1", the header length, the JSON header, padding to 8, then little-endian weights and biases', () => {
    const model = mlpFromWeights([{ activation: 'relu', weights: [[1.5], [-2]], bias: [0.25] }], 'float32');
    const bytes = modelToBinary(model);
    expect(Array.from(bytes.subarray(0, 4))).toEqual([0x4c, 0x47, 0x4d, 0x31]);
    const h = new DataView(bytes.buffer, bytes.byteOffset).getUint32(4, true);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + h))) as unknown;
    expect(header).toEqual({ format: 'livegrad-mlp', version: 1, dtype: 'float32', inputSize: 2, layers: [{ units: 1, activation: 'relu' }] });
    const start = Math.ceil((8 + h) / 8) * 8;
    expect(bytes.length).toBe(start + 3 * 4);
    expect(Array.from(bytes.subarray(8 + h, start)).every((b) => b === 0)).toBe(true);
    const view = new DataView(bytes.buffer, bytes.byteOffset + start);
    expect([view.getFloat32(0, true), view.getFloat32(4, true), view.getFloat32(8, true)]).toEqual([1.5, -2, 0.25]);
  });

  it('reads a model from a view at any byte offset', () => {
    const model = mlp({ inputSize: 3, layers: [{ units: 2, activation: 'tanh' }], dtype: 'float64', seed: 3 });
    const bytes = modelToBinary(model);
    const host = new Uint8Array(bytes.length + 5);
    host.set(bytes, 3);
    expectSameModel(modelFromBinary(host.subarray(3, 3 + bytes.length)), model);
  });

  it('rejects malformed bytes with E_BAD_MODEL', () => {
    const model = mlpFromWeights([{ activation: 'linear', weights: [[1, 2]], bias: [3, 4] }], 'float64');
    const good = modelToBinary(model);
    const withHeader = (header: unknown): Uint8Array => {
      const h = new TextEncoder().encode(JSON.stringify(header));
      const start = Math.ceil((8 + h.length) / 8) * 8;
      const out = new Uint8Array(start + 4 * 8);
      out.set([0x4c, 0x47, 0x4d, 0x31]);
      new DataView(out.buffer).setUint32(4, h.length, true);
      out.set(h, 8);
      return out;
    };
    const header = { format: 'livegrad-mlp', version: 1, dtype: 'float64', inputSize: 1, layers: [{ units: 2, activation: 'linear' }] };
    const nan = good.slice();
    new DataView(nan.buffer).setFloat64(nan.length - 8, NaN, true);
    const badJson = good.slice();
    badJson[8] = 0x7b + 1;
    const cases: [Uint8Array, RegExp?][] = [
      [new Uint8Array(0), /^Expected binary model starting with "LGM1"/],
      [new TextEncoder().encode('PK\u0003\u0004zipfile'), /^Expected binary model starting with "LGM1"/],
      [good.subarray(0, 12), /^Expected a \d+-byte header, got only 4 bytes after the magic$/],
      [badJson, /^Expected a JSON header in binary model/],
      [withHeader({ ...header, dtype: 'bf16' }), /^Expected dtype "float32" or "float64", got "bf16"$/],
      [withHeader({ ...header, layers: [] })],
      [withHeader({ ...header, inputSize: 0 }), /^Expected a positive integer inputSize, got 0$/],
      [withHeader({ ...header, layers: [{ units: -2, activation: 'linear' }] }), /^Expected layers\[0\]\.units to be a positive integer, got -2$/],
      [withHeader({ ...header, layers: [{ units: 2, activation: 'elu' }] }), /^Expected layers\[0\]\.activation to be an activation name, got "elu"$/],
      [good.subarray(0, good.length - 1), /^Expected 16 more bytes for layers\[0\], got 15$/],
      [Uint8Array.from([...good, 0, 0, 0, 0, 0, 0, 0, 0]), /^Expected \d+ bytes in binary model, got \d+$/],
      [nan, /Expected finite weights in layers\[0\], got NaN/],
    ];
    expect(modelFromBinary(withHeader(header)).layers[0]!.nout).toBe(2);
    for (const [bytes, message] of cases) expectCode(() => modelFromBinary(bytes), 'E_BAD_MODEL', message);
  });
});

describe('floatsToBytes / floatsFromBytes', () => {
  it('write and read little-endian IEEE 754', () => {
    expect(Array.from(floatsToBytes(new Float32Array([1, -2])))).toEqual([0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0]);
    expect(Array.from(floatsToBytes(new Float64Array([1])))).toEqual([0, 0, 0, 0, 0, 0, 0xf0, 0x3f]);
    expect(Array.from(floatsFromBytes('float32', Uint8Array.from([0, 0, 0x80, 0x3f])))).toEqual([1]);
    expect(Array.from(floatsFromBytes('float64', new Uint8Array(9).subarray(1)))).toEqual([0]);
  });

  it('reads a Node Buffer that is a view at an offset into a larger pool (as a decoded message gives it)', () => {
    const pool = Buffer.alloc(64, 0xff);
    Buffer.from(floatsToBytes(new Float32Array([1.5, -2.25]))).copy(pool, 13);
    const view = pool.subarray(13, 21);
    expect(Array.from(floatsFromBytes('float32', view))).toEqual([1.5, -2.25]);
  });

  it('rejects a byte count that is not a multiple of the width (RangeError)', () => {
    expect(() => floatsFromBytes('float64', new Uint8Array(12))).toThrow(new RangeError('Expected a multiple of 8 bytes for float64, got 12'));
  });
});

/** A model, its stepper config and a fixed stream of 10 batches of 5 samples. */
function trainingSetup(dtype: DType, optimizer: Optimizer): { make: () => Mlp; config: StepConfig; batches: { x: Float32Array | Float64Array; targets: Targets }[] } {
  const make = (): Mlp => mlp({ inputSize: 4, layers: [{ units: 6, activation: 'tanh' }, { units: 3, activation: 'softmax' }], dtype, seed: 21 });
  const r = rng(77);
  const batches = Array.from({ length: 10 }, () => {
    const x = dtype === 'float64' ? new Float64Array(20) : new Float32Array(20);
    for (let i = 0; i < x.length; i++) x[i] = r.normal();
    return { x, targets: { labels: true, data: Int32Array.from({ length: 5 }, () => r.int(3)) } };
  });
  return { make, config: { loss: 'crossEntropy', optimizer, clipNorm: 5 }, batches };
}

describe('optimizerStateToJSON / optimizerStateFromJSON', () => {
  const optimizers: [string, Optimizer][] = [
    ['sgd with nesterov momentum', sgd({ lr: 0.1, momentum: 0.9, nesterov: true })],
    ['adam', adam({ lr: 0.01 })],
    ['adamw with a cosine schedule', adamw({ lr: 0.01, schedule: cosineLR({ tMax: 8 }) })],
  ];

  for (const [name, optimizer] of optimizers) {
    for (const dtype of ['float32', 'float64'] as const) {
      it(`round-trips ${name} state (${dtype}) bit for bit, through JSON text`, () => {
        const { make, config, batches } = trainingSetup(dtype, optimizer);
        const stepper = createStepper(make(), config);
        for (const b of batches.slice(0, 3)) stepper.step(b.x, b.targets, 5);
        const json = optimizerStateToJSON(stepper.state, dtype);
        expect(json).toMatchObject({ format: 'livegrad-optimizer-state', version: 1, kind: optimizer.kind, dtype, t: 3 });
        expectSameState(optimizerStateFromJSON(json), stepper.state);
        expectSameState(optimizerStateFromJSON(JSON.stringify(json)), stepper.state);
      });

      it(`resumes ${name} training (${dtype}) from a serialized model and state with the same bits as uninterrupted training`, () => {
        const { make, config, batches } = trainingSetup(dtype, optimizer);
        const straight = createStepper(make(), config);
        for (const b of batches) expect(straight.step(b.x, b.targets, 5).applied).toBe(true);

        const first = createStepper(make(), config);
        for (const b of batches.slice(0, 4)) first.step(b.x, b.targets, 5);
        const modelText = JSON.stringify(modelToJSON(first.model));
        const modelBytes = modelToBinary(first.model);
        const stateText = JSON.stringify(optimizerStateToJSON(first.state, dtype));

        for (const restored of [modelFromJSON(modelText), modelFromBinary(modelBytes)]) {
          const resumed = createStepper(restored, config, optimizerStateFromJSON(stateText));
          for (const b of batches.slice(4)) resumed.step(b.x, b.targets, 5);
          expectSameModel(resumed.model, straight.model);
          expectSameState(resumed.state, straight.state);
        }
      });
    }
  }

  it('is not resumable on a model of another shape or dtype (E_BAD_STATE)', () => {
    const { make, config } = trainingSetup('float32', adam());
    const state = optimizerStateFromJSON(optimizerStateToJSON(newOptimizerState(make(), adam()), 'float64'));
    expectCode(() => createStepper(make(), config, state), 'E_BAD_STATE');
    const other = mlp({ inputSize: 5, layers: [{ units: 3, activation: 'softmax' }] });
    expectCode(() => createStepper(other, config, newOptimizerState(make(), adam())), 'E_BAD_STATE');
  });

  it('rejects malformed state with E_BAD_STATE', () => {
    const good = optimizerStateToJSON(newOptimizerState(mlp({ inputSize: 1, layers: [{ units: 1, activation: 'linear' }] }), adam()), 'float32');
    const cases: [unknown, RegExp?][] = [
      ['not json', /^Expected optimizer state JSON, got unparsable text/],
      ['null', /^Expected format "livegrad-optimizer-state", got undefined$/],
      [{ ...good, format: 'livegrad-mlp' }, /^Expected format "livegrad-optimizer-state", got "livegrad-mlp"$/],
      [{ ...good, version: 0 }, /^Expected optimizer state version 1, got 0$/],
      [{ ...good, kind: 'lbfgs' }, /^Expected kind "sgd", "adam" or "adamw", got "lbfgs"$/],
      [{ ...good, dtype: 'float16' }, /^Expected dtype "float32" or "float64", got "float16"$/],
      [{ ...good, t: -1 }, /^Expected t to be a non-negative integer, got -1$/],
      [{ ...good, t: 1.5 }],
      [{ ...good, hasMomentum: 'no' }, /^Expected hasMomentum to be a boolean, got "no"$/],
      [{ ...good, buffers: {} }, /^Expected buffers to be an array, got an object$/],
      [{ ...good, buffers: [[[0]], [[0]]] }, /^Expected buffers\[0\] to hold 2 arrays, got an array of length 1$/],
      [{ ...good, buffers: [[[0], [null]], [[0], [0]]] }, /^Expected buffers\[0\]\[1\] to be an array of finite numbers$/],
      [{ ...good, buffers: [[[0], 'x'], [[0], [0]]] }, /^Expected buffers\[0\]\[1\] to be an array of finite numbers$/],
    ];
    expect(optimizerStateFromJSON(good).t).toBe(0);
    for (const [input, message] of cases) expectCode(() => optimizerStateFromJSON(input as string), 'E_BAD_STATE', message);
  });
});
