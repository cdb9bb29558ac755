/**
 * Trainer.offer(): chunks wait their turn and for room (fewer than capacity × batchSize rows
 * admitted and not yet trained, rows held back included), and go in at the boundary after the
 * step that makes room; a bad one is refused alone; withdraw, end and close treat the waiting
 * ones as documented.
 */
import { describe, expect, it } from 'vitest';
import { createTrainer, sgd, type Batch, type Trainer } from '../../src/index.js';
import { chunk, TINY } from '../helpers/pipeline.js';

/** `rows` rows of TINY's 2 features, classes 0…2. */
function rowsOf(rows: number, x = 0.5): Batch {
  return chunk(
    Array.from({ length: rows }, (_, i) => [x, i / rows]),
    Array.from({ length: rows }, (_, i) => i % 3),
  );
}

function setUp(capacity: number, batchSize = 2): { trainer: Trainer; log: string[]; offer(owner: string, name: string, batch: Batch): void } {
  const trainer = createTrainer({ model: { ...TINY, layers: [...TINY.layers] }, loss: 'crossEntropy', optimizer: sgd({ lr: 0.1 }), batchSize, queue: { capacity } });
  const log: string[] = [];
  trainer.events$.subscribe((e) => {
    if (e.type === 'step') log.push(`step ${e.step}`);
  });
  const offer = (owner: string, name: string, batch: Batch): void =>
    trainer.offer(
      batch,
      {
        accepted: () => log.push(`accepted ${name}`),
        rejected: (e) => log.push(`rejected ${name}: ${e.code}`),
        consumed: (step) => log.push(`consumed ${name} at ${step}`),
      },
      { owner },
    );
  return { trainer, log, offer };
}

/** Resolves once the trainer has reported step `n`. */
const reached = (t: Trainer, n: number): Promise<void> =>
  new Promise((resolve) => {
    const sub = t.events$.subscribe((e) => {
      if (e.type === 'step' && e.step === n) {
        resolve();
        queueMicrotask(() => sub.unsubscribe());
      }
    });
  });

const completed = (t: Trainer): Promise<void> => new Promise((resolve) => t.events$.subscribe({ complete: () => resolve(), error: () => resolve() }));

