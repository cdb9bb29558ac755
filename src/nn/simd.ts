/**
 * The 4 × 4 float32 block loop of `kernels.ts`, and the finiteness check of `step.ts`, as
 * WebAssembly SIMD: the module's bytes are emitted here (no binary file, no toolchain), compiled
 * once when this module loads, and used for work large enough to repay copying operands into its
 * memory. Where WebAssembly or its SIMD extension is missing, `SIMD` is undefined and JS runs.
 */

/**
 * The compiled kernel and its memory. NOTE: this is the one piece of state in this file (created
 * once per module instance, see `SIMD` at the end). Calls cannot interleave on it: JS runs one call at
 * a time and a kernel never calls out; each worker loads its own instance.
 */
export interface Simd {
  readonly gemm: (
    x: number, xu: number, xt: number, b: number, bt: number, o: number, ldo: number,
    rows: number, cols: number, steps: number, bias: number, hasBias: number,
  ) => void;
  /** 1 when the float32 values in bytes [p, end) are all finite, else 0; end − p a multiple of 64. */
  readonly finite: (p: number, end: number) => number;
  readonly memory: WebAssembly.Memory;
  /** A float view of `memory`, renewed when the memory grows. */
  heap: Float32Array;
  /** heap.subarray(0, length) by length, kept so that copying a result out allocates nothing. */
  readonly outViews: Map<number, Float32Array>;
}

/** Below this many multiply-adds the copies in and out of WebAssembly memory cost more than SIMD saves. */
const SIMD_MIN_WORK = 8192;
/** The WebAssembly memory grows to the largest operands it has held and never shrinks: cap it (64 MB). */
const SIMD_MAX_FLOATS = 1 << 24;

export function worthSimd(work: number, floats: number): boolean {
  return work >= SIMD_MIN_WORK && floats <= SIMD_MAX_FLOATS;
}

/** Below this many values, copying them into WebAssembly memory costs more than checking them in JS. */
const SIMD_FINITE_MIN = 64;
/** Values checked per copy into WebAssembly memory (256 KB, a multiple of 16): a large chunk does not grow the memory to its size. */
const SIMD_FINITE_BLOCK = 1 << 16;

export function worthSimdFinite(length: number): boolean {
  return length >= SIMD_FINITE_MIN;
}

/**
 * True when every value of `a` is finite. `a` is copied into WebAssembly memory a block at a time,
 * where `finite` checks 16·⌊n/16⌋ values, sixteen at a time; the last n mod 16 are checked here,
 * the same way (v · 0 summed). Four times faster than the JS loop on a W2 batch (2048 values),
 * copy included.
 */
export function simdAllFinite(s: Simd, a: Float32Array): boolean {
  if (a.length <= SIMD_FINITE_BLOCK) return finiteBlock(s, a);
  for (let at = 0; at < a.length; at += SIMD_FINITE_BLOCK) {
    if (!finiteBlock(s, a.subarray(at, at + SIMD_FINITE_BLOCK))) return false;
  }
  return true;
}

function finiteBlock(s: Simd, a: Float32Array): boolean {
  const n = a.length, n16 = n - (n % 16);
  reserve(s, n);
  copyIn(s.heap, 0, a, n);
  let tail = 0;
  for (let i = n16; i < n; i++) tail += a[i]! * 0;
  return s.finite(0, 4 * n16) === 1 && tail === 0;
}

/**
 * out[u, j] = (bias[j] +) Σ_t x[u·xu + t·xt] · B[t, j] for u < rows (a multiple of 4) and j < cols,
 * where B[t, j] = b[t·cols + j], or b[j·steps + t] when `bT` (b transposed, as in matmulTB).
 * Runs in WebAssembly memory: the operands are copied in, with rows of B (and bias, and out)
 * padded to a multiple of 4 columns so that every column is a whole block, and out copied back.
 */
