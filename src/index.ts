/**
 * livegrad — the public library surface. Everything a user imports comes from here.
 */
export { LivegradError } from './errors.js';
export type { ErrorCode } from './errors.js';

// nn: tensors, kernels, model, losses, optimizers, the training step
export { tensor, zeros, allocate, toNested, at, DTYPES } from './nn/tensor.js';
export type { DType, FloatArray, Tensor } from './nn/tensor.js';
export { rng } from './nn/rng.js';
export type { Rng } from './nn/rng.js';
export { matmul, matmulTA, matmulTB, sumRows } from './nn/kernels.js';
export { ACTIVATIONS, LEAKY_RELU_SLOPE, activate, activateBackward } from './nn/activations.js';
export type { Activation } from './nn/activations.js';
export { LOSSES, lossAndDelta, requiredActivation } from './nn/losses.js';
export type { LossName, Targets } from './nn/losses.js';
export { INITS } from './nn/init.js';
export type { InitName, BiasInit } from './nn/init.js';
export { mlp, mlpFromWeights, mlpShape, shapeOf, predict, cloneModel, outputSize, parameterCount } from './nn/mlp.js';
export type { Mlp, MlpSpec, MlpShape, Dense, DenseShape, LayerSpec, LayerWeights } from './nn/mlp.js';
export { sgd, adam, adamw, checkOptimizer, currentLR, applyOptimizer } from './nn/optimizers.js';
export type { Optimizer, SgdConfig, AdamConfig, SgdOptions, AdamOptions, OptimizerState } from './nn/optimizers.js';
export { constantLR, stepLR, exponentialLR, cosineLR, learningRate } from './nn/schedules.js';
export type { Schedule } from './nn/schedules.js';
export {
  step,
  createStepper,
  newOptimizerState,
  cloneOptimizerState,
  checkStepConfig,
  checkOptimizerState,
  createWorkspace,
  forwardInto,
  lossInto,
  backwardInto,
  updateInto,
  parameters,
  gradientList,
  resolveKernels,
  KERNEL_CHOICES,
} from './nn/step.js';
export type { StepConfig, StepInfo, StepResult, Stepper, StepperOptions, KernelChoice, SkipReason, Workspace } from './nn/step.js';
export { checkBatch } from './nn/batch.js';
export type { Batch } from './nn/batch.js';
export {
  modelToJSON,
  modelFromJSON,
  modelToBinary,
  modelFromBinary,
  optimizerStateToJSON,
  optimizerStateFromJSON,
  floatsFromBytes,
  floatsToBytes,
} from './nn/serialize.js';
export type { MlpJSON, OptimizerStateJSON } from './nn/serialize.js';

// pipeline: RxJS operators, the trainer, events, controls, sources
export { forward } from './pipeline/forward.js';
export { loss } from './pipeline/loss.js';
export { delta } from './pipeline/delta.js';
export { update } from './pipeline/update.js';
export type { TrainState, UpdateOptions } from './pipeline/update.js';
export type { Pass, LossPass, DeltaPass, PassContext } from './pipeline/pass.js';
export { batch } from './pipeline/batch.js';
export { Rebatcher } from './pipeline/rebatch.js';
export { train } from './pipeline/train.js';
export type { TrainOptions } from './pipeline/train.js';
export { createTrainer } from './pipeline/trainer/trainer.js';
export type { Trainer, ConsumedCallback } from './pipeline/trainer/trainer.js';
export { checkTrainConfig, DEFAULT_EVENT_RATES } from './pipeline/trainer/config.js';
export type { TrainConfig, CheckedTrainConfig, EventRates, QueuePolicy, NonFinitePolicy } from './pipeline/trainer/config.js';
export type { OfferHandlers, OfferOptions, ControlHandlers, TurnHandlers } from './pipeline/trainer/inbox.js';
export type { Journal } from './pipeline/trainer/journal.js';
export type { TrainerCheckpoint, CheckpointEntry } from './pipeline/trainer/checkpoint.js';
export type { WindowState } from './pipeline/metrics.js';
export { MAX_BATCH_SIZE, MAX_START_COUNT } from './pipeline/limits.js';
export { checkControl, CONTROL_ACTIONS } from './pipeline/controls.js';
export type { Control, ControlAction, HyperParams } from './pipeline/controls.js';
export { EVENT_TYPES } from './pipeline/events.js';
export type {
  TrainEvent,
  TrainEventType,
  EventStamp,
  StepEvent,
  MetricsEvent,
  WeightsEvent,
  GradientsEvent,
  EvalEvent,
  LifecycleEvent,
  LifecycleState,
  ControlEvent,
  ErrorEvent,
  LayerTensors,
} from './pipeline/events.js';
export { dataset, epochs, csvChunks, readCsv } from './pipeline/sources.js';
export type { Dataset, EpochOptions, CsvOptions } from './pipeline/sources.js';
export { countCorrect, RunningWindow } from './pipeline/metrics.js';

