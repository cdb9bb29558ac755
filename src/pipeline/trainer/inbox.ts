/**
 * Everything a trainer has been given, in the order it was given: the one place that order is
 * kept. Three lists:
 *
 *   waiting    offers in arrival order, not yet admitted: samples wait here for room, and a
 *              control or an ordered call behind them waits its turn
 *   queue      admitted entries in order: whole batches (cut by the re-batcher), controls, calls
 *   scheduled  controls that name a later `atStep`, by step: they leave the order when they come
 *              (that is what `atStep` asks for)
 *
 * Admission moves the front of `waiting` into `queue` while it can: a chunk needs room (fewer
 * than capacity × batchSize rows admitted and not yet trained, the rows held back for a partial
 * batch included), a control or a call needs none. A chunk is checked as it is admitted (shape,
 * finiteness, labels, and the session's layout of `y`); a bad one is refused alone and the next
 * one goes on. A control that changes how rows train (`set`, `reset`) is a batch boundary: rows
 * held back before it are cut into a shorter batch first, so that it applies after every row
 * given before it and before every row given after it. A one-step chunk is a boundary too, then
 * one batch of its own rows.
 *
 * Tickets: each admitted chunk's `consumed` handler waits for the step that trains its last row.
 *
 * Replies keep the order too: a chunk is admitted (its rows cut into batches) as soon as there is
 * room, but its `accepted` / `rejected` waits until every control and call admitted before it has
 * taken effect, so that what the giver hears comes in the order it gave.
 */
import { LivegradError } from '../../errors.js';
import { checkBatchRows, type Batch } from '../../nn/batch.js';
import type { MlpShape } from '../../nn/mlp.js';
import type { Control } from '../controls.js';
import { MAX_BATCH_SIZE } from '../limits.js';
import { JoinedBatch, Rebatcher } from '../rebatch.js';
import type { CheckpointEntry, TrainerCheckpoint } from './checkpoint.js';
import { Fifo } from './fifo.js';
import type { Journal } from './journal.js';

/** What the giver of a chunk hears about it. */
export interface OfferHandlers {
  /** Admitted: its rows will train, in order (unless the trainer closes first). Told once the controls and calls given before it have taken effect. */
  accepted(): void;
  /** Refused, and nothing of it kept: E_SHAPE, E_NON_FINITE, E_LABEL_RANGE, E_SESSION_CLOSED. */
  rejected(error: LivegradError): void;
  /** Its last row trained in `step`; undefined: the queue dropped it (policy `dropOldest`). */
  consumed(step: number | undefined): void;
}

/** What the giver of a control hears about it. */
export interface ControlHandlers {
  /** It names a later step: it left the order and will take effect after `atStep` steps. */
  scheduled?(atStep: number): void;
  /** It took effect after `step` steps (the step its `control` event carries). */
  applied(step: number): void;
  /** The trainer ended before it took effect (E_SESSION_CLOSED). */
  refused(error: LivegradError): void;
}

/** A call that runs at its turn: once every row given before it has trained, in whole batches. */
export interface TurnHandlers {
  run(): void;
  refused(error: LivegradError): void;
}

export interface OfferOptions {
  /** Train the chunk's rows as exactly one step of their own, whatever the batch size. */
  readonly step?: boolean;
  /** Whose offer this is, for `withdraw`. */
  readonly owner?: unknown;
  /** What a journal records of where the chunk came from (a server: producer and seq). */
  readonly tag?: unknown;
}

export type Queued =
  | { readonly kind: 'batch'; readonly batch: Batch; readonly m: number; readonly endRow: number; readonly made: boolean }
  | { readonly kind: 'control'; readonly control: Control; readonly handlers: ControlHandlers | undefined }
  | { readonly kind: 'turn'; readonly handlers: TurnHandlers };

type Waiting =
  | { readonly kind: 'chunk'; readonly chunk: Batch; readonly options: OfferOptions; readonly handlers: OfferHandlers }
  | { readonly kind: 'control'; readonly control: Control; readonly handlers: ControlHandlers | undefined }
  | { readonly kind: 'turn'; readonly handlers: TurnHandlers };

