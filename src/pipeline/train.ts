import { Observable, type OperatorFunction } from 'rxjs';
import { LivegradError } from '../errors.js';
import type { Batch } from '../nn/batch.js';
import type { Control } from './controls.js';
import type { TrainEvent } from './events.js';
import { checkTrainConfig, type TrainConfig } from './trainer/config.js';
import { createTrainer } from './trainer/trainer.js';

export interface TrainOptions extends TrainConfig {
  /** Controls to apply at batch boundaries, in arrival order. */
  readonly control$?: Observable<Control>;
}

/**
 * Trains on a stream of sample chunks and emits the training as events: the composition of
 * `batch()`, `forward()`, `loss()`, `delta()` and `update()`, fused into one step for speed
 * (bit-identical to the chain), with controls, the numerical guard and a bounded queue.
 *
 *   chunks:  --c----c----c--|
 *   result:  s-(tm)-(tw)-t--(l|)       s started, t step, m metrics, w weights, l completed
 *
 * A chunk that fails validation (wrong shape, NaN, label out of range) does not stop training:
 * it becomes an `error` event and is skipped. The model in `config` is copied, never mutated.
 *
 * @param config  model or spec, loss, optimizer, batch size, event rates, queue, controls.
 * @example
 *   epochs(digits, { epochs: 20, seed: 1 }).pipe(
 *     train({ model: { inputSize: 64, layers: [{ units: 64, activation: 'sigmoid' }, { units: 10, activation: 'softmax' }], seed: 1 },
 *             loss: 'crossEntropy', optimizer: sgd({ lr: 0.5 }), batchSize: 32 }),
 *   ).subscribe((e) => e.type === 'metrics' && console.log(e.runningLoss, e.accuracy));
 */
export function train(config: TrainOptions): OperatorFunction<Batch, TrainEvent> {
  const { control$, ...trainConfig } = config;
  checkTrainConfig(trainConfig); // validate the config now, synchronously (building nothing)
  return function trainOperator(source) {
    return new Observable<TrainEvent>((subscriber) => {
      const trainer = createTrainer(trainConfig);
      const subscription = trainer.events$.subscribe(subscriber);
      trainer.start();
      if (control$) {
        subscription.add(
          control$.subscribe({
            next: (c) => {
              try {
                trainer.control(c);
              } catch (e) {
                if (e instanceof LivegradError) trainer.report(e.code, e.message);
                else subscriber.error(e);
              }
            },
            error: (err: unknown) => subscriber.error(err),
          }),
        );
      }
      subscription.add(
        source.subscribe({
          next: (chunk) => {
            try {
              trainer.push(chunk);
            } catch (e) {
              if (e instanceof LivegradError) trainer.report(e.code, e.message);
              else subscriber.error(e);
            }
          },
          error: (err: unknown) => trainer.abort(err),
          complete: () => trainer.end(),
        }),
      );
      return () => {
        subscription.unsubscribe();
        trainer.close('unsubscribed');
      };
    });
  };
}
