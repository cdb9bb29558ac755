/**
 * The documentation is right: docs/errors.md lists exactly the codes of ErrorCode, the JSON
 * transcript in docs/protocol.md is what a server really answers, and its Python producer,
 * run as written by a real Python (Debian's python3 with python3-msgpack and python3-websockets,
 * which .ci/run installs), trains a session to the end, and its JavaScript subscriber, run as
 * written with ws's browser-style WebSocket, follows a session, resumes after a drop and stops at 1001.
 */
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { WebSocket } from 'ws';
import { describe, expect, it } from 'vitest';
import { createMessage, produce, TRAINING_MODES, useServers } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const { start } = useServers();

const PYTHON = '/usr/bin/python3';
// CI installs them (.ci/run) and runs this test; a developer machine without them skips it, saying so
const hasPython = spawnSync(PYTHON, ['-c', 'import msgpack, websockets']).status === 0;
const runPython = hasPython || process.env['CI'] !== undefined;
if (!runPython) console.warn(`docs: the Python producer test skipped: no ${PYTHON} with msgpack and websockets (apt-get install python3-msgpack python3-websockets)`);

describe('docs', () => {
  it('errors.md has one row for every ErrorCode, and no other', () => {
    const union = /export type ErrorCode =([^;]+);/.exec(read('src/errors.ts'))![1]!;
    const codes = [...union.matchAll(/'(E_[A-Z_]+)'/g)].map((m) => m[1]).sort();
    const rows = [...read('docs/errors.md').matchAll(/^\| `(E_[A-Z_]+)` \|/gm)].map((m) => m[1]).sort();
    expect(rows).toEqual(codes);
  });

  it('protocol.md: the JSON transcript is what the server answers', async () => {
    const doc = read('docs/protocol.md');
    const block = /The same exchange as JSON text frames[^`]*```\n([\s\S]*?)```/.exec(doc)![1]!;
    const lines = block.trim().split('\n');
    const server = await start();
    const c = await TestClient.connect(server.url, { query: '?format=json' });
    try {
      await c.waitFor((m) => m['type'] === 'welcome');
      let expected = 0;
      for (const line of lines) {
        const json = JSON.parse(line.slice(2)) as Record<string, unknown>;
        if (line.startsWith('→')) {
          c.send(json, 'json');
        } else {
          expected++;
          await c.waitFor(() => c.messages.length > expected); // message `expected` has arrived
          expect(c.messages[expected]).toEqual(json);
        }
      }
    } finally {
      c.terminate();
    }
  });

  it.skipIf(!runPython).each(TRAINING_MODES)('protocol.md: the Python producer runs as written against a server training $mode', async ({ trainingThreads }) => {
    const doc = read('docs/protocol.md');
    const code = /## Worked example: a producer \(Python\)[\s\S]*?```python\n([\s\S]*?)```/.exec(doc)![1]!;
    expect(code).toContain('ws://127.0.0.1:8080/ws');
    const server = await start({ trainingThreads });
    const script = code.replace('ws://127.0.0.1:8080/ws', server.url);
    const out = await new Promise<string>((resolve, reject) => {
      execFile(PYTHON, ['-c', script], { timeout: 60_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
    });
    // 500 messages of 32 rows, batches of 2: every row trained, the session closed with drain
    expect(out.trim()).toBe('trained 8000 steps on 16000 samples');
  }, 90_000);

  it('protocol.md: the JavaScript subscriber runs as written: follows steps, resumes after a drop with fromStep, stops at 1001', async () => {
    const doc = read('docs/protocol.md');
    const code = /## Worked example: a subscriber \(browser or Node\)[\s\S]*?```js\n([\s\S]*?)```/.exec(doc)![1]!;
    expect(code).toContain('ws://127.0.0.1:8080/ws?format=json');
    const server = await start();
    const producer = await TestClient.connect(server.url);
    await producer.ok(createMessage('tutorial', { events: { weightsEvery: 5 } }));
    // the example's globals: a browser-style WebSocket (ws's), recorded to drop it later, and a console to read
    const sockets: WebSocket[] = [];
    class BrowserWebSocket extends WebSocket {
      constructor(url: string) {
        super(url);
        sockets.push(this);
      }
    }
    const log: string[] = [];
    const line = (...args: unknown[]): void => void log.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
    const timers: ReturnType<typeof setTimeout>[] = [];
    runInNewContext(code.replace('ws://127.0.0.1:8080/ws', server.url), {
      WebSocket: BrowserWebSocket,
      console: { log: line, warn: line },
      setTimeout: (f: () => void, ms: number) => timers.push(setTimeout(f, ms)),
      JSON,
    });
    const seen = async (pattern: RegExp): Promise<void> => {
      try {
        await expect.poll(() => log.some((l) => pattern.test(l)), { timeout: 10_000 }).toBe(true);
      } catch {
        throw new Error(`Expected a line matching ${pattern}, got:\n${log.map((l) => l.slice(0, 120)).join('\n')}`);
      }
    };
    try {
      await seen(/^at step 0, 0 events replayed$/);
      // one step every 150 ms: under its rate of 10 step events a second, it sees each of them
      for (let seq = 0; seq < 5; seq++) {
        await produce(producer, 'tutorial', 1, 4, { firstSeq: seq });
        await new Promise((r) => setTimeout(r, 150));
      }
      await seen(/^5 [\d.e-]+$/);
      await seen(/^layer 0 weights \[4,8\]/);
      // a drop (not 1001): it reconnects after a second and resumes from the step after the last it saw
      sockets[0]!.terminate();
      await seen(/^closed 1006/);
      await produce(producer, 'tutorial', 5, 4, { firstSeq: 5 }); // steps 6-10, trained while it is away
      await seen(/^at step 10, \d+ events replayed$/);
      const replayed = Number(/^at step 10, (\d+)/.exec(log.find((l) => l.startsWith('at step 10'))!)![1]);
      expect(replayed).toBeGreaterThanOrEqual(5); // steps 6-10 (and the metrics of step 10), from the ring
      await seen(/^10 [\d.e-]+$/);
      // the fields the example reads are the events' own: metrics every 10 steps
      await seen(/^running loss [\d.]+ accuracy [\d.]+$/);
      // every step exactly once across the two connections, in order: live, then replayed from the ring
      const steps = log.filter((l) => /^\d+ [\d.e-]+$/.test(l)).map((l) => Number(l.split(' ')[0]));
      expect(steps).toEqual([...Array(10).keys()].map((i) => i + 1));
      // the server stops: 1001, and it does not come back
      await server.close();
      await seen(/^closed 1001/);
      expect(sockets).toHaveLength(2);
    } finally {
      for (const t of timers) clearTimeout(t);
      for (const ws of sockets) ws.terminate();
      producer.terminate();
    }
  });
});