describe('Trainer.offer', () => {
  it('hands over chunks while fewer than capacity × batchSize rows wait to train, and the next one as a step makes room', async () => {
    const { trainer, log, offer } = setUp(2); // room: 4 rows
    trainer.control({ action: 'pause' });
    offer('p', 'a', rowsOf(2));
    offer('p', 'b', rowsOf(2));
    offer('p', 'c', rowsOf(2));
    offer('p', 'd', rowsOf(2));
    expect(log).toEqual(['accepted a', 'accepted b']);
    expect(trainer.queueDepth).toBe(4); // two batches, two chunks waiting
    trainer.control({ action: 'resume' });
    await reached(trainer, 4);
    // each step frees two rows, and the next chunk goes in at the boundary after that step, before the next one trains
    expect(log).toEqual([
      'accepted a',
      'accepted b',
      'step 1',
      'consumed a at 1',
      'accepted c',
      'step 2',
      'consumed b at 2',
      'accepted d',
      'step 3',
      'consumed c at 3',
      'step 4',
      'consumed d at 4',
    ]);
    expect(trainer.queueDepth).toBe(0);
    trainer.end();
    await completed(trainer);
  });

  it('counts rows held back in a partial batch, so an idle trainer always has room', async () => {
    const { trainer, log, offer } = setUp(1, 4); // room: 4 rows
    offer('p', 'a', rowsOf(3)); // three rows wait for a fourth: nothing can train
    offer('p', 'b', rowsOf(1));
    expect(log).toEqual(['accepted a', 'accepted b']);
    await reached(trainer, 1);
    expect(log).toEqual(['accepted a', 'accepted b', 'step 1', 'consumed a at 1', 'consumed b at 1']);
    trainer.end();
    await completed(trainer);
  });

  it('refuses a chunk the trainer refuses and takes the one behind it', async () => {
    const { trainer, log, offer } = setUp(1);
    trainer.control({ action: 'pause' });
    offer('p', 'a', rowsOf(2));
    offer('p', 'bad', chunk([[1, 2, 3]], [0])); // three features for a model of two
    offer('p', 'b', rowsOf(2));
    expect(log).toEqual(['accepted a']);
    trainer.control({ action: 'resume' });
    await reached(trainer, 2);
    expect(log).toEqual(['accepted a', 'step 1', 'consumed a at 1', 'rejected bad: E_SHAPE', 'accepted b', 'step 2', 'consumed b at 2']);
    trainer.end();
    await completed(trainer);
  });

  it('forgets the waiting chunks of a producer that went away, and only those', async () => {
    const { trainer, log, offer } = setUp(1);
    trainer.control({ action: 'pause' });
    offer('p', 'a', rowsOf(2));
    offer('gone', 'g1', rowsOf(2));
    offer('p', 'b', rowsOf(2));
    offer('gone', 'g2', rowsOf(2));
    trainer.withdraw('gone');
    expect(trainer.queueDepth).toBe(2); // a's batch, and b waiting
    trainer.control({ action: 'resume' });
    await reached(trainer, 2);
    trainer.end();
    await completed(trainer);
    expect(log).toEqual(['accepted a', 'step 1', 'consumed a at 1', 'accepted b', 'step 2', 'consumed b at 2']);
  });

  it('takes every waiting chunk on end(), room or not, and trains it all', async () => {
    const { trainer, log, offer } = setUp(1);
    trainer.control({ action: 'pause' });
    for (const name of ['a', 'b', 'c']) offer('p', name, rowsOf(2));
    trainer.control({ action: 'resume' });
    trainer.end();
    expect(log).toEqual(['accepted a', 'accepted b', 'accepted c']);
    await completed(trainer);
    expect(log.filter((l) => l.startsWith('consumed'))).toEqual(['consumed a at 1', 'consumed b at 2', 'consumed c at 3']);
    offer('p', 'late', rowsOf(2));
    expect(log.at(-1)).toBe('rejected late: E_SESSION_CLOSED');
  });

  it('refuses the waiting chunks with E_SESSION_CLOSED on close()', async () => {
    const { trainer, log, offer } = setUp(1);
    trainer.control({ action: 'pause' });
    for (const name of ['a', 'b', 'c']) offer('p', name, rowsOf(2));
    trainer.close('stopped');
    await completed(trainer);
    expect(log).toEqual(['accepted a', 'rejected b: E_SESSION_CLOSED', 'rejected c: E_SESSION_CLOSED']);
    expect(trainer.queueDepth).toBe(0);
  });

  it('refuses the waiting chunks when the trainer fails', async () => {
    // a linear regression at this learning rate: the weights, then the squared error, overflow float32
    const model = { inputSize: 2, layers: [{ units: 1, activation: 'linear' as const }], seed: 1 };
    const trainer = createTrainer({ model, loss: 'sse', optimizer: sgd({ lr: 1e30 }), batchSize: 2, onNonFinite: 'fail', queue: { capacity: 1 } });
    const log: string[] = [];
    const failed = new Promise<void>((resolve) => trainer.events$.subscribe({ error: () => resolve() }));
    const xy = (): Batch => chunk([[1, 2], [3, 4]], [[1], [2]]);
    for (const name of ['a', 'b', 'c', 'd', 'e', 'f']) {
      trainer.offer(xy(), {
        accepted: () => log.push(`accepted ${name}`),
        rejected: (e) => log.push(`rejected ${name}: ${e.code}`),
        consumed: () => undefined,
      });
    }
    await failed;
    // it trained until a step overflowed; what still waited then is refused, nothing is left behind
    const rejected = log.filter((l) => l.startsWith('rejected'));
    expect(rejected.length).toBeGreaterThan(0);
    for (const l of rejected) expect(l).toMatch(/E_SESSION_CLOSED$/);
    expect(log.length).toBe(6);
    expect(trainer.queueDepth).toBe(0);
  });
});
