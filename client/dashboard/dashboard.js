// @ts-check
/**
 * The live dashboard: one WebSocket to the server (protocol v1, JSON text frames), a session
 * picker, live charts of loss, accuracy, gradient norms and weights, the eval confusion matrix,
 * an event log, and the training controls (when the connection's token allows them).
 *
 * Page parameters: `?session=NAME` picks a session, `?token=…` is passed on to the WebSocket.
 */
import { COLORS, drawHeatmap, drawLines, Series } from './charts.js';

/** @param {string} id */
function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`Expected an element #${id} in the page`);
  return el;
}

const params = new URLSearchParams(location.search);
const sessionSelect = /** @type {HTMLSelectElement} */ ($('session'));
const layerSelect = /** @type {HTMLSelectElement} */ ($('layer'));
const lrInput = /** @type {HTMLInputElement} */ ($('lr'));

/** Everything shown for the current session; cleared when the session changes. */
const view = {
  /** @type {string | undefined} */ session: undefined,
  loss: new Series('loss', COLORS[0] ?? 'blue'),
  running: new Series('running loss', COLORS[1] ?? 'red'),
  accuracy: new Series('running accuracy', COLORS[0] ?? 'blue'),
  evalAccuracy: new Series('eval accuracy', COLORS[2] ?? 'green'),
  /** @type {Series[]} */ grads: [],
  /** @type {{ w: { shape: number[], data: number[] } }[] | undefined} */ weights: undefined,
  /** @type {{ time: number, samples: number } | undefined} */ rateMark: undefined,
  /** Last step seen: a resubscription after a reconnect asks for the lossless events from the next one. */
  lastStep: -1,
  /** False from a (re)connect until this connection has subscribed. */
  subscribed: false,
  dirty: true,
};

function clearView() {
  for (const s of [view.loss, view.running, view.accuracy, view.evalAccuracy]) s.clear();
  view.grads = [];
  view.weights = undefined;
  view.rateMark = undefined;
  view.lastStep = -1;
  $('confusion').replaceChildren();
  $('log').replaceChildren();
  for (const id of ['stat-step', 'stat-samples', 'stat-rate', 'stat-loss', 'stat-accuracy', 'stat-eval', 'stat-lr', 'stat-queue']) $(id).textContent = '–';
  $('lifecycle').textContent = '';
  view.dirty = true;
}

/** @param {string} text @param {boolean} [error] */
function log(text, error = false) {
  const li = document.createElement('li');
  li.textContent = text;
  if (error) li.className = 'error';
  const list = $('log');
  list.prepend(li);
  while (list.childElementCount > 200) list.lastElementChild?.remove();
}

/** @param {number} n */
const fmt = (n) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: 4 }) : String(n));
/** @param {number | undefined} p */
const pct = (p) => (p === undefined || p === null ? '–' : `${(100 * p).toFixed(1)}%`);

// ---- the connection --------------------------------------------------------------------------

const wsUrl = new URL('/ws', location.href);
wsUrl.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
wsUrl.searchParams.set('format', 'json');
const token = params.get('token');
if (token) wsUrl.searchParams.set('token', token);

/** @type {WebSocket | undefined} */
let socket;
let nextId = 1;
let canProduce = false;
let retryMs = 500;

/** @param {Record<string, unknown>} message */
function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ id: nextId++, ...message }));
}

function connect() {
  const badge = $('connection');
  badge.dataset['state'] = 'connecting';
  badge.textContent = 'connecting…';
  const ws = new WebSocket(wsUrl);
  socket = ws;
  ws.onopen = () => {
    retryMs = 500;
    view.subscribed = false;
    badge.dataset['state'] = 'open';
    badge.textContent = 'connected';
    send({ type: 'list' });
  };
  ws.onclose = (e) => {
    badge.dataset['state'] = 'closed';
    badge.textContent = `disconnected${e.reason ? `: ${e.reason}` : ''}`;
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 8000);
  };
  ws.onmessage = (e) => {
    try {
      onMessage(JSON.parse(String(e.data)));
    } catch (err) {
      log(`could not read a message: ${err instanceof Error ? err.message : String(err)}`, true);
    }
  };
}