export function simdBlocks(
  s: Simd, x: Float32Array, xu: number, xt: number, b: Float32Array, bT: boolean, out: Float32Array,
  rows: number, steps: number, cols: number, bias: Float32Array | undefined,
): void {
  const cp = cols + 3 - ((cols + 3) % 4); // padded columns
  const xLength = xt === 1 ? rows * xu : steps * xt; // x is [rows, steps] (xt = 1) or [steps, ≥ rows] (xu = 1)
  // heap, in floats: out [rows, cp] | x | B [steps, cp] | bias [cp]
  const xAt = rows * cp, bAt = xAt + xLength, biasAt = bAt + steps * cp;
  reserve(s, biasAt + cp);
  const heap = s.heap;
  copyIn(heap, xAt, x, xLength);
  if (!bT && cp === cols) copyIn(heap, bAt, b, steps * cols);
  else {
    for (let t = 0; t < steps; t++) {
      const at = bAt + t * cp;
      if (bT) for (let j = 0; j < cols; j++) heap[at + j] = b[j * steps + t]!;
      else for (let j = 0; j < cols; j++) heap[at + j] = b[t * cols + j]!;
      for (let j = cols; j < cp; j++) heap[at + j] = 0;
    }
  }
  if (bias !== undefined) for (let j = 0; j < cp; j++) heap[biasAt + j] = j < cols ? bias[j]! : 0;
  s.gemm(4 * xAt, 4 * xu, 4 * xt, 4 * bAt, 4 * cp, 0, 4 * cp, rows, cp, steps, 4 * biasAt, bias === undefined ? 0 : 1);
  if (cp === cols) out.set(outView(s, rows * cols));
  else for (let u = 0; u < rows; u++) for (let j = 0; j < cols; j++) out[u * cols + j] = heap[u * cp + j]!;
}

/** heap.subarray(0, length), cached by length: copying a result out then allocates nothing. */
function outView(s: Simd, length: number): Float32Array {
  let view = s.outViews.get(length);
  if (view === undefined) {
    view = s.heap.subarray(0, length);
    s.outViews.set(length, view);
  }
  return view;
}

/** heap[at, at + length) = src[0, length): one memcpy when src is exactly that long (the usual case). */
function copyIn(heap: Float32Array, at: number, src: Float32Array, length: number): void {
  if (src.length === length) heap.set(src, at);
  else for (let i = 0; i < length; i++) heap[at + i] = src[i]!;
}

function reserve(s: Simd, floats: number): void {
  if (s.heap.length >= floats) return;
  s.memory.grow(Math.ceil((4 * floats - s.memory.buffer.byteLength) / 65536));
  s.heap = new Float32Array(s.memory.buffer);
  s.outViews.clear();
}

/**
 * The SIMD kernel, or undefined where WebAssembly or its SIMD extension is missing.
 * NOTE: a runtime may also refuse to compile WebAssembly (a Content-Security-Policy without
 * 'wasm-unsafe-eval'); that too means "no SIMD here" and the JS blocks run instead.
 */
function createSimd(): Simd | undefined {
  if (typeof WebAssembly !== 'object') return undefined;
  const bytes = simdModule();
  if (!WebAssembly.validate(bytes)) return undefined;
  let exports: WebAssembly.Exports;
  try {
    exports = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports;
  } catch {
    return undefined;
  }
  const memory = exports['memory'] as WebAssembly.Memory;
  return { gemm: exports['gemm'] as Simd['gemm'], finite: exports['finite'] as Simd['finite'], memory, heap: new Float32Array(memory.buffer), outViews: new Map() };
}

/**
 * The 4 × 4 block loop of the float32 kernels as one WebAssembly SIMD function, emitted below:
 *
 *   gemm(x, xu, xt, b, bt, o, ldo, rows, cols, steps, bias, hasBias)      (pointers and strides in bytes)
 *     for u < rows step 4, j < cols step 4:
 *       c[r] = hasBias ? bias[j..j+3] : 0                                   r = 0..3, two f64x2 each
 *       for t < steps:  c[r] += x[u+r, t] · b[t, j..j+3]                    in f64x2 lanes
 *       o[u+r, j..j+3] = f32(c[r])
 *   with x[u, t] at x + u·xu + t·xt, b[t, j] at b + t·bt + 4j, o[u, j] at o + u·ldo + 4j.
 *
 * NOTE: the sums are kept in double precision (f32x4 lanes promoted to f64x2), the same
 * operations in the same order as the JS block loop, so both give the same bits; it is faster
 * only because each instruction does two of them. (f32x4 arithmetic would be twice as fast again
 * but round every partial sum to float32.)
 */