// protocol and server
export { PROTOCOL_VERSION } from './protocol/version.js';
export { CLIENT_MESSAGE_TYPES } from './protocol/messages.js';
export type {
  MessageId,
  WireTensor,
  TensorInput,
  ModelSpecWire,
  ModelWeightsWire,
  OptimizerWire,
  OptimizerStateWire,
  EventRatesWire,
  ClientMessage,
  ClientMessageType,
  CreateMessage,
  ListMessage,
  SamplesMessage,
  SubscribeMessage,
  UnsubscribeMessage,
  ControlMessage,
  PredictMessage,
  SnapshotMessage,
  CloseMessage,
  PingMessage,
  Permissions,
  ServerMessage,
  WelcomeMessage,
  SessionInfo,
  CreatedMessage,
  SessionsMessage,
  AckMessage,
  ConsumedMessage,
  SubscribedMessage,
  UnsubscribedMessage,
  ControlledMessage,
  PredictionMessage,
  SnapshotReplyMessage,
  ClosedMessage,
  PongMessage,
  ErrorMessage,
  EventMessage,
  Wired,
} from './protocol/messages.js';
export { encode, encodeMsgpack, encodeJSON, decodeFrame, decodeMsgpack } from './protocol/codec.js';
export type { Format } from './protocol/codec.js';
export { readTensor, toTensor, wireTensor, isWireTensor, wireTensorNumbers } from './protocol/tensors.js';
export { parseClientMessage, refOf, sessionOf, SESSION_NAME } from './protocol/validate.js';
export { wireEvent } from './protocol/events.js';
// record: session logs, recording, replay
export { createLogWriter, FSYNC_POLICIES } from './record/writer.js';
export type { LogWriter, LogWriterOptions, FsyncPolicy } from './record/writer.js';
export { openLog } from './record/reader.js';
export type { LogReader, LogEntry, LogReport, LogSegment, OpenLogOptions } from './record/reader.js';
export type { LogHeader, LogRecord, RecordPosition } from './record/format.js';
export { repairLog } from './record/repair.js';
export type { LogFs, LogFileHandle, FileIdentity } from './record/log-fs.js';
export type { RepairResult } from './record/repair.js';
export { createRecorder, createRecordedTrainer } from './record/recorder.js';
export type { RecordOptions, SessionRecorder } from './record/recorder.js';
export { openRecording } from './record/recording.js';
export type { Recording, RecordingEntry, CheckpointInfo } from './record/recording.js';
export { replay, replayToEnd, checkpointDifference } from './record/replay.js';
export type { ReplayOptions, ReplayResult } from './record/replay.js';
export type { SessionRecord, InputRecord, SamplesRecord, ControlRecord, EndRecord, CloseRecord, CheckpointRecord, EventRecord } from './record/session-records.js';
export { createServer, DEFAULT_SERVER_OPTIONS } from './server/server.js';
export type { ServerOptions, LivegradServer } from './server/server.js';
export type { OutboxOptions } from './server/outbox.js';
export { createLogger, LOG_LEVELS } from './server/log.js';
export type { Logger, LogLevel, LogFields, LoggerOptions } from './server/log.js';
