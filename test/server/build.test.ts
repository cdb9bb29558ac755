/**
 * The built package (what `npm run build` emits and a user installs) trains sessions on their
 * own threads: the compiled server finds its compiled worker (trainer-worker.js) beside it, with
 * no TypeScript loader. The sources are compiled into test/.artifacts (inside the repo, so the
 * compiled code resolves the repo's node_modules) and a plain `node` child runs a session there.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const artifacts = path.join(root, 'test', '.artifacts');
mkdirSync(artifacts, { recursive: true });
const out = mkdtempSync(path.join(artifacts, 'build-'));

afterAll(() => rmSync(out, { recursive: true, force: true }));

const CHILD = `
import { createServer } from './dist/src/index.js';
import { WebSocket } from 'ws';
import { pack, unpack } from 'msgpackr';
const server = await createServer({ host: '127.0.0.1', port: 0, trainingThreads: true });
const ws = new WebSocket(server.url);
const seen = [];
const done = new Promise((resolve, reject) => {
  ws.on('message', (d) => {
    const m = unpack(d);
    seen.push(m.type);
    if (m.type === 'error') reject(new Error(m.code + ': ' + m.message));
    if (m.type === 'consumed') resolve(m);
  });
});
await new Promise((r) => ws.once('open', r));
ws.send(pack({ type: 'create', session: 's', model: { inputSize: 2, layers: [{ units: 2, activation: 'softmax' }], seed: 1 }, loss: 'crossEntropy', optimizer: { kind: 'sgd', lr: 0.1 }, batchSize: 2 }));
ws.send(pack({ type: 'samples', session: 's', seq: 0, x: [[0, 1], [1, 0]], y: [0, 1] }));
const consumed = await done;
ws.close();
await server.close();
console.log(JSON.stringify({ seen, step: consumed.step }));
`;

describe('the built package', () => {
  it('runs a session on its compiled training thread, without tsx', () => {
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json'), '--outDir', path.join(out, 'dist')], { cwd: root, stdio: 'pipe' });
    writeFileSync(path.join(out, 'child.mjs'), CHILD);
    const r = spawnSync(process.execPath, ['child.mjs'], { cwd: out, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toEqual({ seen: ['welcome', 'created', 'ack', 'consumed'], step: 1 });
  }, 120_000);
});