interface Scheduled {
  readonly atStep: number;
  readonly control: Control;
  readonly handlers: ControlHandlers | undefined;
}

/** A chunk's `accepted` / `rejected` (`error`), held until the controls and calls admitted before it, numbered below `after`, have taken effect. */
interface Reply {
  readonly after: number;
  readonly handlers: OfferHandlers;
  readonly error: LivegradError | undefined;
}

interface Ticket {
  readonly endRow: number;
  readonly consumed: (step: number | undefined) => void;
}

/** `pause` then rows: a `resume` or `step` behind the rows is taken out of the order (see Trainer.control). */
function isFlow(c: Control): boolean {
  return c.action === 'resume' || c.action === 'step';
}

/** Controls after which a row trains differently: rows before them never share a batch with rows after them. */
function isBoundary(c: Control): boolean {
  return c.action === 'set' || c.action === 'reset';
}

const NONE_DUE: readonly Scheduled[] = [];

export class Inbox {
  readonly queue = new Fifo<Queued>();
  private readonly waiting = new Fifo<Waiting>();
  private scheduled: Scheduled[] = [];
  private readonly tickets = new Fifo<Ticket>();
  private readonly replies = new Fifo<Reply>();
  /** Controls and calls admitted to the queue, numbered in order; every one numbered below `passedBelow` has taken effect, and so have those in `passedAhead`. */
  private admittedOrdered = 0;
  private passedBelow = 0;
  private readonly passedAhead = new Set<number>();
  private readonly rebatcher: Rebatcher;
  /** Rows admitted, and rows cut into batches (admitted minus what the re-batcher holds). */
  private rowsIn = 0;
  private batchEnd = 0;
  /** Rows and batches in the queue. */
  private queuedRows = 0;
  private queuedBatches = 0;
  /** The layout of `y`, fixed by the first chunk admitted: class indices [m] or rows of targets [m, outputs]. */
  private labels: boolean | undefined;

  /**
   * @param journal  told of every chunk and control as it enters the order (before it is held), with `steps()` then.
   */
  constructor(
    private readonly shape: MlpShape,
    batchSize: number,
    private readonly capacity: number,
    private readonly journal: Journal | undefined,
    private readonly steps: () => number,
  ) {
    this.rebatcher = new Rebatcher(batchSize);
  }

  /** The batch size rows admitted from now on are cut to. */
  get batchSize(): number {
    return this.rebatcher.batchSize;
  }

  /** Batches admitted and not yet trained. */
  get batches(): number {
    return this.queuedBatches;
  }

  /** Offers waiting to be admitted (samples, and controls or calls behind them). */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /** Rows admitted and not yet trained, those held back for a partial batch included. */
  get pendingRows(): number {
    return this.queuedRows + this.rebatcher.pending;
  }

  /** push(): true when the batches a chunk of `m` rows would complete fit in the queue's capacity. */
  fits(m: number): boolean {
    return this.queuedBatches + Math.floor((this.rebatcher.pending + m) / this.rebatcher.batchSize) <= this.capacity;
  }

  /**
   * True when a chunk of `m` rows needs exactly one step's room and the order holds nothing but
   * batches (no control or call queued or waiting, no offer waiting, no control scheduled): the
   * front batch trains, and nothing else can take effect before it.
   */
  oneStepMakesRoom(m: number, capacity: number): boolean {
    const completes = Math.floor((this.rebatcher.pending + m) / this.rebatcher.batchSize);
    return (
      this.queuedBatches > 0 && this.queuedBatches + completes === capacity + 1 && this.queue.length === this.queuedBatches &&
      this.waiting.length === 0 && this.scheduled.length === 0
    );
  }

  /** Nothing waits to be admitted and no scheduled control is due at `steps`: admitting would change nothing now. */
  quiet(steps: number): boolean {
    return this.waiting.length === 0 && (this.scheduled.length === 0 || this.scheduled[0]!.atStep > steps);
  }

  /** offer(): true when a chunk of any size may be admitted now (so an idle trainer always has room). */
  get hasRoom(): boolean {
    return this.pendingRows < this.capacity * this.rebatcher.batchSize;
  }

