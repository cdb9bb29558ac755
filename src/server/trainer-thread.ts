/**
 * A session's trainer on its own thread (a `worker_threads` Worker running trainer-worker.ts),
 * seen from the server's main thread. The main thread keeps the sockets: it reads and validates
 * frames, acknowledges, fans events out; the thread trains. On a machine with two or more cores
 * the two run at once, and a long step never delays a heartbeat, a subscriber or another client.
 *
 * What the main thread needs to know synchronously it mirrors from what the thread reports, in
 * the order it happened: `steps` and `samples` from `step` events, `paused` from lifecycle
 * events, the rest from the counters at the end of each flush. Everything else is a message: a
 * chunk is offered with callbacks (accepted, rejected, consumed; it waits for room in the
 * thread's intake, beside the trainer), and control, predict and
 * snapshot are calls answered with a promise. The thread handles messages in the order they were
 * sent, so a control sent after a chunk is taken after that chunk, as in the same thread.
 *
 * The config is checked on the main thread first (`checkTrainConfig`, which builds nothing: a
 * spec's weights are initialised on the thread), so a bad config is a synchronous error, never a
 * thread that dies on start, and a large model never holds up the main thread.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker, type Transferable } from 'node:worker_threads';
import { Subject, type Observable } from 'rxjs';
import { LivegradError, type ErrorCode } from '../errors.js';
import type { LossName } from '../nn/losses.js';
import { shapeOf, type MlpShape } from '../nn/mlp.js';
import type { Batch } from '../nn/batch.js';
import type { FloatArray, Tensor } from '../nn/tensor.js';
import type { StepEvent, TrainEvent } from '../pipeline/events.js';
import { checkTrainConfig, type TrainConfig } from '../pipeline/trainer.js';
import type { PushHandlers, SessionTrainer } from './session-trainer.js';
import { STEP_COLUMNS, type Call, type CallResults, type Flush, type ThreadError, type ThreadSnapshot, type ToWorker, type WorkerInit } from './thread-messages.js';

interface Waiting {
  resolve(value: CallResults[keyof CallResults]): void;
  reject(error: Error): void;
}

const here = import.meta.url;

/** The thread: from the compiled .js beside this file, or (running from the .ts sources under tsx or vitest) through tsx's loader. */
function spawn(init: WorkerInit): Worker {
  if (!here.endsWith('.ts')) return new Worker(new URL('./trainer-worker.js', here), { workerData: init });
  // what `node --import tsx` does, done first thing in the thread (Node 20 does not pass --import hooks on to workers)
  // (tsx's ESM api, found from its package.json: require.resolve would give its CommonJS build)
  const pkg = createRequire(here).resolve('tsx/package.json');
  const exports = (JSON.parse(readFileSync(pkg, 'utf8')) as { exports: Record<string, { import: { default: string } }> }).exports;
  const api = new URL(exports['./esm/api']!.import.default, pathToFileURL(pkg)).href;
  const entry = new URL('./trainer-worker.ts', here).href;
  return new Worker(`import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`, { eval: true, workerData: init });
}

function toError(e: ThreadError): Error {
  if (e.code !== undefined) return new LivegradError(e.code as ErrorCode, e.message);
  const err = new Error(e.message);
  if (e.stack !== undefined) err.stack = e.stack;
  return err;
}

/** A copy of `data` that owns its whole buffer (so it can be transferred), or `data` itself when it already does. */
function owned(data: FloatArray): FloatArray {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer ? data : data.slice();
}

/** The step event in row `o / width` of `rows` (thread-messages.ts: STEP_COLUMNS, then the gradient norms), fields in the trainer's order. */
function stepEvent(session: string, rows: Float64Array, o: number, width: number): StepEvent {
  const gradNorms: number[] = [];
  for (let i = o + STEP_COLUMNS.length; i < o + width; i++) gradNorms.push(rows[i]!);
  return {
    type: 'step',
    session,
    step: rows[o]!,
    time: rows[o + 1]!,
    loss: rows[o + 2]!,
    batchSize: rows[o + 3]!,
    samples: rows[o + 4]!,
    lr: rows[o + 5]!,
    gradNorms,
    durationMs: rows[o + 6]!,
    applied: rows[o + 7] === 1,
    queueDepth: rows[o + 8]!,
    dropped: rows[o + 9]!,
  };
}

