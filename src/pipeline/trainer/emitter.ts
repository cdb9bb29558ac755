/**
 * A trainer's hot event stream: `emit` gives an event to everyone subscribed, `end` completes
 * (or errors) every subscriber, and a subscriber that comes after the end gets it at once.
 *
 * NOTE: a list of subscribers rather than a Subject, which costs a closure and an iterator on
 * every event. As with a Subject: the list is replaced, not changed in place, so an event goes
 * to those who were subscribed when its emit began.
 */
import { Observable, type Subscriber } from 'rxjs';
import type { TrainEvent } from '../events.js';

export interface Emitter {
  readonly events$: Observable<TrainEvent>;
  readonly ended: boolean;
  emit(e: TrainEvent): void;
  /** Completes every subscriber, or errors them with `failure.err`. */
  end(failure?: { readonly err: unknown }): void;
}

export function createEmitter(): Emitter {
  let observers: readonly Subscriber<TrainEvent>[] = [];
  let ended = false;
  let failure: { readonly err: unknown } | undefined;
  const events$ = new Observable<TrainEvent>(function subscribeToEvents(subscriber) {
    if (ended) {
      if (failure) subscriber.error(failure.err);
      else subscriber.complete();
      return undefined;
    }
    observers = [...observers, subscriber];
    return function unsubscribeFromEvents() {
      observers = observers.filter((o) => o !== subscriber);
    };
  });
  return {
    events$,
    get ended() {
      return ended;
    },
    emit(e) {
      if (ended) return;
      const os = observers;
      for (let i = 0; i < os.length; i++) os[i]!.next(e);
    },
    end(failed) {
      if (ended) return;
      ended = true;
      failure = failed;
      const os = observers;
      observers = [];
      for (const o of os) {
        if (failed) o.error(failed.err);
        else o.complete();
      }
    },
  };
}
