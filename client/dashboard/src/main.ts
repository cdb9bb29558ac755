/**
 * The live dashboard: every session on the server in a list; the one picked in full (stats,
 * controls, charts, weights, the network and its decision boundary); any others ticked overlaid
 * on the same charts, each in its own colour, with their configs side by side. Everything it
 * says to the server goes through `livegrad/client`.
 *
 * Page parameters: `?session=NAME` picks a session, `?token=…` is the server's token.
 */
import { connect, type LivegradClient, type Mlp, type ReplayCommand, type SessionInfo } from 'livegrad/client';
import '../style.css';
import 'uplot/dist/uPlot.min.css';
import { DEMO_SPIRALS, twoSpirals } from '../../../scripts/demo/two-spirals.js';
import { LineChart, type Line, type View, type XMode } from './chart.js';
import { drawBoundary, drawNetwork, type NetworkView, type Plane, type Points } from './playground.js';
import { lossAt, scrubRange } from './replay.js';
import { BANDS, RATES, Run } from './run.js';
import { drawHeatmap, drawHistograms } from './weights.js';

performance.mark('livegrad:main');

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`Expected an element #${id} in the page`);
  return el as T;
}

const COLOURS = ['#1f6feb', '#d9480f', '#2b8a3e', '#7048e8', '#c2255c', '#0b7285', '#e67700', '#5c940d'];
const params = new URLSearchParams(location.search);
const wsUrl = new URL('/ws', location.href);
wsUrl.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
const token = params.get('token') ?? undefined;

/** Data points the page knows for a session's inputs (the demo's own), drawn under its boundary. */
const KNOWN_POINTS: Readonly<Record<string, () => Points>> = {
  spirals: () => twoSpirals(DEMO_SPIRALS.n, DEMO_SPIRALS.noise, DEMO_SPIRALS.seed),
};

const state = {
  client: undefined as LivegradClient | undefined,
  canProduce: false,
  runs: new Map<string, Run>(),
  infos: new Map<string, SessionInfo>(),
  primary: undefined as string | undefined,
  overlay: new Set<string>(),
  online: false,
  dirty: true,
  model: undefined as { session: string; step: number; model: Mlp } | undefined,
  points: new Map<string, Points>(),
};

// ---- connection: the client, the session list, the server going and coming back ------------

function badge(status: 'connecting' | 'open' | 'closed', text: string): void {
  const el = $('connection');
  el.dataset['state'] = status;
  el.textContent = text;
}

async function start(): Promise<void> {
  performance.mark('livegrad:start');
  badge('connecting', 'connecting…');
  for (let attempt = 1; ; attempt++) {
    try {
      state.client = await connect(wsUrl.href, token === undefined ? {} : { token });
      break;
    } catch (e) {
      badge('closed', `cannot reach the server (${e instanceof Error ? e.message : String(e)}); trying again…`);
      await new Promise((r) => setTimeout(r, Math.min(5000, 500 * attempt)));
    }
  }
  performance.mark('livegrad:connected');
  state.canProduce = state.client.welcome.permissions.produce;
  state.online = true;
  badge('open', 'connected');
  showControls();
  await refresh();
  setInterval(() => void refresh(), 1500);
}

/** The session list, every 1.5 s: it is also how the page notices the server going and coming back. */
let refreshing = false;
async function refresh(): Promise<void> {
  const client = state.client;
  if (client === undefined || refreshing) return;
  let sessions: readonly SessionInfo[];
  refreshing = true;
  try {
    sessions = await client.sessions();
  } catch (e) {
    if (state.online) {
      state.online = false;
      badge('closed', `server gone (${e instanceof Error ? e.message : String(e)}) — reconnecting…`);
      note('the server went away; the page reconnects when it is back', true);
    }
    return;
  } finally {
    refreshing = false;
  }
  if (!state.online) {
    state.online = true;
    badge('open', 'connected — the server is back');
    note('the server is back');
  }
  if (document.body.dataset['refreshes'] === undefined) performance.mark('livegrad:sessions');
  state.infos = new Map(sessions.map((s) => [s.session, s]));
  // how many times the page has heard from the server: a reader (a test) can wait for the next
  document.body.dataset['refreshes'] = String(Number(document.body.dataset['refreshes'] ?? 0) + 1);
  for (const s of sessions) {
    const seen = state.runs.get(s.session);
    if (seen === undefined) state.runs.set(s.session, new Run(s.session, COLOURS[state.runs.size % COLOURS.length]!));
    else if (seen.ended && followed.has(s.session) && s.step !== seen.lastStep) {
      // a session of this name that goes on after its events ended here: one that came back with a
      // restarted server (or a new one of the same name): followed afresh, in the same colour
      const again = new Run(s.session, seen.colour);
      state.runs.set(s.session, again);
      followed.delete(s.session);
      again.note('the session is back: following it again');
      if (state.overlay.has(s.session)) queueMicrotask(() => follow(again));
      if (state.primary === s.session) state.model = undefined;
    }
    state.runs.get(s.session)!.info = s;
  }
  if (state.primary === undefined || !state.infos.has(state.primary)) {
    const wanted = params.get('session');
    const first = wanted !== null && state.infos.has(wanted) ? wanted : sessions[0]?.session;
    if (first !== undefined) pick(first);
  }
  if (sessions.length === 0) $('lifecycle').textContent = 'no sessions yet';
  renderRuns();
  state.dirty = true;
}

