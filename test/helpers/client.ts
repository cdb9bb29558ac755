/**
 * Client test harness (tests only): servers on 127.0.0.1 port 0, clients of `livegrad/client`
 * and TCP proxies, all closed after each test; deterministic rows for the tiny model of
 * helpers/server.ts; the same rows trained in-process, to hold a streamed session's weights to.
 */
import { afterEach } from 'vitest';
import { connect, type ConnectOptions, type LivegradClient, type Mlp } from '../../src/client/index.js';
import { createTrainer, sgd, type LivegradServer } from '../../src/index.js';
import { tcpProxy, type TcpProxy } from './tcp-proxy.js';
import { TINY, useServers } from './server.js';

export function useClients() {
  // the servers' own harness; this one's after-hook, registered after it, runs first (vitest runs
  // after-hooks last-registered first): clients and proxies close before their servers
  const { start } = useServers();
  const clients: LivegradClient[] = [];
  const proxies: TcpProxy[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(proxies.splice(0).map((p) => p.close()));
  });
  return {
    start,
    async connect(url: string, options: ConnectOptions = {}): Promise<LivegradClient> {
      const c = await connect(url, options);
      clients.push(c);
      return c;
    },
    async proxy(server: LivegradServer): Promise<TcpProxy> {
      const p = await tcpProxy(server.port);
      proxies.push(p);
      return p;
    },
  };
}

/** The tiny model's session: 4 inputs, 8 tanh, 3 softmax; sgd lr 0.1. */
export function tinyConfig(session: string, batchSize = 32, credits?: number) {
  return { session, model: TINY, loss: 'crossEntropy', optimizer: { kind: 'sgd', lr: 0.1 }, batchSize, ...(credits === undefined ? {} : { credits }) } as const;
}

/** `n` rows for the tiny model: x [n, 4] in (-1, 1), labels [n] in 0..2. Deterministic. */
export function tinyData(n: number): { x: Float32Array; y: Float32Array } {
  const x = new Float32Array(n * 4);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < 4; j++) x[i * 4 + j] = Math.sin(i * 7 + j * 3 + 1);
    y[i] = (i * 5 + (x[i * 4]! > 0 ? 1 : 0)) % 3;
  }
  return { x, y };
}

/** The same rows as row objects. */
export function tinyRows(n: number): { x: number[]; y: number }[] {
  const { x, y } = tinyData(n);
  return Array.from({ length: n }, (_, i) => ({ x: Array.from(x.subarray(i * 4, i * 4 + 4)), y: y[i]! }));
}

/** The tiny model trained in-process on the first `n` rows, in batches of `batchSize` (the last partial one at the end). */
export function trainedInProcess(n: number, batchSize: number): Mlp {
  const { x, y } = tinyData(n);
  const t = createTrainer({ model: TINY, loss: 'crossEntropy', optimizer: sgd({ lr: 0.1 }), batchSize, sliceMs: Infinity });
  for (let at = 0; at < n; at += 1000) {
    const m = Math.min(1000, n - at);
    t.push({ x: { dtype: 'float32', shape: [m, 4], data: x.subarray(at * 4, (at + m) * 4) }, y: { dtype: 'float32', shape: [m], data: y.subarray(at, at + m) } });
  }
  t.end();
  return t.model;
}

/** A model's weights as bytes, layer by layer (w, then b). */
export function weightBytes(model: Mlp): Buffer[] {
  return model.layers.flatMap((l) => [Buffer.from(l.w.buffer, l.w.byteOffset, l.w.byteLength), Buffer.from(l.b.buffer, l.b.byteOffset, l.b.byteLength)]);
}
