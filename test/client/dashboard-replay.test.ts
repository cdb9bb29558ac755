/**
 * The dashboard's replay panel in headless chromium: a session recorded by a server, then played
 * by another (`replays` in createServer); the page follows the played recording like a live
 * session, plays and pauses it, its scrubber, moved to step N, seeks there and reads out the
 * loss the recording has at N, and a fork from there with another learning rate is overlaid.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, dataset, type LivegradServer } from '../../src/index.js';
import { Producer } from '../../scripts/demo/producer.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`dashboard replay tests skipped: no ${CHROMIUM} (apt-get install chromium)`);

const STEPS = 60;

describe.skipIf(!hasChromium)('dashboard: a played recording', () => {
  let root: string;
  let browser: Browser;
  let server: LivegradServer | undefined;
  /** The loss of each step, as the live session published it. */
  const losses = new Map<number, number>();

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'livegrad-dashboard-replay-'));
    const recorder = await createServer({ host: '127.0.0.1', port: 0, record: root, checkpointEvery: 10 });
    const producer = await Producer.connect(recorder.url);
    try {
      await producer.create({
        session: 'xor',
        model: { inputSize: 2, layers: [{ units: 8, activation: 'tanh' }, { units: 2, activation: 'softmax' }], seed: 5 },
        loss: 'crossEntropy',
        optimizer: { kind: 'sgd', lr: 0.3 },
        batchSize: 4,
        events: { metricsEvery: 5, weightsEvery: 5 },
      });
      producer.onEvent = (e) => {
        if (e['type'] === 'step') losses.set(e['step'] as number, e['loss'] as number);
      };
      await producer.request({ type: 'subscribe', session: 'xor', topics: ['step'] });
      await producer.stream('xor', dataset([[0, 0], [0, 1], [1, 0], [1, 1]], [0, 1, 1, 0]), { epochs: STEPS, rows: 4, rate: 1000, seed: 1 });
      await producer.request({ type: 'close', session: 'xor', drain: true });
    } finally {
      producer.close();
      await recorder.close();
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (root !== undefined) rmSync(root, { recursive: true, force: true });
  });

  it('plays and pauses the replay, reads out the recording’s loss at the step it is scrubbed to, and overlays a fork from there', async () => {
    expect(losses.size).toBe(STEPS);
    server = await createServer({ host: '127.0.0.1', port: 0, replays: [{ path: join(root, 'xor'), speed: 20, paused: true }] });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const state = (): Promise<string> => page.locator('#replay-path').innerText();
    const points = async (): Promise<number> => Number(await page.locator('#chart-loss').getAttribute('data-points'));
    try {
      await page.goto(`http://127.0.0.1:${server.port}/?session=xor`);
      await expect.poll(() => page.locator('#replay').isVisible(), { timeout: 20_000 }).toBe(true);
      expect(await page.locator('#controls').isVisible()).toBe(false);
      await expect.poll(state, { timeout: 10_000 }).toContain(`${join(root, 'xor')} · paused`);
      await page.click('#replay-play');
      await expect.poll(state, { timeout: 10_000 }).toContain('playing at 20 steps/s');
      await expect.poll(points, { timeout: 20_000 }).toBeGreaterThan(5);
      await page.click('#replay-pause');
      await expect.poll(state, { timeout: 10_000 }).toContain('paused');
      const held = await points();
      // paused: no step comes while the page hears from the server twice more (≥ 1.5 s)
      const refreshes = Number(await page.locator('body').getAttribute('data-refreshes'));
      await expect.poll(async () => Number(await page.locator('body').getAttribute('data-refreshes')), { timeout: 20_000 }).toBeGreaterThanOrEqual(refreshes + 2);
      expect(await state()).toContain('paused');
      expect(await points()).toBeLessThanOrEqual(held + 1); // a step already on its way may still come
      await page.selectOption('#replay-speed', 'max');
      await page.click('#replay-play');
      // the page holds every step of the recording once it has played to its end
      await expect.poll(points, { timeout: 30_000 }).toBe(STEPS);
      for (const n of [17, 42]) {
        // the scrub seeks there: the server plays on from n, the same steps again
        await page.locator('#replay-scrub').fill(String(n));
        await expect.poll(() => page.locator('#replay-loss').getAttribute('data-step'), { timeout: 10_000 }).toBe(String(n));
        await expect.poll(async () => Number(await page.locator('#replay-loss').getAttribute('data-loss')), { timeout: 20_000 }).toBe(losses.get(n));
        expect(await page.locator('#replay-loss').innerText()).toBe(`loss at step ${n}: ${losses.get(n)!.toPrecision(6)}`);
      }
      // fork at the scrubbed step (42) with another learning rate: a new session, overlaid on the original
      await page.fill('#fork-lr', '3');
      await page.click('#fork');
      await expect.poll(() => page.locator('#replay-note').innerText(), { timeout: 20_000 }).toContain('xor-lr3 plays xor from step 42 with learning rate 3');
      await expect.poll(() => page.locator('#runs li[data-session="xor-lr3"]').count(), { timeout: 20_000 }).toBe(1);
      const legend = page.locator('#chart-loss .u-legend .u-series');
      await expect.poll(async () => (await legend.allInnerTexts()).filter((t) => /^xor-lr3\b/.test(t.trim())).length, { timeout: 20_000 }).toBeGreaterThan(0);
      // the fork's steps 42…60 join the original's 60 on the chart
      await expect.poll(points, { timeout: 30_000 }).toBe(STEPS + (STEPS - 42 + 1));
      await expect.poll(() => page.locator('#configs').innerText(), { timeout: 20_000 }).toContain('fork of xor at step 42, lr 3');
      mkdirSync('test/.artifacts', { recursive: true });
      await page.screenshot({ path: 'test/.artifacts/dashboard-replay.png', fullPage: true });
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