const pageLog: { text: string; error: boolean }[] = [];
function note(text: string, error = false): void {
  pageLog.unshift({ text: `${new Date().toLocaleTimeString()} ${text}`, error });
  state.dirty = true;
}

/** Starts following a run's events the first time it is shown. */
function follow(run: Run): void {
  if (state.client === undefined || followed.has(run.name)) return;
  followed.add(run.name);
  run.follow(state.client, () => {
    if (!firstEvent) performance.mark('livegrad:first-event');
    firstEvent = true;
    state.dirty = true;
  }, state.infos.get(run.name)?.replay !== undefined);
}
const followed = new Set<string>();
let firstEvent = false;

function pick(session: string): void {
  state.primary = session;
  state.overlay.add(session);
  state.model = undefined;
  scrubbed = undefined;
  $('boundary').hidden = true;
  const run = state.runs.get(session);
  if (run !== undefined) follow(run);
  const url = new URL(location.href);
  url.searchParams.set('session', session);
  history.replaceState(null, '', url);
  showControls();
  renderRuns();
  state.dirty = true;
}

// ---- the run list: pick one, overlay others -------------------------------------------------

function renderRuns(): void {
  const list = $('runs');
  const rows = [...state.runs.values()].map((run) => {
    const info = state.infos.get(run.name);
    const li = document.createElement('li');
    li.dataset['session'] = run.name;
    if (run.name === state.primary) li.className = 'primary';
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = state.overlay.has(run.name);
    box.disabled = run.name === state.primary;
    box.title = 'overlay on the charts';
    box.setAttribute('aria-label', `overlay ${run.name}`);
    box.addEventListener('change', () => {
      if (box.checked) {
        state.overlay.add(run.name);
        follow(run);
      } else state.overlay.delete(run.name);
      state.dirty = true;
    });
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = run.colour;
    const name = document.createElement('button');
    name.className = 'run-name';
    name.textContent = run.name;
    name.addEventListener('click', () => pick(run.name));
    const meta = document.createElement('small');
    meta.textContent = info === undefined ? 'gone' : `${info.replay === undefined ? '' : 'replay · '}step ${info.step.toLocaleString('en-US')}${info.paused ? ' · paused' : ''}`;
    li.append(box, swatch, name, meta);
    return li;
  });
  list.replaceChildren(...rows);
}

// ---- charts ----------------------------------------------------------------------------------

const view = (): View => ({
  xMode: $<HTMLSelectElement>('x-mode').value as XMode,
  log: $<HTMLInputElement>('log-y').checked,
  smoothing: Number($<HTMLInputElement>('smoothing').value),
});

const charts = {
  loss: new LineChart($('chart-loss'), { y: 'loss (per step)', allowLog: true }),
  running: new LineChart($('chart-running'), { y: 'running loss', allowLog: true }),
  accuracy: new LineChart($('chart-accuracy'), { y: 'accuracy', allowLog: false, yRange: [0, 1] }),
  grad: new LineChart($('chart-grad'), { y: 'gradient L2 norm', allowLog: true }),
  dist: new LineChart($('chart-dist'), { y: 'weight', allowLog: false, bands: [[0, 8], [1, 7], [2, 6], [3, 5]] }),
};

function overlaid(): Run[] {
  return [...state.overlay].flatMap((name) => {
    const run = state.runs.get(name);
    return run === undefined ? [] : [run];
  });
}

let firstChart = false;

