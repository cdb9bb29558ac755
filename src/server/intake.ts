/**
 * A session's intake, on the trainer's own thread (the training thread's, or the main thread's
 * for an inline trainer): chunks offered by producers wait here until the trainer has room, then
 * go in (`accepted`: the producer's ack), and `consumed` follows once their last row is trained.
 *
 * Room means fewer than `capacity × batchSize` rows handed to the trainer and not yet trained.
 * Rows held back in a partial batch count, but there are always fewer than `batchSize` of them,
 * so an idle trainer always has room: acceptance never waits for rows that only the producer's
 * next message could bring, and credits cannot deadlock. While the trainer is paused nothing
 * trains, offers wait, and producers run out of credit: that is the back-pressure.
 *
 * The intake runs beside the trainer, not on the far side of a thread hand-off, so that room is
 * known exactly after every step: a waiting chunk goes in the moment the step that makes room
 * for it ends, inside the same training slice. (Deciding it on the main thread, from counters
 * the thread reports once per slice, left the thread idle waiting for the next chunk: 13 % of the
 * time with the default capacity of 16 batches, streaming W2.)
 */
import { LivegradError } from '../errors.js';
import type { Batch } from '../nn/batch.js';
import type { Trainer } from '../pipeline/trainer.js';
import type { PushHandlers } from './session-trainer.js';

interface Waiting<K> {
  readonly key: K;
  readonly batch: Batch;
  readonly rows: number;
  readonly handlers: PushHandlers;
}

export class Intake<K> {
  private waiting: (Waiting<K> | undefined)[] = [];
  private head = 0;
  /** Rows handed to the trainer (refused ones taken back), and the trainer's samples when this began. */
  private rowsPushed = 0;
  private readonly samples0: number;
  private pumping = false;
  private ending = false;

  /** @param capacity  in batches of the trainer's current `batchSize` */
  constructor(
    private readonly trainer: Trainer,
    private readonly capacity: number,
  ) {
    this.samples0 = trainer.samples;
    trainer.events$.subscribe({
      next: (e) => {
        if (e.type === 'step' && this.head < this.waiting.length) this.pump();
      },
      complete: () => this.refuseWaiting(),
      error: () => this.refuseWaiting(),
    });
  }

  /** Chunks waiting for room. */
  get count(): number {
    return this.waiting.length - this.head;
  }

  /** A chunk from a producer (`key` names it for `withdraw`): handed to the trainer now if there is room, else once there is. */
  offer(key: K, batch: Batch, handlers: PushHandlers): void {
    if (this.trainer.done || this.ending) {
      handlers.rejected(this.closed('the samples were accepted'));
      return;
    }
    this.waiting.push({ key, batch, rows: batch.x.shape[0]!, handlers });
    this.pump();
  }

  /** Forgets the waiting chunks whose key `gone` matches (their producer went away): they hear nothing more. */
  withdraw(gone: (key: K) => boolean): void {
    const kept = this.waiting.slice(this.head).filter((w) => w !== undefined && !gone(w.key));
    this.waiting = kept;
    this.head = 0;
  }

  /** No more input: everything waiting goes in, room or not, then the trainer trains it all and completes. */
  end(): void {
    if (this.ending) return;
    this.ending = true;
    this.pump(true);
    this.trainer.end();
  }

  /** Stops at the current batch boundary; waiting chunks are refused (E_SESSION_CLOSED). */
  close(reason: string): void {
    this.ending = true;
    this.trainer.close(reason);
    this.refuseWaiting();
  }

  private room(): boolean {
    const pending = this.rowsPushed - (this.trainer.samples - this.samples0);
    return pending < this.capacity * this.trainer.batchSize;
  }

  private pump(force = false): void {
    if (this.pumping) return; // a trainer that trains inside push() (sliceMs Infinity) reports a step here: the loop below goes on
    this.pumping = true;
    try {
      while (this.head < this.waiting.length && (force || this.room()) && !this.trainer.done) {
        const w = this.waiting[this.head]!;
        this.waiting[this.head++] = undefined;
        this.take(w);
      }
      if (this.head === this.waiting.length) {
        this.waiting = [];
        this.head = 0;
      }
    } finally {
      this.pumping = false;
    }
  }

  private take(w: Waiting<K>): void {
    try {
      this.trainer.push(w.batch, (step) => {
        // the server's trainer queue never drops (policy error, unbounded): step is always a number
        if (step !== undefined) w.handlers.consumed(step);
      });
    } catch (e) {
      w.handlers.rejected(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    this.rowsPushed += w.rows;
    w.handlers.accepted();
  }

  private refuseWaiting(): void {
    const refused = this.waiting.slice(this.head);
    this.waiting = [];
    this.head = 0;
    for (const w of refused) w?.handlers.rejected(this.closed('the samples were accepted'));
  }

  private closed(what: string): LivegradError {
    return new LivegradError('E_SESSION_CLOSED', `Expected an open session, got "${this.trainer.session}" ended before ${what}`);
  }
}
