/**
 * The live dashboard (client/dashboard, bundled by the server from TypeScript) in a real browser:
 * Debian's chromium driven by playwright-core, against a server on 127.0.0.1:0 with two 2-input
 * sessions trained by a producer over the protocol. The page must show the followed session's
 * progress live, draw charts that gain points and read out values under the cursor, overlay a
 * second session, draw the decision boundary as it changes, and send controls that take effect —
 * only when its token allows them.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, dataset, type LivegradServer } from '../../src/index.js';
import { Producer } from '../../scripts/demo/producer.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
const ARTIFACTS = 'test/.artifacts';

// CI installs chromium (.ci/run); a developer machine without it skips this file, saying so.
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`dashboard tests skipped: no ${CHROMIUM} (apt-get install chromium)`);

const XOR = dataset([[0, 0], [0, 1], [1, 0], [1, 1]], [0, 1, 1, 0]);

function xorSession(session: string, seed: number, lr: number): Record<string, unknown> {
  return {
    session,
    model: { inputSize: 2, layers: [{ units: 8, activation: 'tanh' }, { units: 2, activation: 'softmax' }], seed },
    loss: 'crossEntropy',
    optimizer: { kind: 'sgd', lr },
    batchSize: 4,
    evalSet: { x: [[0, 0], [0, 1], [1, 0], [1, 1]], y: [0, 1, 1, 0] },
    events: { metricsEvery: 2, weightsEvery: 5, gradientsEvery: 2, gradientTensors: session === 'xor', evalEvery: 10 },
  };
}

/** A fingerprint of a canvas' pixels (the page's own, read in the page). */
function canvasHash(page: Page, id: string): Promise<number> {
  return page.evaluate((id) => {
    const c = document.getElementById(id) as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let h = 0;
    for (let i = 0; i < d.length; i++) h = (Math.imul(h, 31) + d[i]!) | 0;
    return h;
  }, id);
}