function drawCharts(): void {
  const runs = overlaid();
  const v = view();
  const primary = state.primary === undefined ? undefined : state.runs.get(state.primary);
  charts.loss.setLines(runs.map((r): Line => ({ label: r.name, colour: r.colour, trace: r.loss, smooth: true })));
  charts.running.setLines(runs.map((r): Line => ({ label: r.name, colour: r.colour, trace: r.runningLoss, smooth: true })));
  charts.accuracy.setLines(
    runs.flatMap((r): Line[] => [
      { label: `${r.name} running`, colour: r.colour, trace: r.accuracy, smooth: true },
      { label: `${r.name} eval`, colour: COLOURS[(COLOURS.indexOf(r.colour) + 3) % COLOURS.length]!, trace: r.evalAccuracy, smooth: false },
    ]),
  );
  charts.grad.setLines((primary?.gradNorms ?? []).map((trace, i): Line => ({ label: `layer ${i + 1}`, colour: COLOURS[i % COLOURS.length]!, trace, smooth: true })));
  const layer = Number($<HTMLSelectElement>('layer').value) || 0;
  const bands = primary?.distributions[layer];
  charts.dist.setLines((bands ?? []).map((trace, k): Line => ({ label: k === 4 ? 'median' : `${Math.round(BANDS[k]! * 100)}%`, colour: '#1f6feb', trace, smooth: false })));
  for (const c of Object.values(charts)) {
    c.setView(c === charts.dist ? { ...v, smoothing: 0, log: false } : v);
    c.draw();
  }
  if (!firstChart && charts.loss.points > 0) {
    firstChart = true;
    document.body.dataset['firstChartMs'] = String(Math.round(performance.now()));
  }
}

$('smoothing').addEventListener('input', () => {
  $('smoothing-value').textContent = Number($<HTMLInputElement>('smoothing').value).toFixed(2);
  state.dirty = true;
});
for (const id of ['log-y', 'x-mode', 'layer', 'tensor']) $(id).addEventListener('change', () => (state.dirty = true));
$('reset-zoom').addEventListener('click', () => {
  for (const c of Object.values(charts)) c.resetZoom();
});

// ---- the picked session: stats, weights, confusion, configs, log ----------------------------

const fmt = (n: number | undefined): string => (n === undefined || !Number.isFinite(n) ? '–' : n.toLocaleString('en-US', { maximumFractionDigits: 4 }));
const pct = (p: number | undefined): string => (p === undefined ? '–' : `${(100 * p).toFixed(1)}%`);

function drawPrimary(run: Run): void {
  const info = state.infos.get(run.name);
  $('stat-step').textContent = run.lastStep < 0 ? '–' : fmt(run.lastStep);
  $('stat-samples').textContent = fmt(run.samples);
  $('stat-rate').textContent = run.rate === undefined ? '–' : fmt(Math.round(run.rate));
  const loss = run.loss.y.last;
  $('stat-loss').textContent = loss === undefined ? '–' : Number.isFinite(loss) ? loss.toPrecision(4) : 'skipped';
  $('stat-accuracy').textContent = pct(run.accuracy.y.last);
  $('stat-eval').textContent = pct(run.evalAccuracy.y.last);
  $('stat-lr').textContent = run.lr === undefined ? '–' : String(run.lr);
  $('stat-queue').textContent = `${run.queueDepth}${run.dropped > 0 ? ` (${run.dropped} dropped)` : ''}`;
  $('lifecycle').textContent = run.ended && run.lifecycle === '' ? 'ended' : run.lifecycle;
  const lr = $<HTMLInputElement>('lr');
  if (document.activeElement !== lr && lr.value === '' && run.lr !== undefined) lr.value = String(run.lr);
  const c = run.counts;
  $('counts').textContent = `received ${c.steps.toLocaleString('en-US')} step events (${c.skipped.toLocaleString('en-US')} steps skipped at ${RATES.step}/s) · ${c.weights} weight snapshots (latest-wins at ${RATES.weights}/s) · ${c.gaps} gaps`;
  if (info?.replay !== undefined) {
    drawReplay(run, info);
    // a played recording answers no snapshot: its network is drawn from its weights events
    if (run.weights !== undefined) {
      const net: NetworkView = { inputSize: info.inputSize, layers: run.weights.map((l) => ({ nin: l.w.shape[0]!, nout: l.w.shape[1]!, w: l.w.data, b: l.b.data })) };
      drawNetwork($<HTMLCanvasElement>('network'), net);
      $('playground-note').textContent = `${run.name} (replay) at step ${run.lastStep.toLocaleString('en-US')}: its network from the recorded weights`;
    }
  }

  const gradients = $<HTMLSelectElement>('tensor').value === 'gradients';
  const layers = gradients ? run.gradients : run.weights;
  const select = $<HTMLSelectElement>('layer');
  const count = run.weights?.length ?? layers?.length;
  if (count !== undefined && select.options.length !== count) {
    select.replaceChildren(...Array.from({ length: count }, (_, i) => new Option(`layer ${i + 1}`, String(i))));
  }
  const k = Number(select.value) || 0;
  const layer = layers?.[k];
  if (layer !== undefined) {
    const max = drawHeatmap($<HTMLCanvasElement>('weights'), layer.w);
    $('weights-note').textContent = `${layer.w.shape[1]} units × ${layer.w.shape[0]} inputs, |${gradients ? 'dL/dw' : 'w'}| ≤ ${max.toPrecision(3)}`;
    drawHistograms($<HTMLCanvasElement>('histograms'), (gradients ? run.gradientSnapshots : run.snapshots)[k] ?? []);
  } else if (gradients) {
    $('weights-note').textContent = 'no gradient tensors: the session sends them with events.gradientTensors';
    for (const id of ['weights', 'histograms']) {
      const c = $<HTMLCanvasElement>(id);
      c.getContext('2d')?.clearRect(0, 0, c.width, c.height);
    }
  }
  if (run.confusion !== undefined) showConfusion(run.confusion);
  else $('confusion').replaceChildren();

  const log = $('log');
  const entries = [...run.log, ...pageLog].slice(0, 200);
  log.replaceChildren(
    ...entries.map(({ text, error }) => {
      const li = document.createElement('li');
      li.textContent = text;
      if (error) li.className = 'error';
      return li;
    }),
  );
}

