/**
 * Protocol v1: every message, as TypeScript types. docs/protocol.md is the same thing in prose,
 * for clients in any language.
 *
 * A message is a map with a string `type`. Binary WebSocket frames carry it as plain MessagePack,
 * text frames as JSON. Clients may put an `id` (string or number) on any request; the reply echoes
 * it as `ref`. `samples` carry no `id`: their replies echo the producer's `seq`.
 */
import type { Activation } from '../nn/activations.js';
import type { LossName } from '../nn/losses.js';
import type { Control } from '../pipeline/controls.js';
import type { TrainEvent, TrainEventType } from '../pipeline/events.js';
import type { DType, Tensor } from '../nn/tensor.js';
import type { KernelChoice } from '../nn/step.js';

/** A client's request id, echoed as `ref`. */
export type MessageId = string | number;

/**
 * A tensor on the wire: `data` holds the elements row-major as little-endian float32 or float64
 * bytes (a MessagePack bin). In JSON, and optionally in MessagePack, `data` is an array of numbers.
 */
export interface WireTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

/**
 * A tensor as a client may send it, after structural validation: typed (`dtype` given; `data` bytes
 * or numbers), or nested arrays of numbers (`dtype` undefined: the session's dtype is used).
 */
export interface TensorInput {
  readonly dtype: DType | undefined;
  readonly shape: readonly number[];
  readonly data: Uint8Array | readonly number[];
}

/** An architecture to initialise from a seed (the fields of `MlpSpec`). */
export interface ModelSpecWire {
  readonly inputSize: number;
  readonly layers: readonly { readonly units: number; readonly activation: Activation }[];
  readonly dtype?: DType;
  readonly seed?: number;
  readonly init?: string;
  readonly biasInit?: string;
}

/** Explicit initial weights: per layer `w` [nin, nout] and `b` [nout]. */
export interface ModelWeightsWire {
  readonly dtype?: DType;
  readonly layers: readonly { readonly activation: Activation; readonly w: TensorInput; readonly b: TensorInput }[];
}

/** The optimizer and its hyperparameters (`kind` sgd | adam | adamw; the rest as `sgd()` / `adam()`). */
export type OptimizerWire = { readonly kind: string } & Readonly<Record<string, unknown>>;

/** Optimizer state to resume from, as a `snapshot` reply carries it. */
export interface OptimizerStateWire {
  readonly kind: string;
  readonly t: number;
  readonly hasMomentum: boolean;
  /** Per parameter tensor (layer by layer, weights then bias): sgd [momentum], adam/adamw [m, v], each flat. */
  readonly buffers: readonly (readonly TensorInput[])[];
}

export interface EventRatesWire {
  readonly metricsEvery?: number;
  readonly metricsWindow?: number;
  readonly weightsEvery?: number;
  readonly gradientsEvery?: number;
  readonly gradientTensors?: boolean;
  readonly evalEvery?: number;
}

// ---------------------------------------------------------------------------------------------
// client → server

export interface CreateMessage {
  readonly type: 'create';
  readonly id?: MessageId;
  readonly session: string;
  readonly model: ModelSpecWire | ModelWeightsWire;
  readonly loss: LossName;
  readonly optimizer: OptimizerWire;
  readonly clipNorm?: number;
  /** Rows per training step. Default 32. */
  readonly batchSize?: number;
  readonly events?: EventRatesWire;
  readonly evalSet?: { readonly x: TensorInput; readonly y: TensorInput };
  readonly onNonFinite?: 'skip' | 'pause' | 'fail';
  /** Unacknowledged `samples` messages each producer may have in flight. Default: the server's. */
  readonly credits?: number;
  /** Ingest queue, in batches of `batchSize` rows. Default: the server's. */
  readonly queueCapacity?: number;
  /** Resume: optimizer state and counters, as a `snapshot` reply gives them. */
  readonly optimizerState?: OptimizerStateWire;
  readonly startStep?: number;
  readonly startSamples?: number;
  /** Record the session (default: when the server records, `livegrad serve --record DIR`); true on a server that does not record is E_BAD_CONFIG. */
  readonly record?: boolean;
  /**
   * The step's kernels: `auto` (default: `wasm` for a float32 model where the server runs them,
   * else `js`), `wasm` (E_KERNELS where the server cannot run them; E_BAD_CONFIG for a float64
   * model) or `js`. `created` says which. The two agree within float32 tolerance, not bit for bit.
   */
  readonly kernels?: KernelChoice | 'auto';
}

export interface ListMessage {
  readonly type: 'list';
  readonly id?: MessageId;
}

export interface SamplesMessage {
  readonly type: 'samples';
  readonly session: string;
  /** The producer's sequence number: an integer ≥ 0, strictly increasing per connection and session. */
  readonly seq: number;
  /** [m, inputSize]. */
  readonly x: TensorInput;
  /** [m, outputs] targets, or [m] class indices. */
  readonly y: TensorInput;
  /** Train these rows as exactly one step of their own, whatever the session's batchSize. */
  readonly step?: boolean;
  /**
   * The producer's name: its `seq` then counts per name and session, across connections and a
   * server's restart, and the session reports the last one it holds (`producers` in `list`).
   */
  readonly producer?: string;
}

