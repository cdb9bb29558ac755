/**
 * A session's training thread: runs `createTrainer` on the config it was started with and does
 * what the main thread asks (thread-messages.ts), so that training never competes with socket
 * I/O, decoding and fan-out on the main thread's event loop.
 *
 * Everything the trainer produces (events, acceptances, consumed steps, answers) is collected in
 * order and posted as one `Flush` at the end of the callback that produced it (a microtask): one
 * message per training slice, and an ack or an answer at once, not after the next slice (which
 * may be one long step).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { LivegradError } from '../errors.js';
import type { StepEvent } from '../pipeline/events.js';
import { createTrainer } from '../pipeline/trainer.js';
import { Intake } from './intake.js';
import { answer } from './session-trainer.js';
import { STEP_COLUMNS, type Flush, type Item, type ThreadError, type ToWorker, type WorkerInit } from './thread-messages.js';

function threadError(e: unknown): ThreadError {
  if (e instanceof LivegradError) return { code: e.code, message: e.message };
  if (e instanceof Error) return { code: undefined, message: e.message, stack: e.stack };
  return { code: undefined, message: String(e) };
}

/** Step events as rows of numbers (see STEP_COLUMNS), in a buffer that grows as needed; take() hands over a copy of the rows. */
class StepRows {
  readonly width: number;
  private data: Float64Array;
  count = 0;

  constructor(layers: number) {
    this.width = STEP_COLUMNS.length + layers;
    this.data = new Float64Array(this.width * 64);
  }

  /** Appends the event's row and returns its index. */
  add(e: StepEvent): number {
    const w = this.width;
    if ((this.count + 1) * w > this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    const d = this.data;
    const o = this.count * w;
    d[o] = e.step;
    d[o + 1] = e.time;
    d[o + 2] = e.loss;
    d[o + 3] = e.batchSize;
    d[o + 4] = e.samples;
    d[o + 5] = e.lr;
    d[o + 6] = e.durationMs;
    d[o + 7] = e.applied ? 1 : 0;
    d[o + 8] = e.queueDepth;
    d[o + 9] = e.dropped;
    for (let l = 0; l < e.gradNorms.length; l++) d[o + STEP_COLUMNS.length + l] = e.gradNorms[l]!;
    return this.count++;
  }

  /** The rows so far, as a buffer of their own (to transfer); starts again empty. */
  take(): Float64Array {
    const rows = this.data.slice(0, this.count * this.width);
    this.count = 0;
    return rows;
  }
}

function run(port: NonNullable<typeof parentPort>, init: WorkerInit): void {
  const trainer = createTrainer(init.config);
  const intake = new Intake<number>(trainer, init.queueCapacity);
  const rows = new StepRows(trainer.model.layers.length);
  let items: (Item | number)[] = [];
  let pending = false;
  /** Only the counters changed (a chunk now waits for room): they go with the next flush, or soon. */
  let stale = false;
  let finished = false;
  const flush = (): void => {
    pending = false;
    stale = false;
    const steps = rows.take();
    const out: Flush = {
      items,
      steps,
      state: { steps: trainer.steps, samples: trainer.samples, paused: trainer.paused, queueDepth: trainer.queueDepth + intake.count, dropped: trainer.dropped, batchSize: trainer.batchSize },
    };
    items = [];
    port.postMessage(out, [steps.buffer as ArrayBuffer]);
  };
  /** Items go at the end of the callback that produced them (a microtask): acks and answers at once, one message per slice. */
  const add = (item: Item | number): void => {
    items.push(item);
    if (!pending) {
      pending = true;
      queueMicrotask(flush);
    }
  };
  /**
   * Counters alone can wait for the flush of the slice that follows (while streaming, a chunk
   * arrives about every slice and waits: a message of its own for each would double the
   * messages); when nothing trains, they go on the next turn of the loop.
   */
  const touch = (): void => {
    if (stale || pending) return;
    stale = true;
    setImmediate(() => {
      if (stale && !pending) flush();
    });
  };
  const finish = (item: Item): void => {
    finished = true;
    add(item);
  };
  // the main thread announced `started` itself when it created the session (TrainerThread.start)
  let announced = false;
  trainer.events$.subscribe({
    next: (event) => {
      if (event.type === 'step') add(rows.add(event));
      else if (!announced && event.type === 'lifecycle' && event.state === 'started') announced = true;
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
      case 'offer': {
        const ticket = m.ticket;
        intake.offer(ticket, m.batch, {
          accepted: () => add({ k: 'accepted', ticket }),
          rejected: (e) => add({ k: 'rejected', ticket, error: threadError(e) }),
          consumed: (step) => add({ k: 'consumed', ticket, step }),
        });
        touch(); // the main thread's queueDepth counts a chunk waiting for room
        return;
      }
      case 'withdraw': {
        const gone = new Set(m.tickets);
        intake.withdraw((t) => gone.has(t));
        touch();
        return;
      }
      case 'call':
        try {
          if (finished) throw new LivegradError('E_SESSION_CLOSED', `Expected an open session, got "${trainer.session}" ended`);
          add({ k: 'reply', id: m.id, value: answer(trainer, m) });
        } catch (e) {
          add({ k: 'refused', id: m.id, error: threadError(e) });
        }
        return;
      case 'end':
        intake.end();
        return;
      case 'close':
        intake.close(m.reason);
        return;
    }
  });
}

if (parentPort) run(parentPort, workerData as WorkerInit);

