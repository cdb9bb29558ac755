/**
 * The documentation is right: docs/errors.md lists exactly the codes of ErrorCode, the JSON
 * transcript in docs/protocol.md is what a server really answers, and its Python producer,
 * run as written by a real Python (Debian's python3 with python3-msgpack and python3-websockets,
 * which .ci/run installs), trains a session to the end.
 */
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TRAINING_MODES, useServers } from '../helpers/server.js';
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
});
