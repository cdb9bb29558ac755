/**
 * A session's training thread: runs `createTrainer` on the config it was started with and does
 * what the main thread asks (thread-messages.ts), so that training never competes with socket
 * I/O, decoding and fan-out on the main thread's event loop.
 *
 * Everything the trainer produces (events, acceptances, consumed steps, answers) is collected in
 * order and posted as one `Flush` at the end of the event-loop turn that produced it (a
 * microtask): one message per training slice instead of one per event.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { LivegradError } from '../errors.js';
import { createTrainer, type Trainer } from '../pipeline/trainer.js';
import type { Call, CallResults, Flush, Item, ThreadError, ToWorker, WorkerInit } from './thread-messages.js';

function threadError(e: unknown): ThreadError {
  if (e instanceof LivegradError) return { code: e.code, message: e.message };
  if (e instanceof Error) return { code: undefined, message: e.message, stack: e.stack };
  return { code: undefined, message: String(e) };
}

function answer(trainer: Trainer, c: Call): CallResults[keyof CallResults] {
  switch (c.call) {
    case 'control': {
      const step = trainer.steps;
      trainer.control(c.control, c.atStep);
      return { step };
    }
    case 'predict':
      return trainer.predict(c.x);
    case 'snapshot': {
      const { model, state, step, samples } = trainer.snapshot();
      const config = trainer.config;
      return { model, state, step, samples, config: { ...config, optimizer: { ...config.optimizer } }, batchSize: trainer.batchSize };
    }
  }
}

function run(port: NonNullable<typeof parentPort>, init: WorkerInit): void {
  const trainer = createTrainer(init.config);
  let items: Item[] = [];
  let pending = false;
  let finished = false;
  const flush = (): void => {
    pending = false;
    const out: Flush = {
      items,
      state: { steps: trainer.steps, samples: trainer.samples, paused: trainer.paused, queueDepth: trainer.queueDepth, dropped: trainer.dropped, batchSize: trainer.batchSize },
    };
    items = [];
    port.postMessage(out);
  };
  const add = (item: Item): void => {
    items.push(item);
    if (!pending) {
      pending = true;
      queueMicrotask(flush);
    }
  };
  const finish = (item: Item): void => {
    finished = true;
    add(item);
  };
  // the main thread announced `started` itself when it created the session (TrainerThread.start)
  let announced = false;
  trainer.events$.subscribe({
    next: (event) => {
      if (!announced && event.type === 'lifecycle' && event.state === 'started') announced = true;
      else add({ k: 'event', event });
    },
    complete: () => finish({ k: 'completed' }),
    error: (e: unknown) => finish({ k: 'failed', error: threadError(e) }),
  });
  trainer.start();
  add({ k: 'ready' });
  port.on('message', (m: ToWorker) => {
    if (finished && m.op !== 'call') return;
    switch (m.op) {
      case 'push':
        try {
          trainer.push(m.batch, (step) => {
            // the server's trainer queue never drops (policy error, unbounded): step is always a number
            if (step !== undefined) add({ k: 'consumed', ticket: m.ticket, step });
          });
          add({ k: 'accepted', ticket: m.ticket });
        } catch (e) {
          add({ k: 'rejected', ticket: m.ticket, error: threadError(e) });
        }
        return;
      case 'call':
        try {
          if (finished) throw new LivegradError('E_SESSION_CLOSED', `Expected an open session, got "${trainer.session}" ended`);
          add({ k: 'reply', id: m.id, value: answer(trainer, m) });
        } catch (e) {
          add({ k: 'refused', id: m.id, error: threadError(e) });
        }
        return;
      case 'end':
        trainer.end();
        return;
      case 'close':
        trainer.close(m.reason);
        return;
    }
  });
}

if (parentPort) run(parentPort, workerData as WorkerInit);

