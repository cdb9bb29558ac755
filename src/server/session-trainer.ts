/**
 * A session's trainer, seen from the server's main thread. The trainer itself runs in a
 * TrainerHost (trainer-host.ts), either
 *
 *   on a worker thread of the session's own (trainer-worker.ts; the default): the main thread
 *   only reads, validates, acknowledges and fans out, so a long step never delays a heartbeat,
 *   a subscriber or another client, and sessions train side by side on spare cores; or
 *
 *   inline, on the main thread between socket events (`thread: false`): no hand-off, but a
 *   step holds up every socket for as long as it takes.
 *
 * The two differ only in how messages travel: posted to the thread and back, or handed to the
 * host directly, its flushes delivered in a microtask. Either way every message for the
 * session goes to the host in the order it was received, and every answer comes back in the
 * order the trainer produced it: an `ack`, a `controlled`, a `prediction` leave in the order
 * of the messages they answer.
 *
 * What the main thread must know at once it mirrors from what the host reports: `steps` and
 * `samples` from step events, `paused` from lifecycle events, the rest from the counters at the
 * end of each flush. The config is checked here first (`checkTrainConfig`, which builds
 * nothing: a spec's weights are initialised where the trainer runs), so a bad config is a
 * synchronous error, and a large model never holds up the main thread.
 *
 * The backlog: messages sent to the host and not yet answered (samples not yet admitted,
 * controls and calls not yet taken effect) are bounded in count and bytes; one more is refused
 * at once with E_BACKLOG. So memory stays bounded whatever a client sends to a paused or slow
 * session, and however long the trainer is inside one step.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Subject, type Observable } from 'rxjs';
import { LivegradError, type ErrorCode } from '../errors.js';
import type { Batch } from '../nn/batch.js';
import type { LossName } from '../nn/losses.js';
import { stepperThreads, type KernelChoice } from '../nn/step.js';
import { shapeOf, type MlpShape } from '../nn/mlp.js';
import type { FloatArray, Tensor } from '../nn/tensor.js';
import type { TrainEvent } from '../pipeline/events.js';
import { checkTrainConfig, type TrainConfig } from '../pipeline/trainer/config.js';
import { StepRows, type Answers, type Flush, type HostError, type HostInit, type ToHost } from './thread-messages.js';
import { TrainerHost } from './trainer-host.js';

/** What the owner of an offered chunk hears about it. */
export interface PushHandlers {
  /** The chunk is in the trainer: its rows will be trained (unless the session ends first). */
  accepted(): void;
  /** The trainer refused the chunk (E_SHAPE, E_NON_FINITE, E_LABEL_RANGE, E_SESSION_CLOSED, …). */
  rejected(error: Error): void;
  /** Its last row was trained in `step`. */
  consumed(step: number): void;
}

/** How an answer comes back. */
export interface Reply<T> {
  ok(value: T): void;
  fail(error: Error): void;
}

export interface SessionTrainerOptions {
  /** On a thread of its own (true), or inline on the main thread. */
  readonly thread: boolean;
  /** Threads for the `wasm` kernels, 1 or 2 (the config's `threads` is replaced by it). */
  readonly kernelThreads: number;
  /** Accepted rows not yet trained, in batches of `batchSize`. */
  readonly queueCapacity: number;
  /** Most messages, and bytes of samples, sent to the trainer and not yet answered. */
  readonly backlog: { readonly messages: number; readonly bytes: number };
  /** Record the session (HostInit.record). */
  readonly record?: HostInit['record'];
  /** Continue from this state (a recovered session). */
  readonly restore?: HostInit['restore'];
}

interface Transport {
  post(m: ToHost, transfer?: ArrayBuffer[]): void;
  terminate(): void;
}

const here = import.meta.url;

