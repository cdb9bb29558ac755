/**
 * Validation of client messages: every message type parses, and every kind of wrong input is a
 * LivegradError with its stable code and an "Expected X, got Y" message naming the field.
 */
import { describe, expect, it } from 'vitest';
import { CLIENT_MESSAGE_TYPES, LivegradError, LOSSES, parseClientMessage, refOf, sessionOf } from '../../src/index.js';
import { MAX_BATCH_SIZE, MAX_START_COUNT } from '../../src/pipeline/limits.js';
import { describe as describeValue } from '../../src/errors.js';

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
      { type: 'replay', session: 's', action: 'seek', step: 40 },
      { type: 'ping', id: 7 },
    ];
    expect(valid.map((v) => parseClientMessage(v).type)).toEqual([...CLIENT_MESSAGE_TYPES]);
  });

  it('reads replay messages: each action with its field, and names a bad one', () => {
    expect(parseClientMessage({ type: 'replay', session: 's', action: 'seek', step: 3 })).toEqual({ type: 'replay', session: 's', action: 'seek', step: 3 });
    expect(parseClientMessage({ type: 'replay', session: 's', action: 'speed', speed: 'max' })).toEqual({ type: 'replay', session: 's', action: 'speed', speed: 'max' });
    expect(parseClientMessage({ type: 'replay', session: 's', action: 'speed', speed: 2.5 })).toEqual({ type: 'replay', session: 's', action: 'speed', speed: 2.5 });
    expect(() => parseClientMessage({ type: 'replay', session: 's', action: 'rewind' })).toThrow(/action.*one of play, pause, seek, speed/);
    expect(() => parseClientMessage({ type: 'replay', session: 's', action: 'seek' })).toThrow(/step/);
    expect(() => parseClientMessage({ type: 'replay', session: 's', action: 'speed', speed: 0 })).toThrow(/speed.*a number > 0/);
    expect(() => parseClientMessage({ type: 'samples', session: 's', seq: 0, x: [[1, 2]], y: [1], producer: 'bad name!' })).toThrow(/producer/);
    expect(() => parseClientMessage({ ...create, record: 'yes' })).toThrow(/record.*a boolean/);
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

/** One valid message of every client type, without an id. */
const EVERY_TYPE: Record<string, Record<string, unknown>> = {
  create,
  list: { type: 'list' },
  samples: { type: 'samples', session: 's', seq: 0, x: [[1, 2]], y: [1] },
  subscribe: { type: 'subscribe', session: 's' },
  unsubscribe: { type: 'unsubscribe', session: 's' },
  control: { type: 'control', session: 's', control: { action: 'pause' } },
  predict: { type: 'predict', session: 's', x: [[1, 2]] },
  snapshot: { type: 'snapshot', session: 's' },
  close: { type: 'close', session: 's' },
  replay: { type: 'replay', session: 's', action: 'play' },
  ping: { type: 'ping' },
};

describe('id', () => {
  it('covers every client message type', () => {
    expect(Object.keys(EVERY_TYPE)).toEqual([...CLIENT_MESSAGE_TYPES]);
  });

  const expected = 'Expected id to be a string of at most 128 characters (Unicode code points) or a finite number, got';
  const emoji = '\u{1F600}'; // one code point, two UTF-16 units
  describe.each(Object.keys(EVERY_TYPE))('on %s', (type) => {
    it.each([
      ['a map', { a: 1 }, `${expected} an object`],
      ['an empty map', {}, `${expected} an object`],
      ['an array', [1], `${expected} an array of length 1`],
      ['a boolean', true, `${expected} true`],
      ['NaN', NaN, `${expected} NaN`],
      ['Infinity', Infinity, `${expected} Infinity`],
      ['-Infinity', -Infinity, `${expected} -Infinity`],
      ['129 characters', 'a'.repeat(129), `${expected} a string of 129 code points`],
      ['129 characters, 130 UTF-16 units', `${'a'.repeat(128)}${emoji}`, `${expected} a string of 129 code points`],
      ['129 characters, 258 UTF-16 units', emoji.repeat(129), `${expected} a string of 129 code points`],
    ])('refuses %s', (_what, id, message) => {
      expect(failure({ ...EVERY_TYPE[type], id })).toEqual({ code: 'E_BAD_FIELD', message });
    });

    it.each([
      ['128 characters', 'a'.repeat(128)],
      ['128 characters in 129 UTF-16 units', `${'a'.repeat(127)}${emoji}`],
      ['128 characters in 256 UTF-16 units', emoji.repeat(128)],
      ['an empty string', ''],
      ['zero', 0],
      ['a negative fraction', -1.5],
      ['a huge finite number', Number.MAX_VALUE],
    ])('accepts %s', (_what, id) => {
      const m = parseClientMessage({ ...EVERY_TYPE[type], id });
      // samples replies echo seq: its id, once checked, is not kept
      expect((m as { id?: unknown }).id).toBe(type === 'samples' ? undefined : id);
    });
  });

  it('is what refOf echoes: a valid id, else null', () => {
    expect(refOf({ type: 'list', id: 'a'.repeat(128) })).toBe('a'.repeat(128));
    expect(refOf({ type: 'list', id: '\u{1F600}'.repeat(128) })).toBe('\u{1F600}'.repeat(128));
    expect(refOf({ type: 'list', id: 'a'.repeat(129) })).toBeNull();
    expect(refOf({ type: 'ping', id: NaN })).toBeNull();
    expect(refOf({ type: 'create', id: { a: 1 } })).toBeNull();
  });
});

describe('create limits', () => {
  it.each(['startStep', 'startSamples'])('bounds %s by MAX_START_COUNT, where counters still count', (key) => {
    expect(parseClientMessage({ ...create, [key]: MAX_START_COUNT })).toMatchObject({ [key]: 2 ** 50 });
    expect(failure({ ...create, [key]: MAX_START_COUNT + 1 })).toEqual({ code: 'E_BAD_FIELD', message: `Expected ${key} to be an integer in [0, 1125899906842624], got 1125899906842625` });
    expect(failure({ ...create, [key]: 2 ** 53 - 1 })).toEqual({ code: 'E_BAD_FIELD', message: `Expected ${key} to be an integer in [0, 1125899906842624], got 9007199254740991` });
  });

  it('bounds batchSize by MAX_BATCH_SIZE', () => {
    expect(parseClientMessage({ ...create, batchSize: MAX_BATCH_SIZE })).toMatchObject({ batchSize: 65_536 });
    expect(failure({ ...create, batchSize: MAX_BATCH_SIZE + 1 })).toEqual({ code: 'E_BAD_FIELD', message: 'Expected batchSize to be an integer in [1, 65536], got 65537' });
  });

  it('takes every loss the library has, and names them when refusing one', () => {
    for (const loss of LOSSES) expect(parseClientMessage({ ...create, loss })).toMatchObject({ loss });
    expect(failure({ ...create, loss: 'hinge' }).message).toBe(`Expected loss to be one of ${LOSSES.join(', ')}, got "hinge"`);
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

describe('describe (the "got Y" of an error message)', () => {
  it('says how large a huge integer is instead of printing its digits', () => {
    expect(describeValue(2n ** 100_000n)).toBe('an integer of 100001 bits');
    expect(describeValue(-(2n ** 70n))).toBe('an integer of 71 bits');
    expect(describeValue(2n ** 63n)).toBe('9223372036854775808');
  });
});
