/**
 * A training event on its way to subscribers, encoded at most once per format (MessagePack,
 * JSON) however many subscribers receive it: every outbox holds the same Buffer or string.
 */
import { encodeJSON, encodeMsgpack, type Format } from '../protocol/codec.js';
import { wireEvent } from '../protocol/events.js';
import type { TrainEvent, TrainEventType } from '../pipeline/events.js';

/** How an outbox keeps an event: in order and never dropped, or only the newest per key. */
export type Lane = 'lossless' | 'latest';

export const LANES: Readonly<Record<TrainEventType, Lane>> = {
  step: 'lossless',
  metrics: 'lossless',
  eval: 'lossless',
  lifecycle: 'lossless',
  control: 'lossless',
  error: 'lossless',
  weights: 'latest',
  gradients: 'latest',
};

const LATEST_TYPES = (Object.keys(LANES) as TrainEventType[]).filter((t) => LANES[t] === 'latest');

function latestKey(session: string, type: TrainEventType): string {
  return `${session}\u0000${type}`;
}

export class Packet {
  readonly type: TrainEventType;
  readonly step: number;
  readonly lane: Lane;
  private readonly event: TrainEvent;
  private msgpack: Buffer | undefined;
  private json: string | undefined;

  constructor(event: TrainEvent) {
    this.event = event;
    this.type = event.type;
    this.step = event.step;
    this.lane = LANES[event.type];
  }

  /** Conflation key of the latest-wins lane: session and event type (every event carries all layers). */
  get key(): string {
    return latestKey(this.event.session, this.type);
  }

  /** The session's last event (`lifecycle` completed or failed): nothing of the session follows it. */
  get final(): boolean {
    const e = this.event;
    return e.type === 'lifecycle' && (e.state === 'completed' || e.state === 'failed');
  }

  /** The latest-wins keys of this event's session. */
  get sessionKeys(): readonly string[] {
    return LATEST_TYPES.map((t) => latestKey(this.event.session, t));
  }

  encoded(format: Format): Buffer | string {
    if (format === 'msgpack') return (this.msgpack ??= encodeMsgpack(wireEvent(this.event)));
    return (this.json ??= encodeJSON(wireEvent(this.event)));
  }
}
