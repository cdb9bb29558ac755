/**
 * The client's public types that more than one of its files use: how it connects, what `create`
 * takes, and what the session's requests answer. The types of `stream()` and `events()` live
 * beside them (stream.ts, events.ts).
 */
import type { Activation } from '../nn/activations.js';
import type { LossName } from '../nn/losses.js';
import type { Mlp, MlpSpec } from '../nn/mlp.js';
import type { AdamOptions, OptimizerState, SgdOptions } from '../nn/optimizers.js';
import type { DType, Tensor } from '../nn/tensor.js';
import type { KernelChoice } from '../nn/step.js';
import type { Format } from '../protocol/codec.js';
import type { CreatedMessage, CreateMessage, ReplayingMessage } from '../protocol/messages.js';
import type { WebSocketConstructor } from './websocket.js';

export interface ConnectOptions {
  /** The server's producer or read token: `Authorization: Bearer …` from Node, `?token=…` from a browser. */
  readonly token?: string;
  /**
   * The WebSocket class. Default: the platform's (browsers), else the `ws` package (Node 20),
   * which is imported only then. A class given here gets the token in the URL.
   */
  readonly WebSocket?: WebSocketConstructor;
  /** MessagePack binary frames (default: compact, tensors as bytes) or JSON text frames (readable in a proxy). */
  readonly format?: Format;
}

/** A 2-D tensor: the library's `Tensor`, or nested rows of numbers (`[[0, 1], [1, 0]]`). */
export type Matrix = Tensor | readonly (readonly number[])[];

/** Targets: a `Tensor`, class indices (`[2, 0, 1]`), or rows of targets (`[[1], [0]]`). */
export type Targets = Tensor | readonly number[] | readonly (readonly number[])[];

/** The optimizer as `create` sends it: what `sgd()`, `adam()` and `adamw()` return, or their options with a `kind`. */
export type OptimizerSpec = ({ readonly kind: 'sgd' } & SgdOptions) | ({ readonly kind: 'adam' | 'adamw' } & AdamOptions);

/** Explicit initial weights: per layer `w` [nin, nout] and `b` [nout]. */
export interface ModelWeights {
  readonly dtype?: DType;
  readonly layers: readonly { readonly activation: Activation; readonly w: Matrix; readonly b: Tensor | readonly number[] }[];
}

/**
 * A session to create: the wire's `create` (docs/protocol.md) with the library's own types — a
 * model spec as `mlp()` takes it, a model (`Mlp`, e.g. a snapshot's), or explicit weights; an
 * optimizer as `sgd()` / `adam()` give it; tensors or nested arrays.
 */
export interface CreateConfig extends Omit<CreateMessage, 'type' | 'id' | 'model' | 'optimizer' | 'evalSet' | 'optimizerState'> {
  readonly model: MlpSpec | Mlp | ModelWeights;
  readonly optimizer: OptimizerSpec;
  /** A holdout set for `eval` events. */
  readonly evalSet?: { readonly x: Matrix; readonly y: Targets };
  /** Resume: a snapshot's optimizer state (with `startStep` and `startSamples`). */
  readonly optimizerState?: OptimizerState;
}

/** What `create` answers: the session as it starts. */
export type CreatedSession = Omit<CreatedMessage, 'type' | 'ref'>;

/** What `predict` answers: the output [m, outputs], computed with the weights after `step` steps. */
export interface Prediction {
  readonly output: Tensor;
  readonly step: number;
}

/**
 * What `snapshot` answers: the weights as an `Mlp` (run it offline with `predict()`), and what a
 * `create` elsewhere needs to go on from here bit for bit (`optimizerState`, `step`, `samples`,
 * and `kernels`).
 */
export interface Snapshot {
  readonly session: string;
  readonly step: number;
  readonly samples: number;
  readonly model: Mlp;
  readonly loss: LossName;
  readonly optimizer: OptimizerSpec;
  readonly optimizerState: OptimizerState;
  readonly clipNorm: number | null;
  readonly batchSize: number;
  /** The kernels the session trains with: the same in a `create` that goes on from here trains the same bits. */
  readonly kernels: KernelChoice;
}

/** What `control` answers: the step count when it took effect (`atStep` for one scheduled later). */
export interface Controlled {
  readonly action: string;
  readonly step: number;
  readonly atStep: number | null;
}

/** What `close` answers: where the session ended. */
export interface Closed {
  readonly step: number;
  readonly samples: number;
}

/**
 * What `replay()` asks of a played recording: play on, stop before the next step, play on from
 * `step`, set the speed (steps per second, or `'max'`), or fork: play the same log again as a new
 * played session named `as`, with the learning rate `lr` from `step` on.
 */
export type ReplayCommand =
  | { readonly action: 'play' }
  | { readonly action: 'pause' }
  | { readonly action: 'seek'; readonly step: number }
  | { readonly action: 'speed'; readonly speed: number | 'max' }
  | { readonly action: 'fork'; readonly step: number; readonly lr: number; readonly as: string };

/** Where a played recording stands: the step it plays on from (a seek's) or the last it published, whether it plays, its speed, the last step the log holds, and whether it has played all of it. */
export type Replaying = Omit<ReplayingMessage, 'type' | 'ref'>;