  /** Nothing admitted, waiting or held back (scheduled controls aside). */
  get empty(): boolean {
    return this.queue.length === 0 && this.waiting.length === 0 && this.rebatcher.pending === 0;
  }

  /** Throws LivegradError (E_SHAPE, E_NON_FINITE, E_LABEL_RANGE) unless the chunk may train in this session; returns its rows. */
  check(chunk: Batch, oneStep: boolean): number {
    const m = checkBatchRows(this.shape, chunk);
    const labels = chunk.y.shape.length === 1;
    if (this.labels !== undefined && labels !== this.labels) {
      const nout = this.shape.layers[this.shape.layers.length - 1]!.nout;
      const want = this.labels ? `class indices [m]` : `rows of targets [m, ${nout}]`;
      throw new LivegradError('E_SHAPE', `Expected y as this session's targets, ${want} (fixed by its first samples), got [${chunk.y.shape.join(', ')}]`);
    }
    if (oneStep && m > MAX_BATCH_SIZE) throw new LivegradError('E_SHAPE', `Expected a one-step chunk of at most ${MAX_BATCH_SIZE} rows, got ${m}`);
    return m;
  }

  offer(chunk: Batch, handlers: OfferHandlers, options: OfferOptions): void {
    this.waiting.push({ kind: 'chunk', chunk, options, handlers });
  }

  /** A control in order. */
  control(control: Control, handlers: ControlHandlers | undefined): void {
    this.waiting.push({ kind: 'control', control, handlers });
  }

  /** Controls scheduled for a later step. */
  get scheduledCount(): number {
    return this.scheduled.length;
  }

  /** A control for step `atStep` (later than now): it leaves the order and waits for that step. */
  schedule(control: Control, atStep: number, handlers: ControlHandlers | undefined): void {
    this.journal?.control(control, { steps: this.steps(), atStep, flow: false });
    this.scheduled.push({ atStep, control, handlers });
    // stable: controls for the same step keep the order they came in
    this.scheduled.sort((a, b) => a.atStep - b.atStep);
    handlers?.scheduled?.(atStep);
  }

  turn(handlers: TurnHandlers): void {
    this.waiting.push({ kind: 'turn', handlers });
  }

  /**
   * Admits from the front of `waiting` while it can (`force`: room or not, as at the end).
   */
  admit(force: boolean): void {
    for (let w = this.waiting.at(0); w !== undefined; w = this.waiting.at(0)) {
      if (w.kind === 'chunk') {
        if (!force && !this.hasRoom) return;
        this.waiting.shift();
        let m: number;
        try {
          m = this.check(w.chunk, w.options.step === true);
        } catch (e) {
          this.reply(w.handlers, e as LivegradError);
          continue;
        }
        this.take(w.chunk, m, w.options.step === true, w.handlers.consumed, w.options.tag);
        this.reply(w.handlers, undefined);
      } else {
        this.waiting.shift();
        // numbered, so that the chunks admitted after it reply once it has taken effect
        const n = this.admittedOrdered++;
        if (w.kind === 'turn') {
          const h = w.handlers;
          const run = (): void => {
            h.run();
            this.passed(n);
          };
          this.queue.push({ kind: 'turn', handlers: { run, refused: (e) => h.refused(e) } });
        } else {
          const h = w.handlers;
          const applied = (step: number): void => {
            h?.applied(step);
            this.passed(n);
          };
          this.admitControl(w.control, { applied, refused: (e) => h?.refused(e) });
        }
      }
    }
  }

  /** Tells the giver of an admitted (or refused) chunk now, or once the controls and calls admitted before it have taken effect. */
  private reply(handlers: OfferHandlers, error: LivegradError | undefined): void {
    const after = this.admittedOrdered;
    if (this.replies.length > 0 || this.passedBelow < after) {
      this.replies.push({ after, handlers, error });
      return;
    }
    if (error === undefined) handlers.accepted();
    else handlers.rejected(error);
  }

