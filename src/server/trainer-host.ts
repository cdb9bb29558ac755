/**
 * The trainer's side of a server session: builds the trainer from its config, gives it the
 * session's messages in the order they came (thread-messages.ts: ToHost), and sends back
 * everything it produces — events, acceptances, consumed steps, answers — in order, as one
 * `Flush` at the end of the callback that produced it (a microtask): one message per training
 * slice, and an ack or an answer at once, not after the next slice (which may be one long step).
 *
 * The same host runs on a session's thread (trainer-worker.ts: flushes are posted to the main
 * thread) and inline on the main thread (session-trainer.ts: flushes are handed over directly).
 * That is the only difference between the two training modes.
 */
import { LivegradError } from '../errors.js';
import { createTrainer, type Trainer } from '../pipeline/trainer/trainer.js';
import { createRecorder, type SessionRecorder } from '../record/recorder.js';
import { StepRows, type Answers, type Flush, type HostError, type HostInit, type Item, type ToHost } from './thread-messages.js';

function hostError(e: unknown): HostError {
  if (e instanceof LivegradError) return { code: e.code, message: e.message };
  if (e instanceof Error) return { code: undefined, message: e.message, stack: e.stack };
  return { code: undefined, message: String(e) };
}

/** The longest training slice of a recorded session, ms (an unrecorded one: the trainer's default, 4). */
const RECORDED_SLICE_MS = 2;

export class TrainerHost {
  private readonly trainer: Trainer;
  private readonly rows: StepRows;
  private items: (Item | number)[] = [];
  private pending = false;
  /** Only the counters changed (a chunk now waits for room): they go with the next flush, or soon. */
  private stale = false;
  private finished = false;
  /** The session's log, when it is recorded. */
  private readonly recorder: SessionRecorder | undefined;
  /** Flushes wait their turn here for the records before them to be durable (acks are sent only for what is on disk). */
  private sending: Promise<void> = Promise.resolve();

  /**
   * @param send  takes each flush; `transfer` lists the buffers it may move rather than copy.
   * Throws what createTrainer throws for a bad config (the main thread has checked it first).
   */
  constructor(
    init: HostInit,
    private readonly send: (flush: Flush, transfer: ArrayBuffer[]) => void,
  ) {
    // NOTE: a recorded session trains in shorter slices: each step of a log round (write, fsync) and
    // so each ack waits for the training thread's loop to turn, once per slice
    const sliceMs = init.record ? Math.min(init.config.sliceMs ?? RECORDED_SLICE_MS, RECORDED_SLICE_MS) : init.config.sliceMs;
    const config = { ...init.config, queue: { capacity: init.queueCapacity }, ...(sliceMs === undefined ? {} : { sliceMs }) };
    this.recorder = init.record ? createRecorder(init.record.dir, config, init.record.options) : undefined;
    this.trainer = createTrainer({ ...config, ...(init.restore ? { restore: init.restore } : {}), ...(this.recorder ? { journal: this.recorder.journal } : {}) });
    this.rows = new StepRows(this.trainer.model.layers.length);
    if (this.recorder) {
      this.recorder.attach(this.trainer);
      // a log that cannot be written stops the session: nothing more is acknowledged
      this.recorder.onFailure((e) => this.trainer.abort(e));
    }
    // the main thread announces `started` itself when it creates the session (SessionTrainer.start)
    let announced = false;
    this.trainer.events$.subscribe({
      next: (event) => {
        if (event.type === 'step') this.add(this.rows.add(event));
        else if (!announced && event.type === 'lifecycle' && event.state === 'started') announced = true;
        else this.add({ k: 'event', event });
      },
      // the log is closed (its last checkpoint written) before the main thread hears of the end
      complete: () => this.closeLog().then(() => this.finish({ k: 'completed' }), (e: unknown) => this.finish({ k: 'failed', error: hostError(e) })),
      // (a log that failed has its failure in `e` already)
      error: (e: unknown) => void this.closeLog().then(
        () => this.finish({ k: 'failed', error: hostError(e) }),
        () => this.finish({ k: 'failed', error: hostError(e) }),
      ),
    });
    if (!init.restore) this.trainer.start();
    this.add({ k: 'ready' });
  }

