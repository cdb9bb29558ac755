/**
 * `session.events(topics, options)`: a session's training events as a typed Observable that
 * follows the session across dropped connections.
 */
import { Observable } from 'rxjs';
import { describe } from '../errors.js';
import type { TrainEvent, TrainEventType } from '../pipeline/events.js';
import { backoff, type ReconnectOptions } from './backoff.js';
import { observeRun, type ClientCore } from './core.js';
import { EventsRun } from './events-run.js';

/**
 * Said in place of events that are lost: after a reconnect, the session's ring of recent events
 * no longer held every event from `fromStep` on (the client was away too long). Events stamped
 * from `fromStep` up to `step` may be missing; the ones the ring still held follow.
 */
export interface GapEvent {
  readonly type: 'gap';
  readonly session: string;
  /** The first step whose events may be missing. */
  readonly fromStep: number;
  /** The session's step when the client subscribed again. */
  readonly step: number;
  /** Events the ring still held, which follow at once. */
  readonly replayed: number;
}

/** The event of each topic, tensors decoded (`weights`: `layers: [{w, b}]` as `Tensor`s). */
export type EventOf<T extends TrainEventType> = Extract<TrainEvent, { readonly type: T }>;

/** What `events()` emits: the events of the topics asked for, and a `gap` where some were lost. */
export type SessionEvent<T extends TrainEventType = TrainEventType> = EventOf<T> | GapEvent;

export interface EventsOptions<T extends TrainEventType = TrainEventType> {
  /** At most this many events per second: of every topic, or per topic. A lossless topic skips the events in between (the client then cannot resume without gaps). */
  readonly rate?: number | Readonly<Partial<Record<T, number>>>;
  /** Begin with the session's recent events from this step on (from its ring), then the live ones. Default: live only. */
  readonly fromStep?: number;
  /** How to reconnect after a drop (default 10 attempts, 0.1 s to 5 s apart); false: error at once. */
  readonly reconnect?: ReconnectOptions | false;
}

/** The topics, every one by default. */
export const ALL_TOPICS: readonly TrainEventType[] = ['step', 'metrics', 'weights', 'gradients', 'eval', 'lifecycle', 'control', 'error'];

/**
 * Subscribes to a session's events on a connection of its own. After a drop (or a close for a
 * slow consumer) it reconnects with backoff and subscribes again from the step of the last event
 * it delivered, leaving out the events of that step it already delivered: a subscriber sees every
 * event of the lossless topics (`step`, `metrics`, `eval`, `lifecycle`, `control`, `error`) once
 * and in order, or a `gap` event where the server's ring no longer held them. `weights` and
 * `gradients` are latest-wins: the newest after a reconnect. Completes when the session ends
 * (`lifecycle` `completed` or `failed`; a recorded session stopped by its server's shutdown is
 * followed across the restart). Errors with E_UNKNOWN_SESSION, E_FORBIDDEN, or the connection's
 * last error once the reconnect attempts run out.
 *
 *   live:    --s1--s2--X(drop)            --s5--s6-->
 *   result:  --s1--s2--------(s3-s4 replayed)-s5--s6-->
 *
 * @param topics   the event types to deliver (default all)
 * @param options  rates, a `fromStep` to begin with, reconnect delays
 * @example
 *   session.events(['step', 'metrics']).subscribe((e) => {
 *     if (e.type === 'metrics') console.log(e.step, e.runningLoss, e.accuracy);
 *   });
 */
export function events<T extends TrainEventType>(core: ClientCore, session: string, topics: readonly T[], options: EventsOptions<T> = {}): Observable<SessionEvent<T>> {
  if (!Array.isArray(topics) || topics.length === 0 || topics.some((t) => !ALL_TOPICS.includes(t))) {
    throw new TypeError(`Expected topics to be a non-empty array of ${ALL_TOPICS.join(', ')}, got ${describe(topics)}`);
  }
  if (typeof options !== 'object' || options === null) throw new TypeError(`Expected events options, got ${describe(options)}`);
  const { rate, fromStep } = options;
  if (fromStep !== undefined && (!Number.isInteger(fromStep) || fromStep < 0)) throw new RangeError(`Expected fromStep to be an integer ≥ 0, got ${describe(fromStep)}`);
  const rates: Partial<Record<TrainEventType, number>> = typeof rate === 'number' ? Object.fromEntries(topics.map((t) => [t, rate])) : { ...rate };
  for (const [t, r] of Object.entries(rates)) {
    if (typeof r !== 'number' || !(r > 0 && r <= 10_000)) throw new RangeError(`Expected rate of ${t} to be a number in (0, 10000] events per second, got ${describe(r)}`);
  }
  const settings = { session, topics: [...new Set(topics)], rates, fromStep, reconnect: backoff(options.reconnect) };
  return observeRun<SessionEvent<T>>(core, (next) => new EventsRun(() => core.open(), settings, (e) => next(e as SessionEvent<T>)));
}
