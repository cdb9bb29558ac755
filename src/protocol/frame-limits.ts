/**
 * What one frame may hold, in either encoding. The scanners (msgpack-scan.ts, json-scan.ts) check
 * these on the bytes before anything is decoded, so that decoding costs time linear in the frame
 * with a small constant, and memory that is a small multiple of it.
 *
 * NOTE: the bytes alone do not bound the cost. A 4 MiB frame of one-byte values is 4 M values, and
 * one-byte arrays, maps or strings are 4 M allocations: over a second of decoding (measured: 1.5 s
 * for 4 M empty maps) and hundreds of MB of heap, during which no other session is served. What
 * allocates costs several times what a number costs, and a distinct map key more again (a new
 * object shape), so each has its own cap. The largest real messages stay well under every cap: a
 * `create` with 64 layers of weights and their optimizer state has about 1,500 map keys and 400
 * tensors; a `samples` tensor sent as nested arrays of float64 numbers fills the default 4 MiB
 * with about 466,000 numbers; a tensor's bin is one value, however large.
 */
export const FRAME_LIMITS = {
  /** Arrays and maps inside one another; a message holding a tensor as nested rows is 3 deep. */
  depth: 64,
  /** Values of every kind in the frame: numbers, strings, bins, nils, booleans, arrays, maps and map keys. */
  values: 2 ** 20,
  /** Values that decode to something allocated: strings (map keys included), bins, arrays and maps. */
  allocated: 2 ** 16,
  /** Map keys in the frame, all maps together. */
  keys: 4096,
} as const;