export class TrainerThread implements SessionTrainer {
  readonly session: string;
  /** The model's dtype, sizes and activations (`snapshot` has the weights). */
  readonly shape: MlpShape;
  readonly loss: LossName;
  private readonly subject = new Subject<TrainEvent>();
  readonly events$: Observable<TrainEvent> = this.subject.asObservable();
  steps: number;
  samples: number;
  paused = false;
  queueDepth = 0;
  dropped = 0;
  batchSize: number;
  /** True once the trainer has completed or failed (its last event is out). */
  done = false;
  private ending = false;
  private started = false;
  private readonly worker: Worker;
  private readonly offers = new Map<number, { readonly key: object; readonly handlers: PushHandlers; accepted: boolean }>();
  private readonly calls = new Map<number, Waiting>();
  private nextTicket = 0;
  private nextCall = 0;
  private whenReady!: { resolve: () => void; reject: (e: Error) => void };
  /** Resolves once the thread has built its trainer and takes messages (messages sent before wait for it); rejects if it died first. */
  readonly ready: Promise<void> = new Promise<void>((resolve, reject) => {
    this.whenReady = { resolve, reject };
  });

  /**
   * Checks `config` (throwing createTrainer's TypeError / RangeError / LivegradError, without building anything) and starts the thread.
   * @param queueCapacity  batches handed to the trainer and not yet trained, at most (the thread's intake.ts)
   */
  constructor(config: TrainConfig, queueCapacity: number) {
    const checked = checkTrainConfig(config);
    this.session = checked.session;
    this.shape = shapeOf(checked.shape);
    this.loss = checked.loss;
    this.steps = checked.startStep;
    this.samples = checked.startSamples;
    this.batchSize = checked.batchSize;
    this.ready.catch(() => undefined); // a thread that dies early also fails the session: that is reported there
    this.worker = spawn({ config, queueCapacity });
    this.worker.unref();
    this.worker.on('message', (f: Flush) => this.received(f));
    this.worker.on('error', (e) => this.died(e));
    this.worker.on('exit', (code) => {
      if (!this.done) this.died(new Error(`The training thread of session "${this.session}" exited with code ${code}`));
    });
  }

  private post(m: ToWorker, transfer?: readonly Transferable[]): void {
    this.worker.postMessage(m, transfer);
  }