function showConfusion(confusion: readonly (readonly number[])[]): void {
  const table = document.createElement('table');
  const max = Math.max(1, ...confusion.flat());
  const head = table.insertRow();
  head.append(document.createElement('th'));
  confusion.forEach((_, j) => {
    const th = document.createElement('th');
    th.textContent = String(j);
    head.append(th);
  });
  confusion.forEach((row, i) => {
    const tr = table.insertRow();
    const th = document.createElement('th');
    th.textContent = String(i);
    tr.append(th);
    for (const [j, v] of row.entries()) {
      const td = tr.insertCell();
      td.textContent = String(v);
      const shade = Math.round(255 - 140 * (v / max));
      td.style.background = i === j ? `rgb(${shade}, 255, ${shade})` : v > 0 ? `rgb(255, ${shade}, ${shade})` : '';
    }
  });
  $('confusion').replaceChildren(table);
}

/** The overlaid runs' configs, a column each. */
function drawConfigs(): void {
  const runs = overlaid();
  const rows: [string, (r: Run, i: SessionInfo | undefined) => string][] = [
    ['network', (_r, i) => (i === undefined ? '–' : `${i.inputSize} → … → ${i.outputSize}`)],
    ['parameters', (_r, i) => fmt(i?.parameters)],
    ['loss', (_r, i) => i?.loss ?? '–'],
    ['batch size', (_r, i) => fmt(i?.batchSize)],
    ['dtype', (_r, i) => i?.dtype ?? '–'],
    ['learning rate', (r) => (r.lr === undefined ? '–' : String(r.lr))],
    ['step', (r) => fmt(r.lastStep < 0 ? undefined : r.lastStep)],
    ['samples', (r) => fmt(r.samples)],
    ['recording', (_r, i) => (i === undefined ? '–' : i.replay?.fork !== undefined ? `fork of ${i.replay.fork.from} at step ${i.replay.fork.step}, lr ${i.replay.fork.lr}` : i.replay !== undefined ? `replay of ${i.replay.path}` : i.recording ? 'recorded' : 'no')],
  ];
  const table = document.createElement('table');
  const head = table.insertRow();
  head.append(document.createElement('th'));
  for (const r of runs) {
    const th = document.createElement('th');
    th.textContent = r.name;
    th.style.color = r.colour;
    head.append(th);
  }
  for (const [label, get] of rows) {
    const tr = table.insertRow();
    const th = document.createElement('th');
    th.textContent = label;
    tr.append(th);
    for (const r of runs) tr.insertCell().textContent = get(r, state.infos.get(r.name));
  }
  $('configs').replaceChildren(table);
}