function gemmCode(): number[] {
  // params 0-11, then i32 locals 12-20, v128 locals 21-32
  const [X, XU, XT, B, BT, O, LDO, ROWS, COLS, STEPS, BIAS, HAS_BIAS] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const [U, J, T, X0, X1, X2, X3, BP, OP] = [12, 13, 14, 15, 16, 17, 18, 19, 20];
  const [BV, BLO, BHI, XV] = [21, 22, 23, 24];
  const C = [25, 26, 27, 28, 29, 30, 31, 32]; // c[r] = (C[2r], C[2r+1]): lanes j, j+1 and j+2, j+3
  const body = [
    ...set(U, i32(0)),
    ...block(loop(
      brIf(1, geU(get(U), get(ROWS))),
      set(J, i32(0)),
      block(loop(
        brIf(1, geU(get(J), get(COLS))),
        ifElse(get(HAS_BIAS), halves(load128(add(get(BIAS), shl2(get(J))))), [...set(BLO, zero128()), ...set(BHI, zero128())]),
        C.flatMap((c, i) => set(c, get(i % 2 === 0 ? BLO : BHI))),
        set(X0, add(get(X), mul(get(U), get(XU)))),
        set(X1, add(get(X0), get(XU))),
        set(X2, add(get(X1), get(XU))),
        set(X3, add(get(X2), get(XU))),
        set(BP, add(get(B), shl2(get(J)))),
        set(T, get(STEPS)),
        block(loop(
          brIf(1, eqz(get(T))),
          halves(load128(get(BP))),
          [X0, X1, X2, X3].flatMap((xp, r) => [
            ...set(XV, f64x2Splat(f64PromoteF32(loadF32(get(xp))))),
            ...set(C[2 * r]!, f64x2Add(get(C[2 * r]!), f64x2Mul(get(XV), get(BLO)))),
            ...set(C[2 * r + 1]!, f64x2Add(get(C[2 * r + 1]!), f64x2Mul(get(XV), get(BHI)))),
            ...set(xp, add(get(xp), get(XT))),
          ]),
          set(BP, add(get(BP), get(BT))),
          set(T, sub(get(T), i32(1))),
          br(0),
        )),
        set(OP, add(add(get(O), mul(get(U), get(LDO))), shl2(get(J)))),
        [0, 1, 2, 3].flatMap((r) => [
          ...store128(get(OP), joinLow(f32x4DemoteF64x2(get(C[2 * r]!)), f32x4DemoteF64x2(get(C[2 * r + 1]!)))),
          ...set(OP, add(get(OP), get(LDO))),
        ]),
        set(J, add(get(J), i32(4))),
        br(0),
      )),
      set(U, add(get(U), i32(4))),
      br(0),
    )),
  ];
  // bv (loaded from the stack) → blo = lanes 0, 1 and bhi = lanes 2, 3, as doubles
  function halves(v128: number[]): number[] {
    return [...set(BV, v128), ...set(BLO, f64x2PromoteLow(get(BV))), ...set(BHI, f64x2PromoteLow(shuffle(HIGH_TO_LOW, get(BV), get(BV))))];
  }
  return [2, 9, 0x7f, 12, 0x7b, ...body, END]; // locals: 9 × i32, 12 × v128; then the body
}

/**
 * The finiteness check of `allFinite` (step.ts), sixteen values at a time:
 *
 *   finite(p, end)                                        (byte offsets; end − p a multiple of 64)
 *     acc[k] = 0                                           k = 0..3, f32x4 each
 *     for p < end step 64:  acc[k] += v[p + 16k] · 0      four f32x4 lanes of v · 0
 *     return every lane of acc[0] + acc[1] + acc[2] + acc[3] == 0
 *
 * NOTE: as in JS, v · 0 is ±0 for a finite v and NaN for ±Infinity or NaN, so a lane stays ±0
 * exactly while its values are finite and is NaN (≠ 0) once one is not. float32 arithmetic loses
 * nothing here: every term is ±0 or NaN. Four accumulators, not one, so the adds do not wait on
 * each other.
 */
function finiteCode(): number[] {
  const [P, END_AT] = [0, 1]; // params
  const ACC = [2, 3, 4, 5]; // v128 locals
  const body = [
    ...ACC.flatMap((a) => set(a, zero128())),
    ...block(loop(
      brIf(1, geU(get(P), get(END_AT))),
      ACC.flatMap((a, k) => set(a, f32x4Add(get(a), f32x4Mul(load128(get(P), 16 * k), zero128())))),
      set(P, add(get(P), i32(64))),
      br(0),
    )),
    ...i32x4AllTrue(f32x4Eq(f32x4Add(f32x4Add(get(ACC[0]!), get(ACC[1]!)), f32x4Add(get(ACC[2]!), get(ACC[3]!))), zero128())),
  ];
  return [1, 4, 0x7b, ...body, END]; // locals: 4 × v128; then the body
}

/** The module: gemm and finite, and the memory they share. */
function simdModule(): Uint8Array<ArrayBuffer> {
  const gemm = gemmCode(), finite = finiteCode();
  const i32Params = Array.from({ length: 12 }, () => 0x7f);
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // magic, version 1
    ...section(1, [2, 0x60, ...vec(i32Params), 0, 0x60, ...vec([0x7f, 0x7f]), ...vec([0x7f])]), // types: (12 × i32) → (), (i32, i32) → i32
    ...section(3, [2, 0, 1]), // functions: gemm has type 0, finite type 1
    // memories: one, min 4 pages (a finiteness check's whole block, SIMD_FINITE_BLOCK floats), no max
    // NOTE: growing a (non-shared) memory detaches its ArrayBuffer, and the first detach anywhere in
    // the process turns off V8's "no buffer was ever detached" assumption: every typed-array access
    // after it pays a check. Four pages from the start: the checks of train() never grow it
    ...section(5, [1, 0, 4]),
    ...section(7, [3, ...name('gemm'), 0x00, 0, ...name('finite'), 0x00, 1, ...name('memory'), 0x02, 0]), // exports
    ...section(10, [2, ...uleb(gemm.length), ...gemm, ...uleb(finite.length), ...finite]), // code
  ]);
}