  handle(m: ToHost): void {
    const t = this.trainer;
    if (this.finished) {
      // the main thread has already been told the trainer ended: it answers what it still sends
      return;
    }
    switch (m.op) {
      case 'offer': {
        const ticket = m.ticket;
        t.offer(
          m.batch,
          {
            accepted: () => this.add({ k: 'accepted', ticket }),
            rejected: (e) => this.add({ k: 'rejected', ticket, error: hostError(e) }),
            consumed: (step) => {
              // the server's trainer never drops (policy dropOldest is the library's): step is a number
              if (step !== undefined) this.add({ k: 'consumed', ticket, step });
            },
          },
          { step: m.step, owner: m.producer, tag: m.tag },
        );
        this.touch(); // the main thread's queueDepth counts a chunk waiting for room
        return;
      }
      case 'withdraw':
        t.withdraw(m.producer);
        this.touch();
        return;
      case 'control': {
        // answered when it takes effect, at its turn; a control scheduled for a later step at once
        let answered = false;
        const answer = (step: number): void => {
          if (answered) return;
          answered = true;
          this.answer(m.id, { step } satisfies Answers['control']);
        };
        try {
          t.control(m.control, m.atStep, { scheduled: answer, applied: answer, refused: (e) => this.refuse(m.id, e) });
        } catch (e) {
          this.refuse(m.id, e);
        }
        return;
      }
      case 'predict':
        this.turn(m.id, m.now, () => t.predict(m.x) satisfies Answers['predict']);
        return;
      case 'snapshot':
        this.turn(m.id, m.now, (): Answers['snapshot'] => {
          const { model, state, step, samples } = t.snapshot();
          const config = t.config;
          return { model, state, step, samples, config: { ...config, optimizer: { ...config.optimizer } }, batchSize: t.batchSize };
        });
        return;
      case 'end':
        t.end({ resume: m.resume });
        return;
      case 'close':
        t.close(m.reason);
        return;
      case 'suspend':
        // the state now is the log's last checkpoint; the close after it is not recorded
        void this.recorder?.suspend().catch(() => undefined); // a failed log has failed the trainer already
        t.close(m.reason);
        return;
    }
  }

  private closeLog(): Promise<void> {
    return this.recorder ? this.recorder.close() : Promise.resolve();
  }

  /** Answers `id` with `run()` now, or at its turn in the order. */
  private turn(id: number, now: boolean, run: () => Answers[keyof Answers]): void {
    const answer = (): void => {
      try {
        this.answer(id, run());
      } catch (e) {
        this.refuse(id, e);
      }
    };
    if (now) answer();
    else this.trainer.inOrder({ run: answer, refused: (e) => this.refuse(id, e) });
  }

  private answer(id: number, value: Answers[keyof Answers]): void {
    this.add({ k: 'answer', id, value });
  }

  private refuse(id: number, e: unknown): void {
    this.add({ k: 'refused', id, error: hostError(e) });
  }

  private finish(item: Item): void {
    this.finished = true;
    this.add(item);
  }

  /** Items go at the end of the callback that produced them (a microtask): acks and answers at once, one message per slice. */
  private add(item: Item | number): void {
    this.items.push(item);
    if (!this.pending) {
      this.pending = true;
      queueMicrotask(this.flush);
    }
  }

  /**
   * Counters alone can wait for the flush of the slice that follows (while streaming, a chunk
   * arrives about every slice and waits: a message of its own for each would double the
   * messages); when nothing trains, they go on the next turn of the loop.
   */
  private touch(): void {
    if (this.stale || this.pending) return;
    this.stale = true;
    setImmediate(() => {
      if (this.stale && !this.pending) this.flush();
    });
  }

  private readonly flush = (): void => {
    this.pending = false;
    this.stale = false;
    const t = this.trainer;
    const steps = this.rows.take();
    const items = this.items;
    this.items = [];
    const flush: Flush = { items, steps, state: { steps: t.steps, samples: t.samples, paused: t.paused, queueDepth: t.queueDepth, batchSize: t.batchSize } };
    const transfer = [steps.buffer as ArrayBuffer];
    if (!this.recorder) {
      this.send(flush, transfer);
      return;
    }
    // in order, each once every record appended before it is durable; after a write failure,
    // without the acks, consumed steps and answers it held (the failure follows, and rejects them)
    const durable = this.recorder.durable();
    durable.catch(() => undefined); // handled below, once the flushes before it are out
    this.sending = this.sending
      .then(() => durable)
      .then(
        () => this.send(flush, transfer),
        () => this.send({ ...flush, items: items.filter((i) => typeof i === 'number' || (i.k !== 'accepted' && i.k !== 'consumed' && i.k !== 'answer')) }, transfer),
      );
  };
}
