/**
 * docs/client.md is right: every TypeScript block in it is an example, and every example runs as
 * written (its `ws://127.0.0.1:8080/ws` pointed at a server on a free port) with a plain `node`
 * and tsx, importing `livegrad/client` as a user does (tsconfig's paths), and prints what the page
 * says it prints; every example type-checks under the project's strict tsconfig; the browser
 * example also bundles for the browser with the page's esbuild options.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { useClients } from '../helpers/client.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const doc = readFileSync(join(root, 'docs', 'client.md'), 'utf8');
const examples = [...doc.matchAll(/<!-- example( browser)? prints "([^"]+)" -->\n```ts\n([\s\S]*?)```/g)].map((m) => ({ browser: m[1] !== undefined, prints: m[2]!, code: m[3]! }));
// inside the repo, so that the examples resolve its node_modules and tsconfig (the .readme- prefix is ignored by git)
const dir = mkdtempSync(join(root, 'test', '.readme-client-'));
const run = promisify(execFile);
const { start } = useClients();

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('docs/client.md', () => {
  it('has an example in every TypeScript block, and runs each', () => {
    expect(examples.length).toBeGreaterThanOrEqual(5);
    expect(doc.match(/```ts\n/g)).toHaveLength(examples.length);
    for (const e of examples) expect(e.code).toContain('ws://127.0.0.1:8080/ws');
  });

  it.each(examples.map((e, i) => [i, e] as const))('example %i runs as written and prints what the page says', async (i, example) => {
    const server = await start();
    const file = join(dir, `example-${i}.ts`);
    writeFileSync(file, example.code.replace('ws://127.0.0.1:8080/ws', server.url));
    const { stdout } = await run(process.execPath, ['--import', 'tsx', file], { cwd: root, timeout: 30_000 });
    expect(stdout).toContain(example.prints);
    expect(server.stats().connections).toBe(0); // the example closed its client
  });

  it('type-checks every example as the project’s own code (strict)', async () => {
    const files = examples.map((e, i) => {
      const file = join(dir, `typed-${i}.ts`);
      writeFileSync(file, e.code);
      return file;
    });
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ extends: '../../tsconfig.json', compilerOptions: { noEmit: true }, include: files }));
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    const result = await run(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { cwd: root, timeout: 60_000 }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? String(e) }));
    expect(result.stdout).toBe('');
  });

  it('bundles the browser example with the page’s esbuild options, without a Node module', async () => {
    const browser = examples.filter((e) => e.browser);
    expect(browser).toHaveLength(1);
    expect(doc).toContain('npx esbuild app.ts --bundle --platform=browser --format=esm --outfile=app.js');
    const app = join(dir, 'app.ts');
    writeFileSync(app, browser[0]!.code);
    const result = await build({ entryPoints: [app], bundle: true, platform: 'browser', format: 'esm', write: false, metafile: true, logLevel: 'silent', absWorkingDir: root });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs).toContain('src/client/index.ts');
    expect(inputs.filter((f) => f.includes('node_modules/ws/'))).toEqual(['node_modules/ws/browser.js']);
  });
});
