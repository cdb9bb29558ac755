/**
 * The WebAssembly kernels, compiled once per thread on first use, and the shared memory they
 * work in. `kernelModule()` is undefined where WebAssembly, its SIMD128 extension, shared memory
 * or synchronous compilation is missing (an old runtime, a browser page that is not cross-origin
 * isolated, a Content-Security-Policy without 'wasm-unsafe-eval'): the TypeScript kernels run there.
 */
import type { KernelExports } from './abi.js';
import { KERNELS_WASM_BASE64 } from './kernels-wasm.js';

/** 64 KiB, WebAssembly's page. */
export const PAGE_BYTES = 65536;
/** The most a stepper's memory may grow to: 4 GiB, all that 32-bit WebAssembly addresses (address space is reserved, not memory). */
export const MAX_PAGES = 65536;

let compiled: WebAssembly.Module | null | undefined;

/** The compiled kernels, or undefined where they cannot run (see above). */
export function kernelModule(): WebAssembly.Module | undefined {
  if (compiled === undefined) compiled = compile();
  return compiled ?? undefined;
}

function compile(): WebAssembly.Module | null {
  try {
    if (typeof WebAssembly !== 'object' || typeof SharedArrayBuffer !== 'function') return null;
    const bytes = decodeBase64(KERNELS_WASM_BASE64);
    if (!WebAssembly.validate(bytes)) return null;
    const module = new WebAssembly.Module(bytes);
    // a shared memory must be constructible here too (browsers allow it only when cross-origin isolated)
    instantiate(module, new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }));
    return module;
  } catch {
    return null;
  }
}

/** A shared memory of `bytes` (rounded up to whole pages) that can grow to MAX_PAGES. */
export function createMemory(bytes: number): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(bytes / PAGE_BYTES)), maximum: MAX_PAGES, shared: true });
}

/** The kernels' exports, working in `memory`. */
export function instantiate(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports {
  return new WebAssembly.Instance(module, { env: { memory, abort: abortFromWasm } }).exports as unknown as KernelExports;
}

function abortFromWasm(): never {
  throw new Error('livegrad: a WebAssembly kernel aborted (a bug in livegrad: please report it)');
}

/** Base64 to bytes without Buffer (this module also runs in browsers). */
export function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