export interface SubscribeMessage {
  readonly type: 'subscribe';
  readonly id?: MessageId;
  readonly session: string;
  /** Default: every topic. */
  readonly topics?: readonly TrainEventType[];
  /** Most events per second, per topic. */
  readonly rates?: Readonly<Partial<Record<TrainEventType, number>>>;
  /** Replay lossless events with `step ≥ fromStep` from the session's ring before the live ones. */
  readonly fromStep?: number;
}

export interface UnsubscribeMessage {
  readonly type: 'unsubscribe';
  readonly id?: MessageId;
  readonly session: string;
}

export interface ControlMessage {
  readonly type: 'control';
  readonly id?: MessageId;
  readonly session: string;
  readonly control: Control;
  /** Apply once the session has taken this many steps (default: at the next batch boundary). */
  readonly atStep?: number;
}

export interface PredictMessage {
  readonly type: 'predict';
  readonly id?: MessageId;
  readonly session: string;
  /** [m, inputSize]. */
  readonly x: TensorInput;
  /** Answer at once with the weights as they are, not at its turn after the rows received before it. */
  readonly now?: boolean;
}

export interface SnapshotMessage {
  readonly type: 'snapshot';
  readonly id?: MessageId;
  readonly session: string;
  /** Answer at once with the weights as they are, not at its turn after the rows received before it. */
  readonly now?: boolean;
}

export interface CloseMessage {
  readonly type: 'close';
  readonly id?: MessageId;
  readonly session: string;
  /** Train what is accepted (the last partial batch included) before completing. Default false: stop now. */
  readonly drain?: boolean;
}

/** Steers a played recording (a session of `livegrad replay --serve`): play, pause, its speed, or a seek to a step. */
export interface ReplayMessage {
  readonly type: 'replay';
  readonly id?: MessageId;
  readonly session: string;
  readonly action: 'play' | 'pause' | 'seek' | 'speed' | 'fork';
  /** `seek`: the step to play on from; `fork`: the step to fork at. */
  readonly step?: number;
  /** `speed`: steps per second, or "max". */
  readonly speed?: number | 'max';
  /** `fork`: the learning rate from `step` on. */
  readonly lr?: number;
  /** `fork`: the new played session's name. */
  readonly as?: string;
}

export interface PingMessage {
  readonly type: 'ping';
  readonly id?: MessageId;
}

export type ClientMessage =
  | CreateMessage
  | ListMessage
  | SamplesMessage
  | SubscribeMessage
  | UnsubscribeMessage
  | ControlMessage
  | PredictMessage
  | SnapshotMessage
  | CloseMessage
  | ReplayMessage
  | PingMessage;

export type ClientMessageType = ClientMessage['type'];

export const CLIENT_MESSAGE_TYPES: readonly ClientMessageType[] = ['create', 'list', 'samples', 'subscribe', 'unsubscribe', 'control', 'predict', 'snapshot', 'close', 'replay', 'ping'];

// ---------------------------------------------------------------------------------------------
// server → client

/** What a connection may do: `produce` create, samples, control, close; `read` list, subscribe, unsubscribe, predict, snapshot. */
export interface Permissions {
  readonly produce: boolean;
  readonly read: boolean;
}

export interface WelcomeMessage {
  readonly type: 'welcome';
  readonly protocol: number;
  readonly server: string;
  /** What this connection's token (or the lack of one) allows. */
  readonly permissions: Permissions;
  readonly limits: {
    readonly maxPayload: number;
    readonly messagesPerSecond: number;
    readonly burst: number;
    /** Sessions the server holds at most, and how long one with no one attached lives (ms; 0: for ever). */
    readonly maxSessions: number;
    readonly sessionIdleMs: number;
    /** Per session: messages waiting their turn, and bytes of samples among them (E_BACKLOG beyond). */
    readonly maxBacklogMessages: number;
    readonly maxBacklogBytes: number;
  };
  readonly heartbeatMs: number;
}

export interface SessionInfo {
  readonly session: string;
  readonly step: number;
  readonly samples: number;
  readonly paused: boolean;
  readonly dtype: DType;
  readonly inputSize: number;
  readonly outputSize: number;
  readonly parameters: number;
  readonly loss: LossName;
  readonly batchSize: number;
  readonly credits: number;
  /** Batches waiting to train, plus sample messages waiting for room. */
  readonly queueDepth: number;
  readonly subscribers: number;
  /** Recorded into the server's record directory. */
  readonly recording: boolean;
  /** Per named producer, the last seq the session holds (acknowledged; a recovered session: the last in its log). */
  readonly producers: Readonly<Record<string, number>>;
  /** The kernels it trains with (`create`'s `kernels` resolved; a played recording's: the recorded ones). */
  readonly kernels: KernelChoice;
  /** Threads its kernels use: the server's `kernelThreads` with the `wasm` kernels, else 1. */
  readonly threads: number;
  /** A played recording (not a live session): where it plays from and how. */
  readonly replay?: { readonly path: string; readonly playing: boolean; readonly speed: number | 'max'; readonly lastStep: number; readonly ended: boolean; readonly fork?: ForkOrigin };
}

