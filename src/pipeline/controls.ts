/**
 * Controls: what a user can do to a running training session. They take effect at a batch
 * boundary (never inside a step), each is emitted as a `control` event, and they are
 * deterministic: the same batches and the same controls at the same steps give the same weights.
 */
import { describe } from '../errors.js';
import { MAX_BATCH_SIZE } from './limits.js';

export interface HyperParams {
  readonly lr?: number;
  /** SGD only. */
  readonly momentum?: number;
  readonly weightDecay?: number;
  readonly batchSize?: number;
  /** A positive number, or null to turn clipping off. */
  readonly clipNorm?: number | null;
}

export type Control =
  | { readonly action: 'pause' }
  | { readonly action: 'resume' }
  /** Train exactly one queued batch while paused. */
  | { readonly action: 'step' }
  /** Re-initialise the weights (from the seed, or the explicit initial weights) and the optimizer state. */
  | { readonly action: 'reset' }
  | ({ readonly action: 'set' } & HyperParams)
  /** Emit a `weights` event now. */
  | { readonly action: 'snapshot' };

export type ControlAction = Control['action'];

export const CONTROL_ACTIONS: readonly ControlAction[] = ['pause', 'resume', 'step', 'reset', 'set', 'snapshot'];

const SET_KEYS = ['lr', 'momentum', 'weightDecay', 'batchSize', 'clipNorm'] as const;

/**
 * Validates a control that came from outside. Throws TypeError / RangeError naming the problem.
 */
export function checkControl(value: unknown): Control {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError(`Expected a control object, got ${describe(value)}`);
  const r = value as Record<string, unknown>;
  const action = r['action'];
  switch (action) {
    case 'pause':
    case 'resume':
    case 'step':
    case 'reset':
    case 'snapshot':
      return { action };
    case 'set': {
      const out: Record<string, unknown> = { action };
      let any = false;
      for (const key of Object.keys(r)) {
        if (key === 'action') continue;
        if (!(SET_KEYS as readonly string[]).includes(key)) throw new TypeError(`Expected set fields among ${SET_KEYS.join(', ')}, got ${describe(key)}`);
        const v = r[key];
        if (key === 'clipNorm' && v === null) {
          out[key] = null;
        } else if (key === 'batchSize') {
          if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_BATCH_SIZE) throw new RangeError(`Expected batchSize to be an integer in [1, ${MAX_BATCH_SIZE}], got ${describe(v)}`);
          out[key] = v;
        } else {
          if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (key === 'clipNorm' && v === 0)) {
            throw new RangeError(`Expected ${key} to be a finite number ${key === 'clipNorm' ? '> 0 (or null)' : '≥ 0'}, got ${describe(v)}`);
          }
          out[key] = v;
        }
        any = true;
      }
      if (!any) throw new TypeError(`Expected set to change at least one of ${SET_KEYS.join(', ')}, got none`);
      return out as Control;
    }
    default:
      throw new TypeError(`Expected control action one of ${CONTROL_ACTIONS.join(', ')}, got ${describe(action)}`);
  }
}