/** @param {any} m */
function onMessage(m) {
  switch (m.type) {
    case 'welcome':
      canProduce = m.permissions?.produce === true;
      for (const id of ['pause', 'resume', 'step', 'reset', 'set-lr']) /** @type {HTMLButtonElement} */ ($(id)).disabled = !canProduce;
      lrInput.disabled = !canProduce;
      $('control-note').textContent = canProduce ? '' : 'read-only: controls need the producer token';
      break;
    case 'sessions':
      updateSessions(m.sessions);
      break;
    case 'subscribed':
      log(`subscribed to ${m.session} at step ${m.step}${m.replayed ? `, ${m.replayed} events replayed` : ''}`);
      break;
    case 'controlled':
      break;
    case 'error':
      log(`${m.code}: ${m.message}`, true);
      if (m.ref !== null && m.ref !== undefined) $('control-note').textContent = m.message;
      break;
    default:
      if (m.session === view.session) onEvent(m);
  }
}

/** @param {{ session: string, step: number }[]} sessions */
function updateSessions(sessions) {
  const names = sessions.map((s) => s.session);
  const current = [...sessionSelect.options].map((o) => o.value);
  if (names.join('\n') !== current.join('\n')) {
    sessionSelect.replaceChildren(...names.map((n) => new Option(n, n)));
  }
  const wanted = view.session ?? params.get('session') ?? names[0];
  if (wanted !== undefined && names.includes(wanted)) {
    sessionSelect.value = wanted;
    if (view.session !== wanted) watch(wanted);
    else if (!view.subscribed) subscribe(wanted, view.lastStep + 1); // after a reconnect: what was missed, then live
  } else if (names.length === 0) {
    $('lifecycle').textContent = 'no sessions yet';
  }
}

/** @param {string} session */
function watch(session) {
  if (view.session !== undefined) send({ type: 'unsubscribe', session: view.session });
  clearView();
  view.session = session;
  subscribe(session, 0); // the recent history the server keeps, then live
}

/** @param {string} session @param {number} [fromStep] */
function subscribe(session, fromStep) {
  view.subscribed = true;
  // the browser keeps up with a few events a second per topic; the server conflates the rest
  send({ type: 'subscribe', session, rates: { step: 30, gradients: 10, weights: 4 }, ...(fromStep === undefined ? {} : { fromStep }) });
}

sessionSelect.addEventListener('change', () => watch(sessionSelect.value));
setInterval(() => send({ type: 'list' }), 2000);

// ---- events ----------------------------------------------------------------------------------

