/**
 * The live dashboard (client/dashboard) in a real browser: Debian's chromium driven by
 * playwright-core, against a server on 127.0.0.1:0 with a session being trained by a producer
 * over the protocol. The page must show the session's progress live, draw its charts, and send
 * controls that take effect.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, dataset, type LivegradServer } from '../../src/index.js';
import { Producer } from '../../scripts/demo/producer.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

// CI installs chromium (.ci/run); a developer machine without it skips this file, saying so.
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`dashboard tests skipped: no ${CHROMIUM} (apt-get install chromium)`);

describe.skipIf(!hasChromium)('dashboard', () => {
  let server: LivegradServer;
  let producer: Producer;
  let browser: Browser;
  let page: Page;
  let streaming: Promise<void>;
  const errors: string[] = [];

  beforeAll(async () => {
    server = await createServer({ host: '127.0.0.1', port: 0 });
    producer = await Producer.connect(server.url);
    await producer.create({
      session: 'xor',
      model: { inputSize: 2, layers: [{ units: 8, activation: 'tanh' }, { units: 2, activation: 'softmax' }], seed: 3 },
      loss: 'crossEntropy',
      optimizer: { kind: 'sgd', lr: 0.5 },
      batchSize: 4,
      evalSet: { x: [[0, 0], [0, 1], [1, 0], [1, 1]], y: [0, 1, 1, 0] },
      events: { metricsEvery: 2, weightsEvery: 5, gradientsEvery: 2, evalEvery: 10 },
    });
    const xor = dataset([[0, 0], [0, 1], [1, 0], [1, 1]], [0, 1, 1, 0]);
    streaming = producer.stream('xor', xor, { epochs: 100_000, rows: 4, rate: 200, seed: 1 });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
    page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(`http://127.0.0.1:${server.port}/`);
  });

  afterAll(async () => {
    await browser?.close();
    producer?.close();
    await streaming?.catch(() => undefined);
    await server?.close();
  });

  const stat = (id: string): Promise<string> => page.locator(`#${id}`).innerText();

  it('connects, finds the session and shows its steps going up', async () => {
    await expect.poll(() => page.locator('#connection').innerText(), { timeout: 10_000 }).toBe('connected');
    await expect.poll(() => page.locator('#session').inputValue(), { timeout: 10_000 }).toBe('xor');
    await expect.poll(async () => Number((await stat('stat-step')).replace(/,/g, '')), { timeout: 10_000 }).toBeGreaterThan(20);
    const first = Number((await stat('stat-step')).replace(/,/g, ''));
    await expect.poll(async () => Number((await stat('stat-step')).replace(/,/g, '')), { timeout: 10_000 }).toBeGreaterThan(first);
    expect(await stat('stat-loss')).toMatch(/^\d/);
  });

  it('draws the loss chart and the eval confusion matrix', async () => {
    // a chart with data has more than the empty frame's two colours
    await expect
      .poll(
        () =>
          page.evaluate(() => {
            const c = document.getElementById('chart-loss') as HTMLCanvasElement;
            const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
            const colours = new Set<number>();
            for (let i = 0; i < d.length; i += 4) colours.add((d[i]! << 16) | (d[i + 1]! << 8) | d[i + 2]!);
            return colours.size;
          }),
        { timeout: 10_000 },
      )
      .toBeGreaterThan(10);
    await expect.poll(() => page.locator('#confusion table tr').count(), { timeout: 10_000 }).toBe(3);
    await expect.poll(() => stat('stat-eval'), { timeout: 10_000 }).toMatch(/%$/);
  });

  it('pauses and resumes training from its buttons', async () => {
    await page.click('#pause');
    await expect.poll(() => page.locator('#lifecycle').innerText(), { timeout: 10_000 }).toBe('paused');
    const held = await stat('stat-step');
    await new Promise((r) => setTimeout(r, 300));
    expect(await stat('stat-step')).toBe(held);
    await page.click('#resume');
    await expect.poll(() => page.locator('#lifecycle').innerText(), { timeout: 10_000 }).toBe('resumed');
    await expect.poll(() => stat('stat-step'), { timeout: 10_000 }).not.toBe(held);
  });

  it('sets the learning rate, and refuses a bad one in the page', async () => {
    await page.fill('#lr', '0.25');
    await page.click('#set-lr');
    await expect.poll(() => stat('stat-lr'), { timeout: 10_000 }).toBe('0.25');
    await page.fill('#lr', '-1');
    await page.click('#set-lr');
    expect(await page.locator('#control-note').innerText()).toContain('Expected a learning rate ≥ 0');
  });

  it('ran without errors in the page', async () => {
    mkdirSync('test/.artifacts', { recursive: true });
    await page.screenshot({ path: 'test/.artifacts/dashboard.png' });
    expect(errors).toEqual([]);
  });
});
