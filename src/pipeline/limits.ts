/**
 * Limits shared by the library and the wire protocol, in one place so that they cannot disagree.
 */

/** Most rows in one training batch: a session's `batchSize`, a `set` control's, a one-step `samples` message. */
export const MAX_BATCH_SIZE = 65_536;

/**
 * Largest `startStep` / `startSamples` a session may resume from. NOTE: counters are doubles;
 * from 2^53 on, n + 1 === n, so every later step would carry the same number. 2^50 leaves room
 * for 2^53 − 2^50 more samples, which no session reaches.
 */
export const MAX_START_COUNT = 2 ** 50;