/** The thread: from the compiled .js beside this file, or (running from the .ts sources under tsx or vitest) through tsx's loader. */
function spawn(init: HostInit): Worker {
  if (!here.endsWith('.ts')) return new Worker(new URL('./trainer-worker.js', here), { workerData: init });
  // what `node --import tsx` does, done first thing in the thread (Node 20 does not pass --import hooks on to workers)
  // (tsx's ESM api, found from its package.json: require.resolve would give its CommonJS build)
  const pkg = createRequire(here).resolve('tsx/package.json');
  const exports = (JSON.parse(readFileSync(pkg, 'utf8')) as { exports: Record<string, { import: { default: string } }> }).exports;
  const api = new URL(exports['./esm/api']!.import.default, pathToFileURL(pkg)).href;
  const entry = new URL('./trainer-worker.ts', here).href;
  return new Worker(`import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`, { eval: true, workerData: init });
}

function toError(e: HostError): Error {
  if (e.code !== undefined) return new LivegradError(e.code as ErrorCode, e.message);
  const err = new Error(e.message);
  if (e.stack !== undefined) err.stack = e.stack;
  return err;
}

/** A copy of `data` that owns its whole buffer (so it can be transferred), or `data` itself when it already does. */
function owned(data: FloatArray): FloatArray {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer ? data : data.slice();
}

interface Offer {
  readonly producer: number;
  readonly handlers: PushHandlers;
  /** Counted in the backlog until accepted or rejected. */
  readonly bytes: number;
  accepted: boolean;
}

/**
 * A message refused because the server is stopping. On a recording server the session comes back
 * when the server is started again on its directory: the message says so, and a producer that
 * names itself resumes from the last `seq` that `list` then reports.
 */
export function shuttingDown(session: string, recorded: boolean): LivegradError {
  const then = recorded
    ? ` (it is recorded: it comes back when the server restarts on its record directory; a named producer resumes from the last seq list reports)`
    : ` (it ends with the server)`;
  return new LivegradError('E_SHUTTING_DOWN', `Expected a running server, got one shutting down: session "${session}" stopped${then}`);
}

export class SessionTrainer {
  readonly session: string;
  /** The model's dtype, sizes and activations (`snapshot` has the weights). */
  readonly shape: MlpShape;
  readonly loss: LossName;
  /** The kernels it trains with (the config's `kernels` resolved here), and the threads its stepper uses (1 with the `js` kernels). */
  readonly kernels: KernelChoice;
  readonly threads: number;
  private readonly subject = new Subject<TrainEvent>();
  readonly events$: Observable<TrainEvent> = this.subject.asObservable();
  steps: number;
  samples: number;
  paused = false;
  /** Batches queued in the trainer plus messages waiting their turn. */
  queueDepth = 0;
  batchSize: number;
  /** True once the trainer has completed or failed (its last event is out). */
  done = false;
  private ending = false;
  private started = false;
  private ready = false;
  private readonly readyWaiters: Reply<void>[] = [];
  private readonly rows: StepRows;
  private readonly transport: Transport;
  private readonly inline: boolean;
  private readonly offers = new Map<number, Offer>();
  private readonly calls = new Map<number, Reply<Answers[keyof Answers]>>();
  private nextTicket = 0;
  private nextCall = 0;
  private backlogMessages = 0;
  private backlogBytes = 0;
  /** Why it was asked to stop ('shutdown': the server is stopping). */
  private stopReason: string | undefined;

  /** Checks `config` (throwing createTrainer's TypeError / RangeError / LivegradError, without building anything) and starts the trainer's host. */
  constructor(
    config: TrainConfig,
    private readonly options: SessionTrainerOptions,
  ) {
    const checked = checkTrainConfig(config);
    this.session = checked.session;
    this.shape = shapeOf(checked.shape);
    this.loss = checked.loss;
    this.steps = checked.startStep;
    this.samples = checked.startSamples;
    this.batchSize = checked.batchSize;
    this.kernels = checked.kernels;
    this.threads = stepperThreads(checked.kernels, options.kernelThreads);
    this.rows = new StepRows(this.shape.layers.length);
    if (options.restore) {
      this.steps = options.restore.steps;
      this.samples = options.restore.samples;
      this.batchSize = options.restore.batchSize;
      this.paused = options.restore.paused;
    }
    // the host is given the kernels resolved here: what `created` and `list` report is what it trains with
    const run = { ...config, kernels: checked.kernels, threads: options.kernelThreads };
    const init: HostInit = { config: run, queueCapacity: options.queueCapacity, ...(options.record ? { record: options.record } : {}), ...(options.restore ? { restore: options.restore } : {}) };
    this.inline = !options.thread;
    this.transport = options.thread ? this.threadTransport(init) : this.inlineTransport(init);
  }

