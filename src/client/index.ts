/**
 * `livegrad/client` — a typed client of a livegrad server for Node and browsers: Observables in,
 * Observables out. It imports only livegrad's protocol layer (and the library's types), and
 * bundles for the browser without any Node module.
 *
 * @example
 *   import { connect } from 'livegrad/client';
 *   import { lastValueFrom } from 'rxjs';
 *
 *   const client = await connect('ws://127.0.0.1:8080/ws');
 *   const xor = client.session('xor');
 *   xor.events(['metrics']).subscribe((e) => e.type === 'metrics' && console.log(e.step, e.runningLoss));
 *   await lastValueFrom(xor.stream({ x: [[0, 0], [0, 1], [1, 0], [1, 1]], y: [0, 1, 1, 0] }));
 *   await client.close();
 */
export { connect } from './client.js';
export type { LivegradClient } from './client.js';
export type { Session } from './session.js';
export type { ConnectOptions, CreateConfig, CreatedSession, Matrix, Targets, ModelWeights, OptimizerSpec, Prediction, Snapshot, Controlled, Closed, ReplayCommand, Replaying } from './types.js';
export type { Welcome } from './connection.js';
export type { WebSocketConstructor, SocketLike } from './websocket.js';
export type { StreamOptions } from './stream.js';
export type { StreamProgress } from './stream-run.js';
export type { StreamSource } from './source.js';
export type { Row, Batch } from './rows.js';
export type { EventsOptions, SessionEvent, EventOf, GapEvent } from './events.js';
export type { ReconnectOptions } from './backoff.js';
export { CONNECTION_LOST } from './errors.js';
// the library's own types the client's answer in, for code that imports only the client
export { LivegradError } from '../errors.js';
export type { ErrorCode } from '../errors.js';
export type { Tensor, DType, FloatArray } from '../nn/tensor.js';
export type { Mlp, MlpSpec, LayerSpec } from '../nn/mlp.js';
export type { OptimizerState } from '../nn/optimizers.js';
export type { Control } from '../pipeline/controls.js';
export type { TrainEvent, TrainEventType, StepEvent, MetricsEvent, WeightsEvent, GradientsEvent, EvalEvent, LifecycleEvent, ControlEvent, ErrorEvent } from '../pipeline/events.js';
export type { SessionInfo } from '../protocol/messages.js';