// ---- the playground: the network and its decision boundary ----------------------------------

/** The input plane of a 2-input session whose points the page does not know. */
const DEFAULT_PLANE: Plane = { lo: -1.5, hi: 1.5 };

/** A square plane around the points, a little larger than they are. */
function planeOf(points: Points): Plane {
  let m = 0;
  for (const [a, b] of points.x) m = Math.max(m, Math.abs(a), Math.abs(b));
  const r = Math.ceil(m * 1.1 * 10) / 10 || 1;
  return { lo: -r, hi: r };
}

let fetching = false;
/** The picked session's weights with their activations (a snapshot), a few times a second. */
async function fetchModel(): Promise<void> {
  const { client, primary } = state;
  if (client === undefined || primary === undefined || fetching || !state.online) return;
  if (state.infos.get(primary)?.replay !== undefined) return;
  fetching = true;
  try {
    const snap = await client.session(primary).snapshot({ now: true });
    if (state.primary === primary) {
      state.model = { session: primary, step: snap.step, model: snap.model };
      drawPlayground();
    }
  } catch (e) {
    $('playground-note').textContent = `no weights: ${e instanceof Error ? e.message : String(e)}`;
  } finally {
    fetching = false;
  }
}
setInterval(() => void fetchModel(), 400);

function drawPlayground(): void {
  const m = state.model;
  if (m === undefined) return;
  drawNetwork($<HTMLCanvasElement>('network'), m.model);
  const boundary = $<HTMLCanvasElement>('boundary');
  if (m.model.inputSize === 2) {
    let points = state.points.get(m.session);
    const known = KNOWN_POINTS[m.session];
    if (points === undefined && known !== undefined) state.points.set(m.session, (points = known()));
    const plane = points === undefined ? DEFAULT_PLANE : planeOf(points);
    drawBoundary(boundary, m.model, plane, points);
    boundary.hidden = false;
    boundary.dataset['step'] = String(m.step);
    $('playground-note').textContent = `${m.session} at step ${m.step.toLocaleString('en-US')}: the model's output over [${plane.lo}, ${plane.hi}]², ${points === undefined ? 'computed in this page' : 'under the data points'}`;
  } else {
    boundary.hidden = true;
    $('playground-note').textContent = `${m.session} at step ${m.step.toLocaleString('en-US')}: ${m.model.inputSize} inputs (a decision boundary is drawn for sessions with 2)`;
  }
}

// ---- controls --------------------------------------------------------------------------------

function showControls(): void {
  const replay = state.primary !== undefined && state.infos.get(state.primary)?.replay !== undefined;
  $('controls').hidden = !state.canProduce || replay;
  $('read-only').hidden = state.canProduce;
  $('replay').hidden = !replay;
  for (const id of ['replay-play', 'replay-pause', 'replay-speed', 'fork', 'fork-lr', 'fork-name']) $<HTMLButtonElement>(id).disabled = !state.canProduce;
  $('replay-note').textContent = replay && !state.canProduce ? 'steering a replay needs the producer token: the scrubber reads the steps played so far' : '';
}

// ---- a played recording: scrub, play, pause, speed, seek ------------------------------------

/** The step under the scrubber, once the user has moved it (else it follows the replay). */
let scrubbed: number | undefined;

function drawReplay(run: Run, info: SessionInfo): void {
  const r = info.replay;
  if (r === undefined) return;
  $('replay-path').textContent = `${r.path} · ${r.playing ? 'playing' : 'paused'} at ${r.speed} steps/s${r.ended ? ' · ended' : ''}`;
  const speed = $<HTMLSelectElement>('replay-speed');
  if (document.activeElement !== speed && Array.from(speed.options).some((o) => o.value === String(r.speed))) speed.value = String(r.speed);
  const scrub = $<HTMLInputElement>('replay-scrub');
  const [lo, hi] = scrubRange(run, info);
  scrub.min = String(lo);
  scrub.max = String(hi);
  if (scrubbed === undefined && document.activeElement !== scrub) scrub.value = String(Math.max(lo, run.lastStep));
  readOut(run, Number(scrub.value));
}