describe.skipIf(!hasChromium)('dashboard', () => {
  let server: LivegradServer;
  let producer: Producer;
  let browser: Browser;
  let page: Page;
  let streaming: Promise<unknown>;
  const errors: string[] = [];

  beforeAll(async () => {
    server = await createServer({ host: '127.0.0.1', port: 0 });
    producer = await Producer.connect(server.url);
    await producer.create(xorSession('xor', 3, 0.5));
    await producer.create(xorSession('xor-slow', 4, 0.05));
    streaming = Promise.all([
      producer.stream('xor', XOR, { epochs: 100_000, rows: 4, rate: 100, seed: 1 }),
      producer.stream('xor-slow', XOR, { epochs: 100_000, rows: 4, rate: 100, seed: 2 }),
    ]);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(`http://127.0.0.1:${server.port}/?session=xor`);
  });

  afterAll(async () => {
    await page?.close();
    await browser?.close();
    producer?.close();
    await streaming?.catch(() => undefined);
    await server?.close();
  });

  const stat = (id: string): Promise<string> => page.locator(`#${id}`).innerText();
  const steps = async (): Promise<number> => Number((await stat('stat-step')).replace(/,/g, '')) || 0;
  const points = async (chart: string): Promise<number> => Number(await page.locator(`#${chart}`).getAttribute('data-points')) || 0;

  it('connects, follows the session and shows its steps going up while its charts gain points', async () => {
    await expect.poll(() => page.locator('#connection').innerText(), { timeout: 20_000 }).toBe('connected');
    await expect.poll(() => page.locator('#runs li.primary .run-name').innerText(), { timeout: 20_000 }).toBe('xor');
    await expect.poll(steps, { timeout: 20_000 }).toBeGreaterThan(20);
    const first = await steps();
    await expect.poll(steps, { timeout: 20_000 }).toBeGreaterThan(first);
    expect(await stat('stat-loss')).toMatch(/^\d/);
    const xMax = async (chart: string): Promise<number> => Number(await page.locator(`#${chart}`).getAttribute('data-x-max'));
    for (const chart of ['chart-loss', 'chart-running', 'chart-accuracy', 'chart-grad']) {
      await expect.poll(() => points(chart), { timeout: 20_000 }).toBeGreaterThan(0);
      const before = await points(chart);
      await expect.poll(() => points(chart), { timeout: 20_000 }).toBeGreaterThan(before);
    }
    // and each keeps following the data: its x range ends at ever later steps, several draws on
    for (const chart of ['chart-loss', 'chart-running', 'chart-accuracy', 'chart-grad']) {
      for (let k = 0; k < 3; k++) {
        const end = await xMax(chart);
        await expect.poll(() => xMax(chart), { timeout: 20_000 }).toBeGreaterThan(end);
      }
    }
    await expect.poll(() => page.locator('#confusion table tr').count(), { timeout: 20_000 }).toBe(3);
    await expect.poll(() => stat('stat-eval'), { timeout: 20_000 }).toMatch(/%$/);
  });

  it('reads out the values under the cursor', async () => {
    const over = page.locator('#chart-loss .u-over');
    const box = (await over.boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
    // the legend's x (step) and the xor series show numbers for the point under the cursor
    await expect.poll(() => page.locator('#chart-loss .u-legend .u-series').first().locator('.u-value').innerText(), { timeout: 10_000 }).toMatch(/^\d+$/);
    await expect.poll(() => page.locator('#chart-loss .u-legend .u-series', { hasText: /^xor\b/ }).last().locator('.u-value').innerText(), { timeout: 10_000 }).toMatch(/\d/);
  });

  it('zooms in on a dragged range and back out with Reset zoom', async () => {
    const over = page.locator('#chart-loss .u-over');
    const box = (await over.boundingBox())!;
    const ticks = async (): Promise<string> => `${await page.locator('#chart-loss').getAttribute('data-x-min')}…${await page.locator('#chart-loss').getAttribute('data-x-max')}`;
    const whole = await ticks();
    await page.mouse.move(box.x + box.width * 0.1, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    await expect.poll(ticks, { timeout: 10_000 }).not.toBe(whole);
    await page.click('#reset-zoom');
    // following the data again: the x range grows with the steps
    const after = await ticks();
    await expect.poll(ticks, { timeout: 20_000 }).not.toBe(after);
  });

  it('smooths, switches the y axis between log and linear, and x between step and wall time', async () => {
    const chart = page.locator('#chart-loss');
    // smoothing on (the default 0.6): a raw and a smoothed series per session
    await expect.poll(() => chart.getAttribute('data-series'), { timeout: 10_000 }).toBe('2');
    await page.locator('#smoothing').fill('0');
    await expect.poll(() => chart.getAttribute('data-series'), { timeout: 10_000 }).toBe('1');
    await page.locator('#smoothing').fill('0.9');
    await expect.poll(() => chart.getAttribute('data-series'), { timeout: 10_000 }).toBe('2');
    expect(await chart.getAttribute('data-scale')).toBe('log');
    await page.locator('#log-y').uncheck();
    await expect.poll(() => chart.getAttribute('data-scale'), { timeout: 10_000 }).toBe('linear');
    await page.locator('#log-y').check();
    await page.selectOption('#x-mode', 'time');
    // wall time in seconds since 1970: this century
    await expect.poll(async () => Number(await chart.getAttribute('data-x-min')), { timeout: 10_000 }).toBeGreaterThan(1.6e9);
    await page.selectOption('#x-mode', 'step');
    await expect.poll(async () => Number(await chart.getAttribute('data-x-min')), { timeout: 10_000 }).toBeLessThan(1e6);
  });

  it('overlays a second session in its own colour, with the configs side by side', async () => {
    await page.locator('#runs li[data-session="xor-slow"] input[type=checkbox]').check();
    const legend = page.locator('#chart-loss .u-legend .u-series');
    await expect.poll(async () => (await legend.allInnerTexts()).filter((t) => /^xor-slow\b/.test(t.trim())).length, { timeout: 20_000 }).toBeGreaterThan(0);
    await expect.poll(async () => (await legend.allInnerTexts()).filter((t) => /^xor\b(?!-)/.test(t.trim())).length, { timeout: 20_000 }).toBeGreaterThan(0);
    await expect.poll(() => page.locator('#configs th').allInnerTexts(), { timeout: 20_000 }).toEqual(expect.arrayContaining(['xor', 'xor-slow']));
    // two series of points: the chart holds both sessions' steps
    const mine = await steps();
    await expect.poll(() => points('chart-loss'), { timeout: 20_000 }).toBeGreaterThan(mine + 10);
  });

  it('draws the weights and the gradients as heat maps and histograms over time, and the weights’ distribution', async () => {
    await expect.poll(() => page.locator('#weights-note').innerText(), { timeout: 20_000 }).toMatch(/^8 units × 2 inputs/);
    const first = await canvasHash(page, 'histograms');
    await expect.poll(() => canvasHash(page, 'histograms'), { timeout: 20_000 }).not.toBe(first);
    await expect.poll(() => points('chart-dist'), { timeout: 20_000 }).toBeGreaterThan(9 * 2);
    // and the gradients, from a session that sends their tensors
    await page.selectOption('#tensor', 'gradients');
    await expect.poll(() => page.locator('#weights-note').innerText(), { timeout: 20_000 }).toMatch(/^8 units × 2 inputs, \|dL\/dw\| ≤/);
    const grads = await canvasHash(page, 'histograms');
    await expect.poll(() => canvasHash(page, 'histograms'), { timeout: 20_000 }).not.toBe(grads);
    await page.selectOption('#tensor', 'weights');
  });

  it('draws the network, and the decision boundary of a 2-input session changing as it trains', async () => {
    await expect.poll(() => page.locator('#boundary').isVisible(), { timeout: 20_000 }).toBe(true);
    const first = await canvasHash(page, 'boundary');
    await expect.poll(() => canvasHash(page, 'boundary'), { timeout: 30_000 }).not.toBe(first);
    expect(await page.locator('#playground-note').innerText()).toMatch(/xor at step/);
  });

  it('pauses and resumes training from its buttons', async () => {
    await page.click('#pause');
    await expect.poll(() => page.locator('#lifecycle').innerText(), { timeout: 20_000 }).toBe('paused');
    const held = await stat('stat-step');
    // paused: the count holds while the page hears from the server twice more (≥ 1.5 s)
    const refreshes = Number(await page.locator('body').getAttribute('data-refreshes'));
    await expect.poll(async () => Number(await page.locator('body').getAttribute('data-refreshes')), { timeout: 20_000 }).toBeGreaterThanOrEqual(refreshes + 2);
    expect(await stat('stat-step')).toBe(held);
    await page.click('#resume');
    await expect.poll(() => page.locator('#lifecycle').innerText(), { timeout: 20_000 }).toBe('resumed');
    await expect.poll(() => stat('stat-step'), { timeout: 20_000 }).not.toBe(held);
  });

  it('sets the learning rate, and refuses a bad one in the page', async () => {
    await page.fill('#lr', '0.25');
    await page.click('#set-lr');
    await expect.poll(() => stat('stat-lr'), { timeout: 20_000 }).toBe('0.25');
    await page.fill('#lr', '-1');
    await page.click('#set-lr');
    expect(await page.locator('#control-note').innerText()).toContain('Expected a learning rate ≥ 0');
  });

  it('ran without errors in the page, and drew its first chart soon after loading', async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}/dashboard.png`, fullPage: true });
    const firstChartMs = Number(await page.locator('body').getAttribute('data-first-chart-ms'));
    const marks = await page.evaluate(() => [...performance.getEntriesByType('mark'), ...performance.getEntriesByType('resource')].map((m) => `${m.name.replace(/^.*\//, '')} ${Math.round(m.startTime + m.duration)}`).join(', '));
    console.log(`dashboard: first chart ${firstChartMs} ms after navigation (${marks})`);
    expect(firstChartMs).toBeGreaterThan(0);
    expect(errors).toEqual([]);
  });
});

describe.skipIf(!hasChromium)('dashboard with tokens, and a server that goes and comes back', () => {
  let browser: Browser;
  const servers: LivegradServer[] = [];

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  });

  afterAll(async () => {
    await browser?.close();
    for (const s of servers) await s.close();
  });

  it('hides the controls from a read-only token, and shows them to the producer token', async () => {
    const server = await createServer({ host: '127.0.0.1', port: 0, producerToken: 'p-secret', readToken: 'r-secret' });
    servers.push(server);
    const page = await browser.newPage();
    try {
      await page.goto(`http://127.0.0.1:${server.port}/?token=r-secret`);
      await expect.poll(() => page.locator('#connection').innerText(), { timeout: 20_000 }).toBe('connected');
      await expect.poll(() => page.locator('#read-only').isVisible(), { timeout: 10_000 }).toBe(true);
      expect(await page.locator('#controls').isVisible()).toBe(false);
      await page.goto(`http://127.0.0.1:${server.port}/?token=p-secret`);
      await expect.poll(() => page.locator('#connection').innerText(), { timeout: 20_000 }).toBe('connected');
      await expect.poll(() => page.locator('#controls').isVisible(), { timeout: 10_000 }).toBe(true);
      expect(await page.locator('#read-only').isVisible()).toBe(false);
    } finally {
      await page.close();
    }
  });

  it('says when the server is gone, and when it is back — and follows its session again', async () => {
    const trained = async (server: LivegradServer, seed: number): Promise<Producer> => {
      const p = await Producer.connect(server.url);
      await p.create(xorSession('xor', seed, 0.5));
      void p.stream('xor', XOR, { epochs: 100_000, rows: 4, rate: 100, seed }).catch(() => undefined);
      return p;
    };
    const first = await createServer({ host: '127.0.0.1', port: 0 });
    const port = first.port;
    const producers = [await trained(first, 1)];
    const page = await browser.newPage();
    const step = async (): Promise<number> => Number((await page.locator('#stat-step').innerText()).replace(/,/g, '')) || 0;
    try {
      await page.goto(`http://127.0.0.1:${port}/?session=xor`);
      await expect.poll(() => page.locator('#connection').innerText(), { timeout: 20_000 }).toBe('connected');
      await expect.poll(step, { timeout: 20_000 }).toBeGreaterThan(50);
      producers[0]!.close();
      await first.close();
      await expect.poll(() => page.locator('#connection').innerText(), { timeout: 20_000 }).toMatch(/^server gone/);
      const before = await step();
      const second = await createServer({ host: '127.0.0.1', port });
      servers.push(second);
      await expect.poll(() => page.locator('#connection').innerText(), { timeout: 30_000 }).toBe('connected — the server is back');
      // a new session of the same name on the new server: the page follows it from its start
      producers.push(await trained(second, 2));
      await expect.poll(step, { timeout: 30_000 }).not.toBe(before);
      const again = await step();
      await expect.poll(step, { timeout: 30_000 }).toBeGreaterThan(again);
      await page.screenshot({ path: `${ARTIFACTS}/dashboard-back.png` });
    } finally {
      for (const p of producers) p.close();
      await page.close();
    }
  });
});
