/**
 * The replay panel: a recording the server plays as a session (`replays` in createServer,
 * `livegrad replay LOG --serve`) — where it plays from and how, a scrubber over its steps that
 * reads out the loss the recording has at the step under it, and play, pause, speed and seek.
 *
 * Steering goes through `livegrad/client` like everything else; the client does not send the
 * protocol's `replay` message yet, so the buttons work once its session handle has a
 * `replay(action)` (docs/dashboard.md, "Replay"), and say so until then. The scrubber's read-out
 * needs no steering: it reads the events the page holds.
 */
import type { LivegradClient, SessionInfo } from 'livegrad/client';
import { lowerBound } from './series.js';
import type { Run } from './run.js';

/** The protocol's `replay` actions (docs/protocol.md, "replay"). */
export type ReplayAction = { readonly action: 'play' | 'pause' } | { readonly action: 'seek'; readonly step: number } | { readonly action: 'speed'; readonly speed: number | 'max' };

interface Steerable {
  replay(action: ReplayAction): Promise<unknown>;
}

/** The session handle's `replay`, when this client has one. */
export function steering(client: LivegradClient, session: string): Steerable | undefined {
  const handle = client.session(session) as unknown as Partial<Steerable>;
  return typeof handle.replay === 'function' ? (handle as Steerable) : undefined;
}

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
