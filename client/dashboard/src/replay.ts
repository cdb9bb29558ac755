/**
 * The replay panel: a recording the server plays as a session (`replays` in createServer,
 * `livegrad replay LOG --serve`) — where it plays from and how, a scrubber over its steps that
 * reads out the loss the recording has at the step under it; play, pause, speed and seek through
 * `livegrad/client`'s `session.replay()`.
 */
import type { SessionInfo } from 'livegrad/client';
import { lowerBound } from './series.js';
import type { Run } from './run.js';

/** The loss the page holds for `step` (the step event's), or undefined when it has none. */
export function lossAt(run: Run, step: number): number | undefined {
  const steps = run.loss.step.data;
  const i = lowerBound(steps, step);
  return i < steps.length && steps[i] === step ? run.loss.y.data[i] : undefined;
}

/** The recording's step range for the scrubber: from the first step the page holds (or 0) to the log's last. */
export function scrubRange(run: Run, info: SessionInfo): readonly [number, number] {
  const first = run.loss.step.length > 0 ? run.loss.step.data[0]! : 0;
  return [first, Math.max(first, info.replay?.lastStep ?? run.lastStep)];
}