  private threadTransport(init: HostInit): Transport {
    const worker = spawn(init);
    worker.unref();
    worker.on('message', (f: Flush) => this.received(f));
    worker.on('error', (e) => this.died(e));
    worker.on('exit', (code) => {
      if (!this.done) this.died(new Error(`The training thread of session "${this.session}" exited with code ${code}`));
    });
    return {
      post: (m, transfer) => worker.postMessage(m, transfer),
      terminate: () => void worker.terminate(),
    };
  }

  private inlineTransport(init: HostInit): Transport {
    // the host flushes in a microtask: its answers arrive after the message handler that caused them, in order
    const host = new TrainerHost(init, (f) => this.received(f));
    return {
      post: (m) => host.handle(m),
      terminate: () => undefined, // a step on this thread has already run to its end by the time anything else can run
    };
  }

  /** Calls `reply.ok` once the trainer takes messages (in order with every other answer), or `fail` if it could not start. */
  whenReady(reply: Reply<void>): void {
    if (this.ready) reply.ok();
    else if (this.done) reply.fail(this.ended());
    else this.readyWaiters.push(reply);
  }

  /**
   * Emits `lifecycle: started` here, at once (as the trainer would on the same thread: a client
   * that subscribes after `created` never sees it live, only through a `fromStep` replay); the
   * host's own `started` is not sent back.
   */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.subject.next({ type: 'lifecycle', session: this.session, step: this.steps, time: performance.timeOrigin + performance.now(), state: 'started', reason: undefined });
  }

  private get recorded(): boolean {
    return this.options.record !== undefined;
  }

  /** The trainer's E_SESSION_CLOSED for what it had not taken when the server stopped it is E_SHUTTING_DOWN. */
  private stopError(e: Error): Error {
    return this.stopReason === 'shutdown' && e instanceof LivegradError && e.code === 'E_SESSION_CLOSED' ? shuttingDown(this.session, this.recorded) : e;
  }

  private ended(): LivegradError {
    if (this.stopReason === 'shutdown') return shuttingDown(this.session, this.recorded);
    return new LivegradError('E_SESSION_CLOSED', `Expected an open session, got "${this.session}" ended`);
  }

  /** Throws E_BACKLOG when one more message (of `bytes` samples) would be over the backlog. */
  private reserve(bytes: number, what: string): void {
    const { messages, bytes: maxBytes } = this.options.backlog;
    if (this.backlogMessages + 1 > messages || this.backlogBytes + bytes > maxBytes) {
      throw new LivegradError(
        'E_BACKLOG',
        `Expected at most ${messages} messages and ${maxBytes} bytes of samples waiting their turn in session "${this.session}", got ${this.backlogMessages} messages and ${this.backlogBytes} bytes waiting and this ${what} (${bytes} bytes): wait for replies before sending more`,
      );
    }
    this.backlogMessages++;
    this.backlogBytes += bytes;
  }

  private release(bytes: number): void {
    this.backlogMessages--;
    this.backlogBytes -= bytes;
  }

  /**
   * Offers a chunk from `producer` (the caller must not use its arrays afterwards: they may be
   * transferred). It waits its turn and for room in the trainer; exactly one of accepted /
   * rejected follows, then consumed once it is trained. `step`: train its rows as one step of
   * their own. `frame`: a buffer nothing else uses; when both arrays are views of it, a thread
   * takes it as it is. Throws E_SESSION_CLOSED, E_BACKLOG.
   */
  offer(producer: number, batch: Batch, handlers: PushHandlers, options: { readonly step: boolean; readonly frame: ArrayBuffer | undefined; readonly tag: { readonly producer: string | number; readonly seq: number } }): void {
    if (this.done || this.ending) throw this.ended();
    const bytes = batch.x.data.byteLength + batch.y.data.byteLength;
    this.reserve(bytes, 'samples message');
    const ticket = this.nextTicket++;
    this.offers.set(ticket, { producer, handlers, bytes, accepted: false });
    const { frame, tag } = options;
    if (this.inline) {
      this.transport.post({ op: 'offer', ticket, producer, batch, step: options.step, tag });
    } else if (frame !== undefined && batch.x.data.buffer === frame && batch.y.data.buffer === frame) {
      // the frame goes as it is: its views arrive as views of the same bytes, nothing copied
      this.transport.post({ op: 'offer', ticket, producer, batch, step: options.step, tag }, [frame]);
    } else {
      const x: Tensor = { ...batch.x, data: owned(batch.x.data) };
      const y: Tensor = { ...batch.y, data: owned(batch.y.data) };
      const transfer = x.data.buffer === y.data.buffer ? [x.data.buffer] : [x.data.buffer, y.data.buffer];
      this.transport.post({ op: 'offer', ticket, producer, batch: { x, y }, step: options.step, tag }, transfer as ArrayBuffer[]);
    }
  }

  /** Forgets the chunks of `producer`: those not accepted yet are dropped unheard (one accepted before the host hears this still trains, unheard of). */
  withdraw(producer: number): void {
    let any = false;
    for (const [ticket, o] of this.offers) {
      if (o.producer !== producer) continue;
      this.offers.delete(ticket);
      if (!o.accepted) this.release(o.bytes);
      any = true;
    }
    if (any && !this.done) this.transport.post({ op: 'withdraw', producer });
  }

  private call<K extends keyof Answers>(what: string, m: ToHost & { id: number }, reply: Reply<Answers[K]>): void {
    if (this.done) throw this.ended();
    this.reserve(0, what);
    this.calls.set(m.id, reply as Reply<Answers[keyof Answers]>);
    this.transport.post(m);
  }

  /**
   * Queues a control in order: `reply.ok` once it has taken effect, with the step it took effect
   * at; a control for a later `atStep` is answered at once, with that step. Throws E_SESSION_CLOSED, E_BACKLOG.
   */
  control(control: unknown, atStep: number | undefined, reply: Reply<Answers['control']>): void {
    if (this.ending) throw this.ended();
    this.call('control', { op: 'control', id: this.nextCall++, control, atStep }, reply);
  }

  /** Inference: at its turn (after every row received before it), or `now` on the weights as they are. */
  predict(x: Tensor, now: boolean, reply: Reply<Answers['predict']>): void {
    // a view would take its whole buffer along (a structured clone copies the buffer, not the view)
    const data = this.inline ? x.data : owned(x.data);
    this.call('predict', { op: 'predict', id: this.nextCall++, x: { ...x, data }, now }, reply);
  }

  /** Copies of the weights, optimizer state and hyperparameters: at its turn, or `now`. */
  snapshot(now: boolean, reply: Reply<Answers['snapshot']>): void {
    this.call('snapshot', { op: 'snapshot', id: this.nextCall++, now }, reply);
  }

  /** No more input: everything sent trains (the partial batch too), then the trainer completes. `resume`: a paused trainer resumes for it. */
  end(resume: boolean): void {
    if (this.done || this.ending) return;
    this.ending = true;
    this.transport.post({ op: 'end', resume });
  }

  /** Stop at the current batch boundary: drop the queue, refuse what waits, emit `completed` with `reason`, complete. */
  close(reason: string): void {
    if (this.done) return;
    this.stopReason ??= reason;
    this.ending = true;
    this.transport.post({ op: 'close', reason });
  }

  /** As close, but a recorded session's log is not ended: a restart on the same record directory continues it. */
  suspend(reason: string): void {
    if (this.done) return;
    this.stopReason ??= reason;
    this.ending = true;
    this.transport.post({ op: 'suspend', reason });
  }

  /**
   * Stop now, even inside a step: a training thread is terminated and the trainer fails
   * (`lifecycle: failed` with `reason`). Inline, nothing can interrupt a step: a no-op (close waits).
   */
  terminate(reason: string): void {
    if (this.done || this.inline) return;
    this.died(new Error(reason));
  }

  private received(f: Flush): void {
    for (const item of f.items) {
      if (typeof item === 'number') {
        const e = this.rows.read(this.session, f.steps, item);
        this.steps = e.step;
        this.samples = e.samples;
        this.subject.next(e);
        continue;
      }
      switch (item.k) {
        case 'ready':
          this.ready = true;
          for (const r of this.readyWaiters.splice(0)) r.ok();
          break;
        case 'event': {
          const e = item.event;
          if (e.type === 'lifecycle' && (e.state === 'paused' || e.state === 'resumed')) this.paused = e.state === 'paused';
          this.subject.next(e);
          break;
        }
        case 'accepted': {
          const o = this.offers.get(item.ticket);
          if (o) {
            o.accepted = true;
            this.release(o.bytes);
            o.handlers.accepted();
          }
          break;
        }
        case 'rejected': {
          const o = this.offers.get(item.ticket);
          if (o) {
            this.offers.delete(item.ticket);
            this.release(o.bytes);
            o.handlers.rejected(this.stopError(toError(item.error)));
          }
          break;
        }
        case 'consumed': {
          const o = this.offers.get(item.ticket);
          this.offers.delete(item.ticket);
          o?.handlers.consumed(item.step);
          break;
        }
        case 'answer':
        case 'refused': {
          const reply = this.calls.get(item.id);
          if (!reply) break; // (a control scheduled for a later step, answered already, refused as the session ended)
          this.calls.delete(item.id);
          this.release(0);
          if (item.k === 'answer') reply.ok(item.value);
          else reply.fail(this.stopError(toError(item.error)));
          break;
        }
        case 'completed':
        case 'failed': {
          this.settle(f);
          const error = item.k === 'failed' ? toError(item.error) : undefined;
          // a session that failed (a log it could not write: E_RECORD_WRITE) refuses what waits with its error
          this.finish(error instanceof LivegradError ? error : undefined);
          if (error === undefined) this.subject.complete();
          else this.subject.error(error);
          return;
        }
      }
    }
    this.settle(f);
  }

  private settle(f: Flush): void {
    this.steps = f.state.steps;
    this.samples = f.state.samples;
    this.paused = f.state.paused;
    this.queueDepth = f.state.queueDepth;
    this.batchSize = f.state.batchSize;
  }

  /**
   * The trainer is over: pending calls are refused, chunks it never took are rejected, the
   * host goes. Chunks it took but did not train (a session closed without draining) hear nothing more.
   */
  private finish(failure?: LivegradError): void {
    this.done = true;
    const closed = (what: string) =>
      failure ?? (this.stopReason === 'shutdown' ? shuttingDown(this.session, this.recorded) : new LivegradError('E_SESSION_CLOSED', `Expected an open session, got "${this.session}" ended before ${what}`));
    for (const r of this.readyWaiters.splice(0)) r.fail(closed('it started'));
    const calls = [...this.calls.values()];
    this.calls.clear();
    for (const r of calls) r.fail(closed('it answered'));
    const offers = [...this.offers.values()];
    this.offers.clear();
    for (const o of offers) if (!o.accepted) o.handlers.rejected(closed('the samples were accepted'));
    this.backlogMessages = 0;
    this.backlogBytes = 0;
    this.transport.terminate();
  }

  /** The thread died without the trainer reporting an end (a crash, out of memory): the session fails. */
  private died(e: Error): void {
    if (this.done) return;
    this.finish();
    this.subject.next({ type: 'lifecycle', session: this.session, step: this.steps, time: performance.timeOrigin + performance.now(), state: 'failed', reason: e.message });
    this.subject.error(e);
  }
}
