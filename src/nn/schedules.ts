/**
 * Learning-rate schedules: the rate used for optimizer step t (t = 0 for the first step),
 * from the base rate lr0. They match PyTorch's schedulers when `scheduler.step()` is called
 * once after every `optimizer.step()`.
 *
 *   constant      lr0
 *   step          lr0 · gamma^⌊t / stepSize⌋                     (StepLR)
 *   exponential   lr0 · gamma^t                                   (ExponentialLR)
 *   cosine        etaMin + (lr0 - etaMin) · (1 + cos(π t / tMax)) / 2, t capped at tMax   (CosineAnnealingLR, closed form)
 */
import { assertNever } from './activations.js';
import { describe } from '../errors.js';

export type Schedule =
  | { readonly kind: 'constant' }
  | { readonly kind: 'step'; readonly stepSize: number; readonly gamma: number }
  | { readonly kind: 'exponential'; readonly gamma: number }
  | { readonly kind: 'cosine'; readonly tMax: number; readonly etaMin: number };

export const constantLR: Schedule = { kind: 'constant' };

function positiveInt(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new RangeError(`Expected ${what} to be a positive integer, got ${describe(v)}`);
  return v;
}

function finite(v: unknown, what: string, min = -Infinity): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) {
    throw new RangeError(`Expected ${what} to be a finite number${min > -Infinity ? ` ≥ ${min}` : ''}, got ${describe(v)}`);
  }
  return v;
}

export function stepLR(options: { stepSize: number; gamma?: number }): Schedule {
  return { kind: 'step', stepSize: positiveInt(options.stepSize, 'stepSize'), gamma: finite(options.gamma ?? 0.1, 'gamma', 0) };
}

export function exponentialLR(options: { gamma: number }): Schedule {
  return { kind: 'exponential', gamma: finite(options.gamma, 'gamma', 0) };
}

export function cosineLR(options: { tMax: number; etaMin?: number }): Schedule {
  return { kind: 'cosine', tMax: positiveInt(options.tMax, 'tMax'), etaMin: finite(options.etaMin ?? 0, 'etaMin', 0) };
}

/** Validates a schedule that came from outside (JSON, the wire). */
export function checkSchedule(s: unknown): Schedule {
  const o = s as Record<string, unknown> | null;
  switch (o?.['kind']) {
    case 'constant':
      return constantLR;
    case 'step':
      return stepLR(o as { stepSize: number; gamma?: number });
    case 'exponential':
      return exponentialLR(o as { gamma: number });
    case 'cosine':
      return cosineLR(o as { tMax: number; etaMin?: number });
    default:
      throw new TypeError(`Expected schedule kind "constant", "step", "exponential" or "cosine", got ${describe(o?.['kind'])}`);
  }
}

/** The learning rate for step t (0-based). */
export function learningRate(schedule: Schedule, lr0: number, t: number): number {
  switch (schedule.kind) {
    case 'constant':
      return lr0;
    case 'step':
      return lr0 * Math.pow(schedule.gamma, Math.floor(t / schedule.stepSize));
    case 'exponential':
      return lr0 * Math.pow(schedule.gamma, t);
    case 'cosine': {
      const tc = Math.min(t, schedule.tMax);
      return schedule.etaMin + ((lr0 - schedule.etaMin) * (1 + Math.cos((Math.PI * tc) / schedule.tMax))) / 2;
    }
    default:
      return assertNever(schedule);
  }
}