  /** Ordered control or call `n` has taken effect: the chunk replies no longer behind an earlier one go out. */
  private passed(n: number): void {
    this.passedAhead.add(n);
    while (this.passedAhead.delete(this.passedBelow)) this.passedBelow++;
    for (let r = this.replies.at(0); r !== undefined && r.after <= this.passedBelow; r = this.replies.at(0)) {
      this.replies.shift();
      if (r.error === undefined) r.handlers.accepted();
      else r.handlers.rejected(r.error);
    }
  }

  /** Admits a checked chunk at the end of the order now (push()); `consumed` as for offer. */
  take(chunk: Batch, m: number, oneStep: boolean, consumed: ((step: number | undefined) => void) | undefined, tag?: unknown): void {
    if (this.journal) {
      // its first row trains in the next batch to be cut: after the queued ones (and, for a one-step chunk, after the held rows' own)
      const firstStep = this.steps() + this.queuedBatches + (oneStep && this.rebatcher.pending > 0 ? 1 : 0) + 1;
      this.journal.samples(chunk, { steps: this.steps(), firstStep, rows: m, oneStep, tag });
    }
    this.labels ??= chunk.y.shape.length === 1;
    if (oneStep) this.cutRemainder();
    this.rowsIn += m;
    if (consumed) this.tickets.push({ endRow: this.rowsIn, consumed });
    if (oneStep) this.enqueue(chunk, false);
    else this.rebatcher.push(chunk, this.enqueue, this.enqueueJoined);
  }

  private admitControl(control: Control, handlers: ControlHandlers | undefined): void {
    this.journal?.control(control, { steps: this.steps(), atStep: undefined, flow: false });
    if (isBoundary(control)) this.cutRemainder();
    if (control.action === 'set' && control.batchSize !== undefined) this.rebatcher.setBatchSize(control.batchSize);
    this.queue.push({ kind: 'control', control, handlers });
  }

  /** Rows held back go into the queue as a last, shorter batch (a boundary, or the end). */
  cutRemainder(): void {
    this.rebatcher.flush(this.enqueue, this.enqueueJoined);
  }

  /** `made`: the re-batcher's own copy, handed back to it once trained (`recycle`). */
  private readonly enqueue = (batch: Batch, made: boolean, m = batch.x.shape[0]!): void => {
    this.batchEnd += m;
    this.queuedRows += m;
    this.queuedBatches++;
    this.queue.push({ kind: 'batch', batch, m, endRow: this.batchEnd, made });
  };

  /**
   * A batch of rows from several chunks, queued uncopied (a JoinedBatch): the trainer copies its
   * rows once, into the stepper's input, rather than once here and again there.
   */
  private readonly enqueueJoined = (batch: JoinedBatch): void => this.enqueue(batch, false, batch.rows);

  /** Removes the front entry; a batch is the caller's to train, then `trained` (or `dropped`). */
  shift(): Queued | undefined {
    const q = this.queue.shift();
    if (q?.kind === 'batch') {
      this.queuedRows -= q.m;
      this.queuedBatches--;
    }
    return q;
  }

  /** A batch has trained in `step`: the chunks whose last row it held hear `consumed`. */
  trained(q: Queued & { kind: 'batch' }, step: number): void {
    this.settle(q.endRow, step);
  }

  /** Hands a trained batch's arrays back to the re-batcher, once nothing reads them any more. */
  recycle(q: Queued & { kind: 'batch' }): void {
    if (q.made) this.rebatcher.recycle(q.batch);
  }

  /** Drops the oldest queued batch (policy dropOldest); false when there is none. */
  dropOldest(): boolean {
    const q = this.queue.take((e) => e.kind === 'batch');
    if (q?.kind !== 'batch') return false;
    this.queuedRows -= q.m;
    this.queuedBatches--;
    this.settle(q.endRow, undefined);
    return true;
  }

  private settle(upToRow: number, step: number | undefined): void {
    for (let t = this.tickets.at(0); t !== undefined && t.endRow <= upToRow; t = this.tickets.at(0)) {
      this.tickets.shift();
      t.consumed(step);
    }
  }

  /** The scheduled controls due at `steps`, in order, taken out. */
  due(steps: number): readonly Scheduled[] {
    // (none due is the rule, checked between every two steps: no new empty array for it)
    if (this.scheduled.length === 0 || this.scheduled[0]!.atStep > steps) return NONE_DUE;
    const i = this.scheduled.findIndex((s) => s.atStep > steps);
    return this.scheduled.splice(0, i === -1 ? this.scheduled.length : i);
  }

