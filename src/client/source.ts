/**
 * Reading what `stream()` is given into rows, at the pace the server takes them:
 *
 *   an array of rows, or one {x, y} batch   all at once
 *   an Iterable / AsyncIterable of batches  pulled while the buffer has room (back-pressure)
 *   an Observable of batches                as it pushes them (an Observable cannot be paused:
 *                                           what it pushes while the server is slower waits in memory)
 */
import type { Subscribable, Unsubscribable } from 'rxjs';
import { describe } from '../errors.js';
import { batchChunk, rowsChunk, type Batch, type Row, type RowChunk, type RowShape } from './rows.js';

/** What `stream()` reads: rows, one batch, or batches from an Iterable, an AsyncIterable or an Observable. */
export type StreamSource = readonly Row[] | Batch | Iterable<Batch> | AsyncIterable<Batch> | Subscribable<Batch>;

/** Where a reader puts what it read. */
export interface SourceSink {
  push(chunk: RowChunk): void;
  end(): void;
  fail(error: unknown): void;
  /** True while the buffer wants more rows. */
  hasRoom(): boolean;
}

export interface SourceReader {
  /** Reads on while the sink has room (call it again when room is made). */
  demand(): void;
  /** Stops reading: the iterator's `return()`, the Observable's unsubscribe. */
  stop(): void;
}

function isSubscribable(s: object): s is Subscribable<Batch> {
  return typeof (s as Partial<Subscribable<Batch>>).subscribe === 'function';
}

/** Throws TypeError for something `stream()` cannot read. */
export function checkSource(source: unknown): asserts source is StreamSource {
  if (typeof source !== 'object' || source === null) throw new TypeError(`Expected a stream source (rows, a {x, y} batch, an Iterable, AsyncIterable or Observable of batches), got ${describe(source)}`);
  if (Array.isArray(source) || isSubscribable(source) || Symbol.asyncIterator in source || Symbol.iterator in source) return;
  if ('x' in source && 'y' in source) return;
  throw new TypeError(`Expected a stream source (rows, a {x, y} batch, an Iterable, AsyncIterable or Observable of batches), got an object with keys ${Object.keys(source).slice(0, 5).join(', ')}`);
}

/** Starts reading `source` into `sink`, as rows of `shape`. */
export function readSource(source: StreamSource, shape: RowShape, sink: SourceSink): SourceReader {
  const put = (batch: Batch): void => sink.push(batchChunk(batch, shape));
  if (Array.isArray(source)) return once(() => sink.push(rowsChunk(source as readonly Row[], shape)), sink);
  if (isSubscribable(source)) return subscribed(source, put, sink);
  if (Symbol.asyncIterator in source) return pulledAsync((source as AsyncIterable<Batch>)[Symbol.asyncIterator](), put, sink);
  if (Symbol.iterator in source) return pulled((source as Iterable<Batch>)[Symbol.iterator](), put, sink);
  return once(() => put(source as Batch), sink);
}

function once(read: () => void, sink: SourceSink): SourceReader {
  let done = false;
  return {
    demand() {
      if (done) return;
      done = true;
      try {
        read();
        sink.end();
      } catch (e) {
        sink.fail(e);
      }
    },
    stop() {
      done = true;
    },
  };
}

function pulled(it: Iterator<Batch>, put: (b: Batch) => void, sink: SourceSink): SourceReader {
  let done = false;
  return {
    demand() {
      try {
        while (!done && sink.hasRoom()) {
          const r = it.next();
          if (r.done === true) {
            done = true;
            sink.end();
          } else put(r.value);
        }
      } catch (e) {
        done = true;
        sink.fail(e);
      }
    },
    stop() {
      if (!done) it.return?.();
      done = true;
    },
  };
}

function pulledAsync(it: AsyncIterator<Batch>, put: (b: Batch) => void, sink: SourceSink): SourceReader {
  let done = false;
  let reading = false;
  const read = async (): Promise<void> => {
    reading = true;
    try {
      while (!done && sink.hasRoom()) {
        const r = await it.next();
        if (done) return;
        if (r.done === true) {
          done = true;
          sink.end();
        } else put(r.value);
      }
    } catch (e) {
      if (!done) sink.fail(e);
      done = true;
    } finally {
      reading = false;
    }
  };
  return {
    demand() {
      if (!reading) void read();
    },
    stop() {
      if (!done) void it.return?.()?.catch(() => undefined); // NOTE: the stream is over: a failing return() has no one to tell
      done = true;
    },
  };
}

function subscribed(source: Subscribable<Batch>, put: (b: Batch) => void, sink: SourceSink): SourceReader {
  let subscription: Unsubscribable | undefined;
  let done = false;
  const stop = (): void => {
    done = true;
    subscription?.unsubscribe();
  };
  return {
    demand() {
      if (subscription !== undefined || done) return;
      subscription = source.subscribe({
        next: (b) => {
          if (done) return;
          try {
            put(b);
          } catch (e) {
            stop();
            sink.fail(e);
          }
        },
        error: (e: unknown) => {
          if (!done) sink.fail(e);
          done = true;
        },
        complete: () => {
          if (!done) sink.end();
          done = true;
        },
      });
      if (done) subscription.unsubscribe(); // it completed or failed while subscribing
    },
    stop,
  };
}
