/**
 * The dashboard's live chart (client/dashboard/src/chart.ts) at TensorBoard scale, in headless
 * chromium: 3 series of 200,000 points each, smoothed and on a log axis, must draw in a fraction
 * of a frame budget — it draws the per-pixel min/max of each series, not every point.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`dashboard chart tests skipped: no ${CHROMIUM} (apt-get install chromium)`);

/** What the page runs: the bundle's global. */
declare const chart: { measure(points: number, series: number, draws: number): { first: number; median: number; drawn: number } };

describe.skipIf(!hasChromium)('the dashboard’s chart with 100,000+ points per series', () => {
  let dir: string;
  let browser: Browser;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'livegrad-chart-'));
    const src = fileURLToPath(new URL('../../client/dashboard/src/', import.meta.url));
    writeFileSync(
      join(dir, 'entry.ts'),
      `import { LineChart } from ${JSON.stringify(`${src}chart.ts`)};
       import { Trace } from ${JSON.stringify(`${src}series.ts`)};
       export function measure(points: number, series: number, draws: number) {
         const el = document.createElement('div');
         el.style.width = '800px';
         document.body.append(el);
         const c = new LineChart(el, { y: 'loss', allowLog: true });
         const lines = [...Array(series).keys()].map((k) => {
           const trace = new Trace();
           // a noisy decaying loss, deterministic (no Math.random)
           for (let i = 0; i < points; i++) trace.push(i, 1e12 + i * 10, Math.exp(-i / 50000) * (1 + 0.5 * Math.sin(i * 12.9898 + k)) + 1e-3);
           return { label: 'run ' + k, colour: '#1f6feb', trace, smooth: true };
         });
         c.setLines(lines);
         c.setView({ xMode: 'step', log: true, smoothing: 0.9 });
         let t = performance.now();
         c.draw();
         const first = performance.now() - t;
         const times = [];
         for (let i = 0; i < draws; i++) {
           t = performance.now();
           c.draw();
           times.push(performance.now() - t);
         }
         times.sort((a, b) => a - b);
         return { first, median: times[times.length >> 1], drawn: c.points };
       }`,
    );
    await build({ entryPoints: [join(dir, 'entry.ts')], bundle: true, platform: 'browser', format: 'iife', globalName: 'chart', outfile: join(dir, 'chart.js'), logLevel: 'silent' });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  });

  afterAll(async () => {
    await browser?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  // (how fast is printed, for the closing note and docs/dashboard.md, not asserted: speed is the bench's to judge)
  it('redraws 3 × 200,000 smoothed points on a log axis, every point drawn', async () => {
    const page = await browser.newPage();
    try {
      await page.setContent('<!doctype html><body></body>');
      await page.addScriptTag({ path: join(dir, 'chart.js') });
      const r = await page.evaluate(() => chart.measure(200_000, 3, 9));
      console.log(`chart: 3 × 200,000 points, first draw ${r.first.toFixed(1)} ms, then median ${r.median.toFixed(1)} ms per draw`);
      expect(r.drawn).toBe(600_000);
    } finally {
      await page.close();
    }
  });
});
