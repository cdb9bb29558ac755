/**
 * A `create` message → the session's TrainConfig (src/server/create.ts): a spec stays a spec, so
 * its weights are initialised where the session trains (its thread, when it has one), never on
 * the main thread; explicit weights are built here; limits are checked before anything.
 */
import { describe, expect, it } from 'vitest';
import { createTrainer, mlp, type Mlp, type MlpSpec } from '../../src/index.js';
import type { CreateMessage } from '../../src/protocol/messages.js';
import { parseClientMessage } from '../../src/protocol/validate.js';
import { trainConfig } from '../../src/server/create.js';
import { expectSameModel } from '../helpers/bits.js';

const LIMITS = { maxParameters: 10_000_000, maxActivations: 50_000_000 };

function create(fields: Record<string, unknown>): CreateMessage {
  return parseClientMessage({ type: 'create', session: 's', loss: 'crossEntropy', optimizer: { kind: 'sgd', lr: 0.1 }, ...fields }) as CreateMessage;
}

describe('trainConfig', () => {
  it('keeps a spec unbuilt, and the trainer built from it has the weights mlp() gives', () => {
    const spec = { inputSize: 784, layers: [{ units: 2048, activation: 'relu' }, { units: 2048, activation: 'relu' }, { units: 10, activation: 'softmax' }], seed: 5 };
    const config = trainConfig(create({ model: spec }), LIMITS);
    // 5.8 million parameters, none of them allocated: the config is the spec (a few bytes to post to a thread)
    expect(config.model).toEqual(spec);
    expect((config.model as MlpSpec).layers.some((l) => 'w' in l)).toBe(false);
    const small = { inputSize: 4, layers: [{ units: 3, activation: 'tanh' }, { units: 2, activation: 'softmax' }], seed: 9 } as const;
    const trainer = createTrainer(trainConfig(create({ model: small }), LIMITS));
    expectSameModel(trainer.model, mlp(small));
    trainer.close();
  });

  it('builds explicit weights at once, checking them', () => {
    const config = trainConfig(create({ model: { layers: [{ activation: 'softmax', w: [[1, 2], [3, 4]], b: [0, 1] }] } }), LIMITS);
    expect(config.model).toMatchObject({ dtype: 'float32', inputSize: 2, layers: [{ nin: 2, nout: 2, activation: 'softmax' }] });
    expect(Array.from((config.model as Mlp).layers[0]!.w)).toEqual([1, 2, 3, 4]);
    expect(() => trainConfig(create({ model: { layers: [{ activation: 'softmax', w: [[1, 2], [3, 4]], b: [0] }] } }), LIMITS)).toThrow('Expected layers[0].bias to have 2 values, got 1');
  });

  it('checks a spec, its limits and the rest of the config against the shape it describes', () => {
    const spec = { inputSize: 4, layers: [{ units: 3, activation: 'tanh' }, { units: 2, activation: 'softmax' }] };
    expect(() => trainConfig(create({ model: { ...spec, layers: [{ units: 3, activation: 'softmax' }, { units: 2, activation: 'softmax' }] } }), LIMITS)).toThrow(
      expect.objectContaining({ code: 'E_BAD_MODEL', message: 'Expected softmax only on the output layer, got it on layers[0] of 2' }),
    );
    expect(() => trainConfig(create({ model: { inputSize: 100_000, layers: [{ units: 1000, activation: 'relu' }] } }), LIMITS)).toThrow('Expected at most 10000000 parameters, got 100001000');
    const wide = { inputSize: 4, layers: [{ units: 1000, activation: 'tanh' }, { units: 2, activation: 'softmax' }] };
    expect(() => trainConfig(create({ model: wide, batchSize: 65_536 }), LIMITS)).toThrow(
      expect.objectContaining({ code: 'E_BAD_CONFIG', message: 'Expected batchSize × units (65536 × 1002) at most 50000000, got 65667072' }),
    );
    const evalSet = { x: [[1, 2, 3]], y: [0] };
    expect(() => trainConfig(create({ model: spec, evalSet }), LIMITS)).toThrow(expect.objectContaining({ code: 'E_SHAPE', message: expect.stringMatching(/^evalSet: Expected x of shape \[m ≥ 1, 4\]/) }));
  });
});