  /**
   * The first `resume` or `step` anywhere in the order, taken out: a paused trainer cannot reach
   * one that waits behind rows it may not train.
   */
  takeFlow(): { control: Control; handlers: ControlHandlers | undefined } | undefined {
    const q = this.queue.take((e) => e.kind === 'control' && isFlow(e.control));
    if (q?.kind === 'control') return q;
    const w = this.waiting.take((e) => e.kind === 'control' && isFlow(e.control));
    if (w?.kind !== 'control') return undefined;
    this.journal?.control(w.control, { steps: this.steps(), atStep: undefined, flow: true });
    return w;
  }

  /** Forgets the chunks of `owner` still waiting (their giver went away): they hear nothing more. */
  withdraw(owner: unknown): void {
    this.waiting.filter((w) => w.kind !== 'chunk' || w.options.owner !== owner);
  }

  /**
   * Empties everything: queued rows are dropped unheard (their `consumed` never comes), waiting
   * chunks are rejected, controls and calls not yet applied are refused, all with `error`.
   */
  clear(error: LivegradError): void {
    const waiting = this.waiting.clear();
    const queued = this.queue.clear();
    const scheduled = this.scheduled;
    const replies = this.replies.clear();
    this.scheduled = [];
    this.queuedRows = 0;
    this.queuedBatches = 0;
    this.tickets.clear();
    for (const w of waiting) {
      if (w.kind === 'chunk') w.handlers.rejected(error);
      else w.handlers?.refused(error);
    }
    for (const q of queued) if (q.kind !== 'batch') q.handlers?.refused(error);
    // admitted, their rows now dropped: never acknowledged
    for (const r of replies) r.handlers.rejected(r.error ?? error);
    for (const s of scheduled) s.handlers?.refused(error);
  }

  /** The admitted state, copied, for a checkpoint: what is queued (calls left out), the rows held back, the scheduled controls. */
  checkpoint(): Pick<TrainerCheckpoint, 'batchSize' | 'labels' | 'queue' | 'held' | 'scheduled'> {
    const queue: CheckpointEntry[] = [];
    for (let i = 0; i < this.queue.length; i++) {
      const q = this.queue.at(i)!;
      if (q.kind === 'batch') queue.push({ kind: 'batch', batch: { x: { ...q.batch.x, data: q.batch.x.data.slice() }, y: { ...q.batch.y, data: q.batch.y.data.slice() } } });
      else if (q.kind === 'control') queue.push({ kind: 'control', control: q.control });
    }
    return { batchSize: this.batchSize, labels: this.labels, queue, held: this.rebatcher.held(), scheduled: this.scheduled.map((s) => ({ atStep: s.atStep, control: s.control })) };
  }

  /** Continues from a checkpoint's admitted state (a new inbox: nothing given yet). Its batches and rows are taken as they are, not copied. */
  restore(cp: Pick<TrainerCheckpoint, 'batchSize' | 'labels' | 'queue' | 'held' | 'scheduled'>): void {
    this.labels = cp.labels;
    this.rebatcher.setBatchSize(cp.batchSize);
    for (const e of cp.queue) {
      if (e.kind === 'batch') {
        this.rowsIn += e.batch.x.shape[0]!;
        this.enqueue(e.batch, false);
      } else {
        this.queue.push({ kind: 'control', control: e.control, handlers: undefined });
      }
    }
    if (cp.held) {
      this.rowsIn += cp.held.x.shape[0]!;
      this.rebatcher.push(cp.held, this.enqueue, this.enqueueJoined);
    }
    this.scheduled = cp.scheduled.map((s) => ({ atStep: s.atStep, control: s.control, handlers: undefined }));
  }

  /** Refuses the scheduled controls whose step never came (the trainer finished first). */
  refuseScheduled(error: (atStep: number) => LivegradError): void {
    const scheduled = this.scheduled;
    this.scheduled = [];
    for (const s of scheduled) s.handlers?.refused(error(s.atStep));
  }
}