  /**
   * Emits `lifecycle: started` here, at once (as the trainer would on the same thread: a client
   * that subscribes after `created` never sees it live, only through a `fromStep` replay); the
   * thread's own `started` is not sent back.
   */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.subject.next({ type: 'lifecycle', session: this.session, step: this.steps, time: performance.timeOrigin + performance.now(), state: 'started', reason: undefined });
  }

  /**
   * Hands a chunk to the thread, where it waits for room (the caller must not use its arrays
   * afterwards: they may be transferred). Exactly one of accepted / rejected follows, then
   * consumed once it is trained.
   */
  offer(key: object, batch: Batch, handlers: PushHandlers, frame?: ArrayBuffer): void {
    if (this.done) {
      handlers.rejected(new LivegradError('E_SESSION_CLOSED', `Expected an open session, got "${this.session}" ended`));
      return;
    }
    const ticket = this.nextTicket++;
    this.offers.set(ticket, { key, handlers, accepted: false });
    if (frame !== undefined && batch.x.data.buffer === frame && batch.y.data.buffer === frame) {
      // the frame goes as it is: its views arrive as views of the same bytes, nothing copied
      this.post({ op: 'offer', ticket, batch }, [frame]);
      return;
    }
    const x: Tensor = { ...batch.x, data: owned(batch.x.data) };
    const y: Tensor = { ...batch.y, data: owned(batch.y.data) };
    const transfer = x.data.buffer === y.data.buffer ? [x.data.buffer] : [x.data.buffer, y.data.buffer];
    this.post({ op: 'offer', ticket, batch: { x, y } }, transfer as ArrayBuffer[]);
  }

  /** Forgets the chunks of `key`; those the thread has not accepted yet it drops (one it accepts before it hears this still trains, unheard of). */
  withdraw(key: object): void {
    const tickets: number[] = [];
    for (const [ticket, p] of this.offers) {
      if (p.key !== key) continue;
      this.offers.delete(ticket);
      if (!p.accepted) tickets.push(ticket);
    }
    if (tickets.length > 0 && !this.done) this.post({ op: 'withdraw', tickets });
  }

  private call<K extends Call['call']>(c: Extract<Call, { call: K }>): Promise<CallResults[K]> {
    if (this.done) return Promise.reject(new LivegradError('E_SESSION_CLOSED', `Expected an open session, got "${this.session}" ended`));
    const id = this.nextCall++;
    return new Promise<CallResults[K]>((resolve, reject) => {
      this.calls.set(id, { resolve: resolve as Waiting['resolve'], reject });
      this.post({ op: 'call', id, ...c } as ToWorker);
    });
  }

  /** Validates and queues a control on the thread (E_BAD_CONTROL); resolves with the step count when it was taken. */
  control(control: unknown, atStep: number | undefined): Promise<{ step: number }> {
    return this.call({ call: 'control', control, atStep });
  }

  /** Inference on the live weights; resolves with the output and the step of the weights used. */
  predict(x: Tensor): Promise<{ output: Tensor; step: number }> {
    // a view would take its whole buffer along (a structured clone copies the buffer, not the view)
    return this.call({ call: 'predict', x: { ...x, data: owned(x.data) } });
  }

  /** Copies of the live weights, optimizer state and hyperparameters. */
  snapshot(): Promise<ThreadSnapshot> {
    return this.call({ call: 'snapshot' });
  }

  /** No more input: take every waiting chunk, train it all (the partial batch too), then complete. */
  end(): void {
    if (this.done || this.ending) return;
    this.ending = true;
    this.post({ op: 'end' });
  }

  /** Stop at the current batch boundary: drop the queue, refuse waiting chunks, emit `completed` with `reason`, complete. */
  close(reason: string): void {
    if (this.done) return;
    this.ending = true;
    this.post({ op: 'close', reason });
  }

  /** Terminates the thread now, inside a step if need be: the session fails with `reason`. */
  terminate(reason: string): void {
    if (this.done) return;
    this.died(new Error(reason));
  }

  private received(f: Flush): void {
    const width = STEP_COLUMNS.length + this.shape.layers.length;
    for (const item of f.items) {
      if (typeof item === 'number') {
        const e = stepEvent(this.session, f.steps, item * width, width);
        this.steps = e.step;
        this.samples = e.samples;
        this.subject.next(e);
        continue;
      }
      switch (item.k) {
        case 'ready':
          this.whenReady.resolve();
          break;
        case 'event': {
          const e = item.event;
          if (e.type === 'step') {
            this.steps = e.step;
            this.samples = e.samples;
          } else if (e.type === 'lifecycle' && (e.state === 'paused' || e.state === 'resumed')) {
            this.paused = e.state === 'paused';
          }
          this.subject.next(e);
          break;
        }
        case 'accepted': {
          const p = this.offers.get(item.ticket);
          if (p) {
            p.accepted = true;
            p.handlers.accepted();
          }
          break;
        }
        case 'rejected': {
          const p = this.offers.get(item.ticket);
          this.offers.delete(item.ticket);
          p?.handlers.rejected(toError(item.error));
          break;
        }
        case 'consumed': {
          const p = this.offers.get(item.ticket);
          this.offers.delete(item.ticket);
          p?.handlers.consumed(item.step);
          break;
        }
        case 'reply':
          this.calls.get(item.id)?.resolve(item.value);
          this.calls.delete(item.id);
          break;
        case 'refused':
          this.calls.get(item.id)?.reject(toError(item.error));
          this.calls.delete(item.id);
          break;
        case 'completed':
          this.settle(f);
          this.finish();
          this.subject.complete();
          return;
        case 'failed':
          this.settle(f);
          this.finish();
          this.subject.error(toError(item.error));
          return;
      }
    }
    this.settle(f);
  }

  private settle(f: Flush): void {
    this.steps = f.state.steps;
    this.samples = f.state.samples;
    this.paused = f.state.paused;
    this.queueDepth = f.state.queueDepth;
    this.dropped = f.state.dropped;
    this.batchSize = f.state.batchSize;
  }

  /**
   * The trainer is over: pending calls are refused, chunks it never took are rejected, the thread
   * goes. Chunks it took but did not train (a session closed without draining) hear nothing more.
   */
  private finish(): void {
    this.done = true;
    const closed = (what: string) => new LivegradError('E_SESSION_CLOSED', `Expected an open session, got "${this.session}" ended before ${what}`);
    for (const w of this.calls.values()) w.reject(closed('it answered'));
    this.calls.clear();
    for (const p of this.offers.values()) if (!p.accepted) p.handlers.rejected(closed('the samples were accepted'));
    this.offers.clear();
    void this.worker.terminate();
  }

  /** The thread died without the trainer reporting an end (a crash, out of memory): the session fails. */
  private died(e: Error): void {
    if (this.done) return;
    this.whenReady.reject(e);
    this.finish();
    this.subject.next({ type: 'lifecycle', session: this.session, step: this.steps, time: performance.timeOrigin + performance.now(), state: 'failed', reason: e.message });
    this.subject.error(e);
  }
}
