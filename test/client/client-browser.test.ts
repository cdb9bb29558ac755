/**
 * `livegrad/client` in a browser: bundled by esbuild for the browser platform (which fails on any
 * Node module: the bundle holds `ws`'s browser stub and nothing else of it), loaded into Debian's
 * headless chromium driven by playwright-core, against a server on 127.0.0.1:0. The page follows
 * a session's step events with the browser's own WebSocket, streams rows, and reads a snapshot.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyConfig, tinyRows, useClients } from '../helpers/client.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

// CI installs chromium (.ci/run); a developer machine without it skips this file, saying so.
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`client browser tests skipped: no ${CHROMIUM} (apt-get install chromium)`);

const { start, connect } = useClients();

/** What the page runs: `livegradClient` is the bundle's global. */
declare const livegradClient: typeof import('../../src/client/index.js');

describe.skipIf(!hasChromium)('livegrad/client in a browser', () => {
  let dir: string;
  let bundle: string;
  let inputs: string[];
  let browser: Browser;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'livegrad-client-bundle-'));
    bundle = join(dir, 'livegrad-client.js');
    const result = await build({
      entryPoints: [fileURLToPath(new URL('../../src/client/index.ts', import.meta.url))],
      bundle: true,
      platform: 'browser',
      format: 'iife',
      globalName: 'livegradClient',
      outfile: bundle,
      metafile: true,
      logLevel: 'silent',
    });
    inputs = Object.keys(result.metafile.inputs);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  });

  afterAll(async () => {
    await browser?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('bundles for the browser with no Node module', () => {
    expect(inputs.some((i) => i.startsWith('src/client/'))).toBe(true);
    expect(inputs.filter((i) => i.includes('node_modules/ws/'))).toEqual(['node_modules/ws/browser.js']);
    expect(inputs.filter((i) => i.includes('src/server/') || i.includes('src/record/') || i.startsWith('node:'))).toEqual([]);
  });

  it('follows a session’s step events, streams rows and reads a snapshot in headless chromium', async () => {
    const server = await start();
    const node = await connect(server.url);
    await node.create(tinyConfig('web', 8));
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    try {
      // a page of the server's own origin: chromium refuses a local WebSocket to a page of no origin (about:blank)
      await page.goto(`http://127.0.0.1:${server.port}/healthz`);
      await page.addScriptTag({ path: bundle });
      const rows = tinyRows(400);
      const result = await page.evaluate(
        async ({ url, rows }) => {
          const { connect } = livegradClient;
          const client = await connect(url);
          const s = client.session('web');
          const steps: number[] = [];
          const followed = new Promise<void>((resolve, reject) => {
            s.events(['step']).subscribe({
              next: (e) => {
                steps.push(e.step);
                if (e.step === 50) resolve();
              },
              error: reject,
            });
          });
          await new Promise((r) => setTimeout(r, 50));
          const last = await new Promise((resolve, reject) => {
            let p: unknown;
            s.stream(rows, { rowsPerMessage: 16 }).subscribe({ next: (v) => (p = v), error: reject, complete: () => resolve(p) });
          });
          await followed;
          const snap = await s.snapshot();
          const { output, step } = await s.predict([[0.1, 0.2, 0.3, 0.4]]);
          await client.close();
          return {
            webSocket: typeof WebSocket,
            steps,
            last,
            weights: snap.model.layers.map((l) => [Array.from(l.w), Array.from(l.b)]),
            weightType: snap.model.layers[0]!.w.constructor.name,
            predicted: { rows: output.shape[0], step },
          };
        },
        { url: server.url, rows },
      );
      expect(errors).toEqual([]);
      expect(result.webSocket).toBe('function');
      expect(result.steps).toEqual([...Array(50).keys()].map((i) => i + 1));
      expect(result.last).toEqual({ sent: 400, acked: 400, consumed: 400, step: 50, skipped: 0 });
      expect(result.weightType).toBe('Float32Array');
      expect(result.predicted).toEqual({ rows: 1, step: 50 });
      // the page's snapshot is the server's weights
      const snap = await node.session('web').snapshot();
      expect(result.weights).toEqual(snap.model.layers.map((l) => [Array.from(l.w), Array.from(l.b)]));
    } finally {
      await page.close();
    }
  });
});
