/**
 * Training events: what a running session tells the world. A discriminated union on `type`;
 * every event is stamped with its session name, the step it belongs to (the number of batches
 * trained so far, applied or skipped) and the wall-clock time in ms since the epoch.
 */
import type { Tensor } from '../nn/tensor.js';
import type { Control } from './controls.js';

export interface EventStamp {
  readonly session: string;
  readonly step: number;
  readonly time: number;
}

export interface StepEvent extends EventStamp {
  readonly type: 'step';
  readonly loss: number;
  readonly batchSize: number;
  /** Samples trained on so far, this batch included. */
  readonly samples: number;
  readonly lr: number;
  /** L2 norm of each layer's gradient (before clipping). */
  readonly gradNorms: readonly number[];
  /** Wall time of the step (forward, loss, backward, update) in ms. */
  readonly durationMs: number;
  /** False when the non-finite guard refused the batch. */
  readonly applied: boolean;
  /** Batches waiting in the ingest queue, and batches dropped by it so far. */
  readonly queueDepth: number;
  readonly dropped: number;
}

export interface MetricsEvent extends EventStamp {
  readonly type: 'metrics';
  /** Mean loss over the last `window` steps. */
  readonly runningLoss: number;
  /** Test-then-train accuracy over the last `window` steps (classification only): each batch is scored before the model learns from it. */
  readonly accuracy: number | undefined;
  readonly window: number;
  readonly samples: number;
}

export interface LayerTensors {
  /** Weights [nin, nout] and bias [nout]. */
  readonly w: Tensor;
  readonly b: Tensor;
}

export interface WeightsEvent extends EventStamp {
  readonly type: 'weights';
  readonly layers: readonly LayerTensors[];
}

export interface GradientsEvent extends EventStamp {
  readonly type: 'gradients';
  readonly norms: readonly number[];
  /** Full gradient tensors, only when the session asks for them (`events.gradientTensors`). */
  readonly layers: readonly LayerTensors[] | undefined;
}

export interface EvalEvent extends EventStamp {
  readonly type: 'eval';
  readonly loss: number;
  readonly samples: number;
  /** Classification only. */
  readonly accuracy: number | undefined;
  /** confusion[actual][predicted], classification only. */
  readonly confusion: readonly (readonly number[])[] | undefined;
}

export type LifecycleState = 'started' | 'paused' | 'resumed' | 'reset' | 'completed' | 'failed';

export interface LifecycleEvent extends EventStamp {
  readonly type: 'lifecycle';
  readonly state: LifecycleState;
  readonly reason: string | undefined;
}

/** A control that took effect, at the batch boundary before step `step + 1`. */
export interface ControlEvent extends EventStamp {
  readonly type: 'control';
  readonly control: Control;
}

/** A problem that did not stop training (or, with policy `fail`, the one that did). */
export interface ErrorEvent extends EventStamp {
  readonly type: 'error';
  readonly code: string;
  readonly message: string;
}

export type TrainEvent = StepEvent | MetricsEvent | WeightsEvent | GradientsEvent | EvalEvent | LifecycleEvent | ControlEvent | ErrorEvent;

export type TrainEventType = TrainEvent['type'];

export const EVENT_TYPES: readonly TrainEventType[] = ['step', 'metrics', 'weights', 'gradients', 'eval', 'lifecycle', 'control', 'error'];
