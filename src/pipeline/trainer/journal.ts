/**
 * What a trainer tells the one who records it (a session log, src/record/): every input at the
 * moment it enters the order, with the step count then, and every step once all it caused has
 * happened. Given the same inputs at the same step counts, a trainer does the same things, bit
 * for bit: that is what a replay relies on (see docs/recording.md, "Replay").
 *
 * Each method is called synchronously, before the trainer holds what it reports, so that a
 * checkpoint taken inside the call (`Trainer.checkpoint()`) is the state before it.
 */
import type { Batch } from '../../nn/batch.js';
import type { Control } from '../controls.js';

export interface Journal {
  /**
   * A chunk is admitted after `steps` steps: its rows are in the order now, and its first row
   * trains in step `firstStep`. `oneStep`: its rows train as one step of their own. `tag`: what
   * its giver named it by (`offer`'s `options.tag`), or undefined.
   */
  samples(chunk: Batch, at: { readonly steps: number; readonly firstStep: number; readonly rows: number; readonly oneStep: boolean; readonly tag: unknown }): void;
  /**
   * A control enters the order after `steps` steps (`atStep` undefined), is set aside for a later
   * step (`atStep`), or is a `resume` / `step` that reaches a paused trainer past the rows waiting
   * before it (`flow`).
   */
  control(control: Control, at: { readonly steps: number; readonly atStep: number | undefined; readonly flow: boolean }): void;
  /** No more input: everything given trains, then the trainer completes. */
  end(at: { readonly steps: number; readonly resume: boolean }): void;
  /** Stopped at once: what is queued is dropped. */
  close(at: { readonly steps: number; readonly reason: string }): void;
  /** Step `steps` and everything it caused (events, the guard) have happened: a point to checkpoint. */
  stepped(steps: number): void;
}
