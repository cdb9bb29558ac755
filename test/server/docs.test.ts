/**
 * The documentation is right: docs/errors.md lists exactly the codes of ErrorCode, and the JSON
 * transcript in docs/protocol.md is what a server really answers.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { useServers } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const { start } = useServers();

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
});
