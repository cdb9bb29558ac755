/**
 * The non-finite guard: a step whose loss or gradient norm is not finite is not applied (the
 * stepper leaves the weights as they were); what happens next is the session's policy.
 *
 *   skip   report it (an `error` event E_NON_FINITE) and train on
 *   pause  report it and pause, as a `pause` control would
 *   fail   report it and fail the session with LivegradError E_NON_FINITE
 */
import type { StepInfo } from '../../nn/step.js';
import type { NonFinitePolicy } from './config.js';

export interface GuardDecision {
  /** The `error` event's message, naming the step. */
  readonly message: string;
  readonly then: NonFinitePolicy;
}

/** The decision for step `step`, which the stepper did not apply. */
export function guard(policy: NonFinitePolicy, step: number, info: StepInfo): GuardDecision {
  return { message: `Step ${step} not applied: ${info.skipReason} (loss ${info.loss}, gradient norm ${info.gradNorm})`, then: policy };
}
