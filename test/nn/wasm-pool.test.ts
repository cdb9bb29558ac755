/**
 * The kernel pool (src/nn/wasm/pool.ts): a worker computes half of a kernel's range in the shared
 * memory, starts on first use, sleeps when idle, reports a kernel that failed, and stops cleanly.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { kernelModule, createMemory, instantiate } from '../../src/nn/wasm/module.js';
import { BACKOFF_CALLS, BAD_IN_A_ROW, KernelPool, SPLIT_MIN_WORK, splitAt, WARMUP_HANDOFFS } from '../../src/nn/wasm/pool.js';

const module = kernelModule();

describe('splitAt', () => {
  it('keeps small products on one thread and splits large ones at a multiple of 8 near the middle', () => {
    expect(splitAt(32 * 64 * 64, 64)).toBeUndefined(); // W2's largest product
    expect(splitAt(SPLIT_MIN_WORK, 8)).toBeUndefined(); // too few columns to share
    expect(splitAt(64 * 784 * 256, 256)).toBe(128); // W3's forward
    expect(splitAt(64 * 784 * 256, 784)).toBe(392); // W3's weight gradient, by rows
    for (const n of [16, 17, 100, 257, 1001]) {
      const at = splitAt(SPLIT_MIN_WORK, n)!;
      expect(at % 8).toBe(0);
      expect(Math.abs(at - n / 2)).toBeLessThanOrEqual(4);
    }
  });
});

describe.skipIf(module === undefined)('KernelPool', () => {
  const pools: KernelPool[] = [];
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.close()));
  });
  const open = (): { pool: KernelPool; heap: Float32Array; memory: WebAssembly.Memory } => {
    const memory = createMemory(1 << 20);
    const pool = new KernelPool(module!, memory);
    pools.push(pool);
    return { pool, heap: new Float32Array(memory.buffer), memory };
  };

  it('starts its worker on the first work only, computes its half in the shared memory, and stops on close', async () => {
    const { pool, heap, memory } = open();
    expect(pool.running).toBe(false);
    const n = 1000, at = 64;
    for (let i = 0; i < n; i++) heap[at / 4 + i] = i;
    // sgd over [512, 1000) there, [0, 512) here: p -= 0.5 · g with g = p
    pool.start('sgd', [at, at, 512, n, 0.5]);
    instantiate(module!, memory).sgd(at, at, 0, 512, 0.5);
    pool.wait();
    expect(pool.running).toBe(true);
    for (let i = 0; i < n; i++) expect(heap[at / 4 + i]).toBe(i - 0.5 * i);
    await pool.close();
    expect(pool.running).toBe(false);
    expect(() => pool.start('sgd', [at, at, 0, 1, 0.5])).toThrow(/already closed/);
    await pool.close(); // idempotent
  });

  it('hands back what the kernel returned', () => {
    const { pool, heap } = open();
    heap.set([1, 2, 3, 4, 5], 16);
    pool.start('sumSquares', [64, 5]);
    pool.wait();
    expect(pool.result()).toBe(55);
    pool.start('scale', [64, 5, 1]); // returns nothing: 0
    pool.wait();
    expect(pool.result()).toBe(0);
  });

  it('gives an argument a call leaves out 0, as a direct call does, not what the slot held before', () => {
    const { pool, heap } = open();
    heap.fill(3, 16, 20);
    pool.start('sgd', [1024, 1024, 0, 4, 0, 7, 7, 7]); // a long call (lr 0: changes nothing), its slots 5-7 set
    pool.wait();
    pool.start('scale', [64, 4]); // c left out: 0
    pool.wait();
    expect(Array.from(heap.subarray(16, 20))).toEqual([0, 0, 0, 0]);
  });

  it('runs many hand-offs in a row, each one waited for', () => {
    const { pool, heap } = open();
    heap[16] = 1;
    for (let k = 0; k < 2000; k++) {
      pool.start('scale', [64, 1, 2]);
      pool.wait();
    }
    expect(heap[16]).toBe(2 ** 2000 > 3e38 ? Infinity : 2 ** 2000);
  });

  it('sleeps when idle: no core is burned between steps', async () => {
    const { pool } = open();
    pool.start('scale', [64, 1, 1]);
    pool.wait();
    await new Promise((r) => setTimeout(r, 50)); // past the spin window
    const before = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 400));
    const used = process.cpuUsage(before);
    // a spinning worker would use ~400 ms of CPU here; a sleeping one next to nothing
    expect((used.user + used.system) / 1000).toBeLessThan(150);
  });

  it('backs off from a worker that keeps finishing well after the caller: one thread for a while, then the worker again', () => {
    const pool = new KernelPool(module!, createMemory(8 << 20));
    pools.push(pool);
    expect(pool.splitting()).toBe(true);
    // the worker gets all of a long kernel (adam over 2^18 values, some 0.3 ms), the caller nothing: the caller waits every time
    const n = 1 << 18;
    const late = (): void => {
      pool.start('adam', [64, 64 + 4 * n, 64 + 8 * n, 64 + 12 * n, 0, n, 1e-3, 0.9, 0.999, 1e-8, 0, 0, 1e-2, 0.03]);
      pool.wait();
    };
    // a new worker's first hand-offs do not count (its thread starting, its code not yet optimized)
    for (let k = 0; k < WARMUP_HANDOFFS; k++) {
      pool.start('scale', [64, 1, 1]);
      pool.wait();
    }
    expect(pool.backoffs).toBe(0);
    for (let k = 0; k < BAD_IN_A_ROW - 1; k++) late();
    expect([pool.splitting(), pool.backoffs]).toEqual([true, 0]);
    late();
    expect(pool.backoffs).toBe(1);
    let skipped = 0;
    while (!pool.splitting()) skipped++;
    expect(skipped).toBe(BACKOFF_CALLS);
    expect(pool.skipped).toBe(BACKOFF_CALLS);
  });

  it('reports a kernel that failed in the worker as an error, and closes', () => {
    const { pool } = open();
    // a range past the end of the memory: the worker's kernel traps
    pool.start('scale', [1 << 30, 1 << 20, 2]);
    expect(() => pool.wait()).toThrow(/kernel pool's worker failed \(a kernel threw/);
    expect(pool.running).toBe(false);
  });
});