function readOut(run: Run, step: number): void {
  $('replay-step').textContent = step.toLocaleString('en-US');
  const el = $('replay-loss');
  const loss = lossAt(run, step);
  el.dataset['step'] = String(step);
  if (loss === undefined) {
    delete el.dataset['loss'];
    el.textContent = `no step event held for step ${step} yet`;
  } else {
    el.dataset['loss'] = String(loss);
    el.textContent = `loss at step ${step.toLocaleString('en-US')}: ${Number.isFinite(loss) ? loss.toPrecision(6) : 'not finite'}`;
  }
}

async function steer(command: ReplayCommand): Promise<void> {
  const { client, primary } = state;
  if (client === undefined || primary === undefined || !state.canProduce) return;
  $('replay-note').textContent = '';
  try {
    await client.session(primary).replay(command);
  } catch (e) {
    $('replay-note').textContent = e instanceof Error ? e.message : String(e);
  }
}

$('replay-scrub').addEventListener('input', () => {
  const run = state.primary === undefined ? undefined : state.runs.get(state.primary);
  scrubbed = Number($<HTMLInputElement>('replay-scrub').value);
  if (run !== undefined) readOut(run, scrubbed);
});
$('replay-scrub').addEventListener('change', () => {
  if (scrubbed !== undefined) void steer({ action: 'seek', step: scrubbed });
});
$('replay-play').addEventListener('click', () => {
  scrubbed = undefined;
  void steer({ action: 'play' });
});
$('replay-pause').addEventListener('click', () => void steer({ action: 'pause' }));
$('fork').addEventListener('click', () => void fork());

/**
 * Forks the played recording at the scrubbed step with a new learning rate: the server plays the
 * fork as a new session, which the page overlays on the original to compare their curves.
 */
async function fork(): Promise<void> {
  const { client, primary } = state;
  if (client === undefined || primary === undefined) return;
  const lrInput = $<HTMLInputElement>('fork-lr');
  const lr = Number(lrInput.value);
  if (lrInput.value === '' || !Number.isFinite(lr) || lr < 0) {
    $('replay-note').textContent = `Expected a learning rate ≥ 0 to fork with, got ${JSON.stringify(lrInput.value)}`;
    return;
  }
  const step = Number($<HTMLInputElement>('replay-scrub').value);
  const as = $<HTMLInputElement>('fork-name').value.trim() || `${primary}-lr${lr}`.slice(0, 64);
  $('replay-note').textContent = '';
  try {
    await client.session(primary).replay({ action: 'fork', step, lr, as });
    state.overlay.add(as);
    await refresh();
    const run = state.runs.get(as);
    if (run !== undefined) follow(run);
    $('replay-note').textContent = `${as} plays ${primary} from step ${step} with learning rate ${lr}: overlaid on the charts`;
  } catch (e) {
    $('replay-note').textContent = e instanceof Error ? e.message : String(e);
  }
}
$('replay-speed').addEventListener('change', () => {
  const v = $<HTMLSelectElement>('replay-speed').value;
  void steer({ action: 'speed', speed: v === 'max' ? 'max' : Number(v) });
});

async function control(c: Parameters<ReturnType<LivegradClient['session']>['control']>[0]): Promise<void> {
  const { client, primary } = state;
  if (client === undefined || primary === undefined) return;
  $('control-note').textContent = '';
  try {
    await client.session(primary).control(c);
  } catch (e) {
    $('control-note').textContent = e instanceof Error ? e.message : String(e);
  }
}
$('pause').addEventListener('click', () => void control({ action: 'pause' }));
$('resume').addEventListener('click', () => void control({ action: 'resume' }));
$('step').addEventListener('click', () => void control({ action: 'step' }));
$('reset').addEventListener('click', () => void control({ action: 'reset' }));
$('set-lr').addEventListener('click', () => {
  const input = $<HTMLInputElement>('lr');
  const lr = Number(input.value);
  if (input.value === '' || !Number.isFinite(lr) || lr < 0) {
    $('control-note').textContent = `Expected a learning rate ≥ 0, got ${JSON.stringify(input.value)}`;
    return;
  }
  void control({ action: 'set', lr });
});

// ---- drawing: at most four times a second, and only what changed ----------------------------

let lastDraw = 0;
function frame(now: number): void {
  // (until the first chart is drawn, every frame: the first data shows at once)
  if (state.dirty && (now - lastDraw >= 250 || !firstChart)) {
    state.dirty = false;
    lastDraw = now;
    drawCharts();
    drawConfigs();
    const primary = state.primary === undefined ? undefined : state.runs.get(state.primary);
    if (primary !== undefined) drawPrimary(primary);
  }
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);
void start();
