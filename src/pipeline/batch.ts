import { Observable, type OperatorFunction } from 'rxjs';
import type { Batch } from '../nn/batch.js';
import { Rebatcher } from './rebatch.js';

/**
 * Re-batches chunks of any size into batches of exactly `size` rows; the last partial batch
 * is flushed when the source completes.
 *
 *   chunk rows: --3-----4------1--|     size 2
 *   batch rows: --2-----(22)---2--|     (a remainder left at complete is emitted as a shorter batch)
 *
 * A chunk must agree with the rows held back on feature width and target shape (else the
 * stream errors with LivegradError E_SHAPE); a chunk that is exactly one batch with nothing
 * held back passes through uncopied.
 *
 * @param size  rows per batch, a positive integer.
 * @example
 *   samples$.pipe(batch(32), forward(model), loss('crossEntropy'), delta(), update(sgd({ lr: 0.5 })))
 */
export function batch(size: number): OperatorFunction<Batch, Batch> {
  new Rebatcher(size); // validate now, synchronously
  return function batchOperator(source) {
    return new Observable<Batch>((subscriber) => {
      const rebatcher = new Rebatcher(size);
      const emit = (b: Batch): void => subscriber.next(b);
      return source.subscribe({
        next: (chunk) => {
          try {
            rebatcher.push(chunk, emit);
          } catch (err) {
            subscriber.error(err);
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          rebatcher.flush(emit);
          subscriber.complete();
        },
      });
    });
  };
}
