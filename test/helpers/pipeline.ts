/**
 * Shared fixtures for the pipeline tests (tests only): a marble TestScheduler that compares with
 * vitest, small seeded models and batches, the digits as a Dataset, and an event recorder.
 */
import type { Observable, Subscription } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { expect, it } from 'vitest';
import { rng, tensor, type Batch, type Dataset, type MlpSpec, type Trainer, type TrainEvent } from '../../src/index.js';
import { loadDigits } from './digits.js';

export function marbles(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

/** 2 inputs → 3 sigmoid → 3 softmax, seeded. */
export const TINY: MlpSpec = {
  inputSize: 2,
  layers: [
    { units: 3, activation: 'sigmoid' },
    { units: 3, activation: 'softmax' },
  ],
  seed: 7,
};

/** The W2 network of the tutorial on digits: 64 → 64 sigmoid → 10 softmax. */
export const W2: MlpSpec = {
  inputSize: 64,
  layers: [
    { units: 64, activation: 'sigmoid' },
    { units: 10, activation: 'softmax' },
  ],
  seed: 1,
};

/** A batch from nested rows and class indices (or target rows). */
export function chunk(x: readonly (readonly number[])[], y: readonly number[] | readonly (readonly number[])[]): Batch {
  return { x: tensor(x), y: Array.isArray(y[0]) ? tensor(y as readonly (readonly number[])[]) : tensor(y as readonly number[]) };
}

/** m seeded rows of `nin` features in [-1, 1) with class indices in [0, classes). */
export function randomChunk(seed: number, m: number, nin = 2, classes = 3): Batch {
  const r = rng(seed);
  const x = Array.from({ length: m }, () => Array.from({ length: nin }, () => r.uniform() * 2 - 1));
  const y = Array.from({ length: m }, () => r.int(classes));
  return chunk(x, y);
}

let digitsCache: Dataset | undefined;

/** The 1797 digits: x [1797, 64] float32, y [1797] class indices. */
export function digits(): Dataset {
  if (!digitsCache) {
    const d = loadDigits();
    digitsCache = {
      x: { dtype: 'float32', shape: [d.rows, d.cols], data: d.x },
      y: { dtype: 'float32', shape: [d.rows], data: Float32Array.from(d.labels) },
    };
  }
  return digitsCache;
}

/** Rows [from, to) of a data set, copied. */
export function rows(d: Dataset, from: number, to: number): Batch {
  const xw = d.x.shape[1]!, yw = d.y.shape.length === 1 ? 1 : d.y.shape[1]!;
  return {
    x: { dtype: d.x.dtype, shape: [to - from, xw], data: d.x.data.slice(from * xw, to * xw) },
    y: { dtype: d.y.dtype, shape: d.y.shape.length === 1 ? [to - from] : [to - from, yw], data: d.y.data.slice(from * yw, to * yw) },
  };
}

/** Everything a trainer's event stream says, kept as it arrives. */
export class Recording {
  readonly events: TrainEvent[] = [];
  error: unknown = undefined;
  completed = false;
  readonly subscription: Subscription;

  constructor(trainer: Trainer) {
    this.subscription = trainer.events$.subscribe({
      next: (e) => this.events.push(e),
      error: (e: unknown) => {
        this.error = e;
      },
      complete: () => {
        this.completed = true;
      },
    });
  }

  /** Events of one type, narrowed. */
  of<K extends TrainEvent['type']>(type: K): Extract<TrainEvent, { type: K }>[] {
    return this.events.filter((e): e is Extract<TrainEvent, { type: K }> => e.type === type);
  }

  tags(): string[] {
    return this.events.map(tag);
  }
}

export function record(trainer: Trainer): Recording {
  return new Recording(trainer);
}

/** A short, comparable name for an event: its type, what it says in one word, and its step ("control:pause@4"). */
export function tag(e: TrainEvent): string {
  switch (e.type) {
    case 'lifecycle':
      return `lifecycle:${e.state}@${e.step}`;
    case 'control':
      return `control:${e.control.action}@${e.step}`;
    case 'error':
      return `error:${e.code}@${e.step}`;
    case 'step':
    case 'metrics':
    case 'weights':
    case 'gradients':
    case 'eval':
      return `${e.type}@${e.step}`;
    default: {
      const never: never = e;
      return never;
    }
  }
}

/** Resolves once the trainer's event stream has completed or errored. */
export function settled(trainer: Trainer): Promise<void> {
  return new Promise((resolve) => trainer.events$.subscribe({ error: () => resolve(), complete: () => resolve() }));
}

/**
 * The RxJS operator checklist as marble tests — empty, one value, many, error, never-ending,
 * early unsubscribe — for an operator chain `run` over batches, whose n-th output for batch b
 * must equal `expected(b, n)`. Declares one `it` per item, inside the caller's `describe`.
 */
export function operatorChecklist<T>(run: (source: Observable<Batch>) => Observable<T>, expected: (batch: Batch, seq: number) => T): void {
  const a = randomChunk(1, 2), b = randomChunk(2, 3), c = randomChunk(3, 1);
  const A = (): T => expected(a, 1), B = (): T => expected(b, 2), C = (): T => expected(c, 3);

  it('completes without a value on an empty source', () => {
    marbles().run(({ cold, expectObservable }) => {
      expectObservable(run(cold<Batch>('|'))).toBe('|');
    });
  });

  it('emits one value for one batch', () => {
    marbles().run(({ cold, expectObservable }) => {
      expectObservable(run(cold('-a|', { a }))).toBe('-A|', { A: A() });
    });
  });

  it('emits one value per batch, in order', () => {
    marbles().run(({ cold, expectObservable }) => {
      expectObservable(run(cold('-a-b-c|', { a, b, c }))).toBe('-A-B-C|', { A: A(), B: B(), C: C() });
    });
  });

  it('passes a source error through at its frame', () => {
    marbles().run(({ cold, expectObservable }) => {
      expectObservable(run(cold('-a-#', { a }, new Error('boom')))).toBe('-A-#', { A: A() }, new Error('boom'));
    });
  });

  it('keeps going on a never-ending source', () => {
    marbles().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b-', { a, b });
      expectObservable(run(source)).toBe('-A-B-', { A: A(), B: B() });
      expectSubscriptions(source.subscriptions).toBe('^');
    });
  });

  it('unsubscribes from the source when the consumer does', () => {
    marbles().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b-c|', { a, b, c });
      expectObservable(run(source), '^-!').toBe('-A', { A: A() });
      expectSubscriptions(source.subscriptions).toBe('^-!');
    });
  });
}