/** A played fork (`replay` `fork`): the played session it forked, the step, and the learning rate from there. */
export interface ForkOrigin {
  readonly from: string;
  readonly step: number;
  readonly lr: number;
}

export interface CreatedMessage extends Omit<SessionInfo, 'paused' | 'queueDepth' | 'subscribers'> {
  readonly type: 'created';
  readonly ref: MessageId | null;
}

export interface SessionsMessage {
  readonly type: 'sessions';
  readonly ref: MessageId | null;
  readonly sessions: readonly SessionInfo[];
}

/** A `samples` message was accepted into the session's queue: its credit is back. */
export interface AckMessage {
  readonly type: 'ack';
  readonly session: string;
  readonly seq: number;
  /** Rows accepted. */
  readonly rows: number;
  /** `samples` messages this producer may now send to this session before the next ack. */
  readonly credits: number;
}

/** Every row of an accepted `samples` message has been trained; `step` is the step that trained its last row. */
export interface ConsumedMessage {
  readonly type: 'consumed';
  readonly session: string;
  readonly seq: number;
  readonly step: number;
}

export interface SubscribedMessage {
  readonly type: 'subscribed';
  readonly ref: MessageId | null;
  readonly session: string;
  readonly topics: readonly TrainEventType[];
  /** The session's step when the subscription began. */
  readonly step: number;
  /** Events replayed from the ring (sent right after this message, before live events). */
  readonly replayed: number;
  /** With `fromStep`: false when the ring no longer held every lossless event from `fromStep` on. */
  readonly complete: boolean;
}

/** The answer to `replay`: where the played recording stands now. */
export interface ReplayingMessage {
  readonly type: 'replaying';
  readonly ref: MessageId | null;
  readonly session: string;
  /** The step it plays on from (a seek's), or the last step it published. */
  readonly step: number;
  readonly playing: boolean;
  readonly speed: number | 'max';
  /** The last step the recording holds, and whether the replay has reached the log's end. */
  readonly lastStep: number;
  readonly ended: boolean;
}

export interface UnsubscribedMessage {
  readonly type: 'unsubscribed';
  readonly ref: MessageId | null;
  readonly session: string;
}

export interface ControlledMessage {
  readonly type: 'controlled';
  readonly ref: MessageId | null;
  readonly session: string;
  readonly action: Control['action'];
  /** The session's step when the control was accepted. */
  readonly step: number;
  readonly atStep: number | null;
}

export interface PredictionMessage {
  readonly type: 'prediction';
  readonly ref: MessageId | null;
  readonly session: string;
  /** The weights after this many steps produced the output. */
  readonly step: number;
  readonly output: WireTensor;
}

export interface SnapshotReplyMessage {
  readonly type: 'snapshot';
  readonly ref: MessageId | null;
  readonly session: string;
  readonly step: number;
  readonly samples: number;
  readonly model: { readonly dtype: DType; readonly inputSize: number; readonly layers: readonly { readonly activation: Activation; readonly w: WireTensor; readonly b: WireTensor }[] };
  readonly loss: LossName;
  readonly optimizer: Readonly<Record<string, unknown>>;
  readonly optimizerState: { readonly kind: string; readonly t: number; readonly hasMomentum: boolean; readonly buffers: readonly (readonly WireTensor[])[] };
  readonly clipNorm: number | null;
  readonly batchSize: number;
  /** The kernels the session trains with: give them to a `create` that goes on from this snapshot bit for bit. */
  readonly kernels: KernelChoice;
}

export interface ClosedMessage {
  readonly type: 'closed';
  readonly ref: MessageId | null;
  readonly session: string;
  readonly step: number;
  readonly samples: number;
}

export interface PongMessage {
  readonly type: 'pong';
  readonly ref: MessageId | null;
  readonly time: number;
}

/** A reply saying what was wrong with a message (or with the connection, before it closes). */
export interface ErrorMessage {
  readonly type: 'error';
  readonly ref: MessageId | null;
  readonly code: string;
  readonly message: string;
  readonly session?: string;
}

/** A training event on the wire: the `TrainEvent` with tensors as `WireTensor` and absent fields left out. */
export type Wired<T> = T extends Tensor
  ? WireTensor
  : T extends readonly (infer U)[]
    ? readonly Wired<U>[]
    : T extends object
      ? { readonly [K in keyof T]: Wired<T[K]> }
      : T;

export type EventMessage = Wired<TrainEvent>;

export type ServerMessage =
  | WelcomeMessage
  | CreatedMessage
  | SessionsMessage
  | AckMessage
  | ConsumedMessage
  | SubscribedMessage
  | UnsubscribedMessage
  | ControlledMessage
  | PredictionMessage
  | SnapshotReplyMessage
  | ClosedMessage
  | ReplayingMessage
  | PongMessage
  | ErrorMessage
  | EventMessage;
