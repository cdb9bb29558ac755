/**
 * Validation of client messages: every message type parses, and every kind of wrong input is a
 * LivegradError with its stable code and an "Expected X, got Y" message naming the field.
 */
import { describe, expect, it } from 'vitest';
import { CLIENT_MESSAGE_TYPES, LivegradError, parseClientMessage, refOf, sessionOf } from '../../src/index.js';

function failure(value: unknown): { code: string; message: string } {
  try {
    parseClientMessage(value);
  } catch (e) {
    if (e instanceof LivegradError) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error(`Expected ${JSON.stringify(value)} to be refused`);
}

const spec = { inputSize: 2, layers: [{ units: 3, activation: 'tanh' }, { units: 2, activation: 'softmax' }], seed: 1 };
const create = { type: 'create', session: 's', model: spec, loss: 'crossEntropy', optimizer: { kind: 'sgd', lr: 0.1 } };

describe('parseClientMessage', () => {
  it('accepts one valid message of every type', () => {
    const valid = [
      create,
      { type: 'list' },
      { type: 'samples', session: 's', seq: 0, x: [[1, 2]], y: [1] },
      { type: 'subscribe', session: 's', topics: ['step', 'weights'], rates: { weights: 2 }, fromStep: 10 },
      { type: 'unsubscribe', session: 's' },
      { type: 'control', session: 's', control: { action: 'set', lr: 0.01 }, atStep: 5 },
      { type: 'predict', session: 's', x: [[1, 2]] },
      { type: 'snapshot', session: 's' },
      { type: 'close', session: 's', drain: true },
      { type: 'ping', id: 7 },
    ];
    expect(valid.map((v) => parseClientMessage(v).type)).toEqual([...CLIENT_MESSAGE_TYPES]);
  });

  it('reads explicit initial weights and full create options', () => {
    const m = parseClientMessage({
      ...create,
      id: 'c1',
      model: { dtype: 'float64', layers: [{ activation: 'sigmoid', w: [[1], [2]], b: [0] }] },
      loss: 'sse',
      batchSize: 4,
      clipNorm: 1,
      events: { metricsEvery: 5, gradientTensors: true },
      onNonFinite: 'pause',
      credits: 2,
      queueCapacity: 3,
      evalSet: { x: [[1, 2]], y: [[1]] },
    });
    expect(m).toMatchObject({ type: 'create', id: 'c1', batchSize: 4, credits: 2, events: { metricsEvery: 5, gradientTensors: true } });
  });

  it('ignores unknown top-level fields and treats nil optional fields as absent', () => {
    expect(parseClientMessage({ type: 'subscribe', session: 's', future: 1, topics: null, fromStep: null })).toEqual({ type: 'subscribe', session: 's' });
  });

  it.each([
    ['a non-map', [1, 2], 'E_BAD_MESSAGE', 'Expected a message map with a string type, got an array of length 2'],
    ['no type', { session: 's' }, 'E_BAD_MESSAGE', 'got type nothing'],
    ['an unknown type', { type: 'train' }, 'E_UNKNOWN_TYPE', 'got "train"'],
    ['a missing session', { type: 'snapshot' }, 'E_BAD_FIELD', 'Expected session to be a session name'],
    ['a bad session name', { type: 'snapshot', session: 'a b' }, 'E_BAD_FIELD', 'got "a b"'],
    ['a negative seq', { type: 'samples', session: 's', seq: -1, x: [[1]], y: [0] }, 'E_BAD_FIELD', 'Expected seq to be an integer'],
    ['a missing x', { type: 'samples', session: 's', seq: 0, y: [0] }, 'E_BAD_FIELD', 'Expected x to be a tensor'],
    ['an unknown topic', { type: 'subscribe', session: 's', topics: ['loss'] }, 'E_BAD_FIELD', 'Expected topics[0] to be one of'],
    ['a zero rate', { type: 'subscribe', session: 's', rates: { step: 0 } }, 'E_BAD_FIELD', 'Expected rates.step'],
    ['a bad control', { type: 'control', session: 's', control: { action: 'jump' } }, 'E_BAD_CONTROL', 'Expected control action one of'],
    ['a string lr', { type: 'control', session: 's', control: { action: 'set', lr: '0.1' } }, 'E_BAD_CONTROL', 'Expected lr'],
    ['an object id', { type: 'list', id: {} }, 'E_BAD_FIELD', 'Expected id'],
    ['a typo in events', { ...create, events: { metricEvery: 1 } }, 'E_BAD_FIELD', 'got "metricEvery"'],
    ['a string batchSize', { ...create, batchSize: '32' }, 'E_BAD_FIELD', 'Expected batchSize to be an integer'],
    ['an optimizer without kind', { ...create, optimizer: { lr: 1 } }, 'E_BAD_FIELD', 'Expected optimizer.kind'],
    ['an unknown loss', { ...create, loss: 'hinge' }, 'E_BAD_FIELD', 'Expected loss to be one of'],
    ['a layer that is not a map', { ...create, model: { inputSize: 2, layers: [3] } }, 'E_BAD_FIELD', 'Expected model.layers[0]'],
    ['an int8 tensor', { type: 'predict', session: 's', x: { dtype: 'int8', shape: [1], data: [1] } }, 'E_DTYPE', 'Expected x.dtype'],
  ])('refuses %s', (_what, value, code, text) => {
    const f = failure(value);
    expect(f.code).toBe(code);
    expect(f.message).toContain(text);
    expect(f.message).toMatch(/^Expected /);
  });
});

describe('refOf / sessionOf', () => {
  it('echoes the seq of samples, the id of anything else, null when unusable', () => {
    expect(refOf({ type: 'samples', seq: 4, id: 'x' })).toBe(4);
    expect(refOf({ type: 'list', id: 'a' })).toBe('a');
    expect(refOf({ type: 'list', id: {} })).toBeNull();
    expect(refOf('junk')).toBeNull();
    expect(sessionOf({ session: 'ok' })).toBe('ok');
    expect(sessionOf({ session: 'not ok' })).toBeUndefined();
  });
});