// WebAssembly binary encoding, just what gemmCode and finiteCode use. Each helper returns the bytes of an
// expression, operands first (the stack machine's order), so the code above reads like the text format.
const END = 0x0b;
const EMPTY = 0x40;
const HIGH_TO_LOW = [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7];
const LOW_HALVES = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
/** Signed LEB128, for i32.const. */
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) return [...out, byte];
    out.push(byte | 0x80);
  }
}
function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    const byte = n & 0x7f;
    n >>>= 7;
    out.push(n === 0 ? byte : byte | 0x80);
  } while (n !== 0);
  return out;
}
const vec = (items: readonly number[]): number[] => [...uleb(items.length), ...items];
const name = (s: string): number[] => vec([...s].map((ch) => ch.charCodeAt(0)));
const section = (id: number, content: readonly number[]): number[] => [id, ...uleb(content.length), ...content];
const op = (code: number, ...operands: number[][]): number[] => [...operands.flat(), code];
const simdOp = (code: number, ...operands: number[][]): number[] => [...operands.flat(), 0xfd, ...uleb(code)];
const block = (...body: number[][]): number[] => [0x02, EMPTY, ...body.flat(), END];
const loop = (...body: number[][]): number[] => [0x03, EMPTY, ...body.flat(), END];
const ifElse = (cond: number[], then: number[], otherwise: number[]): number[] => [...cond, 0x04, EMPTY, ...then, 0x05, ...otherwise, END];
const br = (depth: number): number[] => [0x0c, depth];
const brIf = (depth: number, cond: number[]): number[] => [...cond, 0x0d, depth];
const get = (local: number): number[] => [0x20, local];
const set = (local: number, value: number[]): number[] => [...value, 0x21, local];
const i32 = (v: number): number[] => [0x41, ...sleb(v)];
const add = (a: number[], b: number[]): number[] => op(0x6a, a, b);
const sub = (a: number[], b: number[]): number[] => op(0x6b, a, b);
const mul = (a: number[], b: number[]): number[] => op(0x6c, a, b);
const shl2 = (a: number[]): number[] => op(0x74, a, i32(2)); // × 4 bytes per float
const geU = (a: number[], b: number[]): number[] => op(0x4f, a, b);
const eqz = (a: number[]): number[] => op(0x45, a);
const loadF32 = (ptr: number[]): number[] => [...ptr, 0x2a, 2, 0]; // memarg: align 2^2, offset 0
const f64PromoteF32 = (a: number[]): number[] => op(0xbb, a);
const load128 = (ptr: number[], offset = 0): number[] => [...simdOp(0x00, ptr), 0, ...uleb(offset)]; // memarg: align 1 (a hint), offset in bytes
const store128 = (ptr: number[], v: number[]): number[] => [...simdOp(0x0b, ptr, v), 0, 0];
const zero128 = (): number[] => [0xfd, 0x0c, ...new Array<number>(16).fill(0)];
const shuffle = (lanes: readonly number[], a: number[], b: number[]): number[] => [...simdOp(0x0d, a, b), ...lanes];
const joinLow = (a: number[], b: number[]): number[] => shuffle(LOW_HALVES, a, b);
const f64x2Splat = (a: number[]): number[] => simdOp(0x14, a);
const f32x4Add = (a: number[], b: number[]): number[] => simdOp(0xe4, a, b);
const f32x4Mul = (a: number[], b: number[]): number[] => simdOp(0xe6, a, b);
const f32x4Eq = (a: number[], b: number[]): number[] => simdOp(0x41, a, b);
const i32x4AllTrue = (a: number[]): number[] => simdOp(0xa3, a);
const f64x2Add = (a: number[], b: number[]): number[] => simdOp(0xf0, a, b);
const f64x2Mul = (a: number[], b: number[]): number[] => simdOp(0xf2, a, b);
const f64x2PromoteLow = (a: number[]): number[] => simdOp(0x5f, a);
const f32x4DemoteF64x2 = (a: number[]): number[] => simdOp(0x5e, a);

/** Created once, when this module loads (after the encoding helpers above it). */
export const SIMD: Simd | undefined = createSimd();
