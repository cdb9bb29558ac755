import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/<!-- example[^>]*-->\s*```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
const dir = mkdtempSync(join(root, 'test', '.readme-'));
const run = promisify(execFile);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('README', () => {
  it('has the two set-up commands', () => {
    expect(readme).toContain('npm install && npm start');
    expect(readme).toContain('npm test');
  });

  it('has runnable examples', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(2);
  });

  it.each(blocks.map((code, i) => [i, code] as const))('example %i runs as written', async (i, code) => {
    const file = join(dir, `example-${i}.ts`);
    writeFileSync(file, code);
    const { stdout } = await run(process.execPath, ['--import', 'tsx', file], { cwd: root, timeout: 60_000 });
    expect(stdout.length).toBeGreaterThan(0);
    // the record-and-replay example says whether the replay gave the live weights back
    if (code.includes('same weights')) expect(stdout).toContain('same weights: true');
  });
});