/** @param {any} e */
function onEvent(e) {
  if (typeof e.step === 'number') view.lastStep = Math.max(view.lastStep, e.step);
  switch (e.type) {
    case 'step': {
      view.loss.push(e.step, e.loss);
      $('stat-step').textContent = fmt(e.step);
      $('stat-samples').textContent = fmt(e.samples);
      $('stat-loss').textContent = e.loss === null ? 'skipped' : Number(e.loss).toPrecision(4);
      $('stat-lr').textContent = String(e.lr);
      $('stat-queue').textContent = `${e.queueDepth}${e.dropped ? ` (${e.dropped} dropped)` : ''}`;
      if (document.activeElement !== lrInput && lrInput.value === '') lrInput.value = String(e.lr);
      const mark = view.rateMark;
      if (!mark || e.time - mark.time >= 1000) {
        if (mark && e.time > mark.time) $('stat-rate').textContent = fmt(Math.round(((e.samples - mark.samples) * 1000) / (e.time - mark.time)));
        view.rateMark = { time: e.time, samples: e.samples };
      }
      break;
    }
    case 'metrics':
      view.running.push(e.step, e.runningLoss);
      if (e.accuracy !== undefined) {
        view.accuracy.push(e.step, e.accuracy);
        $('stat-accuracy').textContent = pct(e.accuracy);
      }
      break;
    case 'eval':
      if (e.accuracy !== undefined) {
        view.evalAccuracy.push(e.step, e.accuracy);
        $('stat-eval').textContent = pct(e.accuracy);
      }
      if (e.confusion) showConfusion(e.confusion);
      break;
    case 'gradients':
      e.norms.forEach((/** @type {number} */ n, /** @type {number} */ i) => {
        if (!view.grads[i]) view.grads[i] = new Series(`layer ${i + 1}`, COLORS[i % COLORS.length] ?? 'black');
        view.grads[i]?.push(e.step, n);
      });
      break;
    case 'weights':
      view.weights = e.layers;
      if (layerSelect.options.length !== e.layers.length) {
        layerSelect.replaceChildren(...e.layers.map((/** @type {unknown} */ _, /** @type {number} */ i) => new Option(`layer ${i + 1}`, String(i))));
      }
      break;
    case 'lifecycle':
      $('lifecycle').textContent = e.state;
      log(`step ${e.step}: ${e.state}${e.reason ? ` (${e.reason})` : ''}`, e.state === 'failed');
      break;
    case 'control':
      log(`step ${e.step}: control ${JSON.stringify(e.control)}`);
      if (e.control.action === 'set' && e.control.lr !== undefined) lrInput.value = String(e.control.lr);
      break;
    case 'error':
      log(`step ${e.step}: ${e.code} ${e.message}`, true);
      break;
    default:
      return;
  }
  view.dirty = true;
}

/** @param {number[][]} confusion */
function showConfusion(confusion) {
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

// ---- drawing (at most once per frame) -------------------------------------------------------

function draw() {
  if (view.dirty) {
    view.dirty = false;
    drawLines(/** @type {HTMLCanvasElement} */ ($('chart-loss')), [view.loss, view.running], { log: true });
    drawLines(/** @type {HTMLCanvasElement} */ ($('chart-accuracy')), [view.accuracy, view.evalAccuracy], { yMin: 0, yMax: 1 });
    drawLines(/** @type {HTMLCanvasElement} */ ($('chart-grad')), view.grads, { log: true });
    const layer = view.weights?.[Number(layerSelect.value) || 0];
    if (layer) {
      // shown transposed: one row per unit, one column per input
      const [nin = 0, nout = 0] = layer.w.shape;
      const t = new Float64Array(nin * nout);
      for (let i = 0; i < nin; i++) for (let j = 0; j < nout; j++) t[j * nin + i] = /** @type {number} */ (layer.w.data[i * nout + j]);
      const max = drawHeatmap(/** @type {HTMLCanvasElement} */ ($('weights')), t, nout, nin);
      $('weights-note').textContent = `${nout} units × ${nin} inputs, |w| ≤ ${max.toPrecision(3)}`;
    }
  }
  requestAnimationFrame(draw);
}
layerSelect.addEventListener('change', () => (view.dirty = true));

// ---- controls ----------------------------------------------------------------------------------

/** @param {Record<string, unknown>} control */
function control(control) {
  if (view.session === undefined) return;
  $('control-note').textContent = '';
  send({ type: 'control', session: view.session, control });
}
$('pause').addEventListener('click', () => control({ action: 'pause' }));
$('resume').addEventListener('click', () => control({ action: 'resume' }));
$('step').addEventListener('click', () => control({ action: 'step' }));
$('reset').addEventListener('click', () => control({ action: 'reset' }));
$('set-lr').addEventListener('click', () => {
  const lr = Number(lrInput.value);
  if (lrInput.value === '' || !Number.isFinite(lr) || lr < 0) {
    $('control-note').textContent = `Expected a learning rate ≥ 0, got ${JSON.stringify(lrInput.value)}`;
    return;
  }
  control({ action: 'set', lr });
});

connect();
requestAnimationFrame(draw);
