/**
 * How the server serves the dashboard (src/server/static.ts): the page, one script and one
 * stylesheet bundled from client/dashboard/src by esbuild — uPlot and livegrad/client inside, no
 * Node module, nothing from the internet — under a strict Content-Security-Policy, from a cache
 * that names every input's SHA-256.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type LivegradServer } from '../../src/index.js';
import { bundleDashboard, loadDashboard } from '../../src/server/static.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('the dashboard’s files', () => {
  let server: LivegradServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('bundles the page for the browser with uPlot and the client, and no Node module', () => {
    const { js, css, inputs } = bundleDashboard(root);
    expect(inputs).toEqual(expect.arrayContaining(['client/dashboard/src/main.ts', 'src/client/index.ts', 'src/nn/mlp.ts']));
    expect(inputs.some((i) => i.startsWith('node_modules/uplot/'))).toBe(true);
    expect(inputs.filter((i) => i.startsWith('node:') || i.startsWith('src/server/') || i.startsWith('src/record/'))).toEqual([]);
    expect(inputs.filter((i) => i.includes('node_modules/ws/'))).toEqual(['node_modules/ws/browser.js']);
    expect(js.length).toBeGreaterThan(10_000);
    expect(css.toString()).toContain('.uplot');
    // nothing fetched from elsewhere: no URL of another origin in the page's code
    expect(js.toString()).not.toMatch(/https?:\/\/(?!127\.0\.0\.1)[a-z0-9.-]+\.[a-z]{2,}\/[^\s"'`]*\.(js|css)/i);
  });

  it('serves the page, the script and the stylesheet with a strict Content-Security-Policy', async () => {
    server = await createServer({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${server.port}`;
    const page = await fetch(`${base}/`);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toBe("default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'");
    const html = await page.text();
    expect(html).toContain('<script type="module" src="/dashboard/dashboard.js">');
    expect(html).toContain('<link rel="stylesheet" href="/dashboard/dashboard.css">');
    const js = await fetch(`${base}/dashboard/dashboard.js`);
    expect(js.headers.get('content-type')).toContain('javascript');
    expect(js.headers.get('x-content-type-options')).toBe('nosniff');
    const css = await fetch(`${base}/dashboard/dashboard.css`);
    expect(css.headers.get('content-type')).toContain('text/css');
    // the old hand-written files are gone
    expect((await fetch(`${base}/dashboard/charts.js`)).status).toBe(404);
  });

  it('keeps the bundle in node_modules/.cache with the SHA-256 of every input it was built from', () => {
    const files = loadDashboard();
    const cache = join(root, 'node_modules', '.cache', 'livegrad-dashboard');
    const manifest = JSON.parse(readFileSync(join(cache, 'manifest.json'), 'utf8')) as { inputs: Record<string, string> };
    const main = 'client/dashboard/src/main.ts';
    expect(manifest.inputs[main]).toBe(createHash('sha256').update(readFileSync(join(root, main))).digest('hex'));
    expect(files.get('/dashboard/dashboard.js')!.body.equals(readFileSync(join(cache, 'dashboard.js')))).toBe(true);
  });
});
