/**
 * The demo: a livegrad server with its live dashboard, and a producer streaming the handwritten
 * digits shipped in test/fixtures into it over the WebSocket protocol.
 *
 *   npm start                          then open http://127.0.0.1:8080/
 *   npm start -- --port 9000 --epochs 50 --rate 40
 *
 * Three sessions train: `digits` (64-64-10, sigmoid then softmax, cross-entropy, SGD lr 0.5, batch 32,
 * with 297 digits held out for `eval` events), `spirals` (TensorFlow Playground's two spirals, from
 * the seeded generator, on a 2-16-16-2 tanh network with Adam: the dashboard draws its decision
 * boundary forming) and `tutorial` (the numpy tutorial's 3-4-1 sigmoid network, sse, SGD lr 1).
 * Ctrl-C stops everything gracefully.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createServer, dataset, readCsv, type Dataset, type LivegradServer } from '../src/index.js';
import { Producer } from './demo/producer.js';
import { DEMO_SPIRALS, twoSpirals } from './demo/two-spirals.js';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '8080' },
    epochs: { type: 'string', default: '100' },
    rate: { type: 'string', default: '40' },
    seed: { type: 'string', default: '1' },
  },
});

function positive(name: string, text: string, allowZero = false): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1)) {
    console.error(`demo: expected --${name} to be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return n;
}

const port = positive('port', values.port, true);
const epochs = positive('epochs', values.epochs);
const rate = positive('rate', values.rate);
const seed = positive('seed', values.seed, true);

/** The first `n` rows of a data set, and the rest. */
function split(d: Dataset, n: number): [Dataset, Dataset] {
  const rows = d.x.shape[0]!, nin = d.x.shape[1]!;
  const part = (from: number, to: number): Dataset => ({
    x: { dtype: d.x.dtype, shape: [to - from, nin], data: d.x.data.slice(from * nin, to * nin) },
    y: { dtype: d.y.dtype, shape: [to - from], data: d.y.data.slice(from, to) },
  });
  return [part(0, n), part(n, rows)];
}

const digits = await readCsv(fileURLToPath(new URL('../test/fixtures/digits.csv', import.meta.url)), { label: 'label', classes: 10 });
const [train, holdout] = split(digits, 1500);

let stopping = false;
let producer: Producer | undefined;
let server: LivegradServer | undefined;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`\ndemo: ${signal}, stopping`);
  producer?.close(); // first, so that it sends nothing to sessions that are closing
  await server?.close();
  process.exit(0);
}
// NOTE: the handlers go in before the line that says the server is up: a signal sent the moment
// that line is read must find them (a signal is delivered at once, between any two statements)
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));

try {
  server = await createServer({ host: values.host, port });
} catch (e) {
  const code = (e as NodeJS.ErrnoException).code;
  console.error(code === 'EADDRINUSE' ? `demo: port ${port} is in use; pick another with: npm start -- --port ${port + 1}` : `demo: cannot start the server: ${(e as Error).message}`);
  process.exit(1);
}
const live = server;
if (stopping) await new Promise<never>(() => undefined); // a signal came while it started: stop() ends the process
const page = `http://${live.host}:${live.port}/`;
console.log(`livegrad demo: dashboard at ${page}  (Ctrl-C to stop)`);

/** The producer's part: create both sessions and stream into them (a signal meanwhile closes it: not an error). */
async function run(): Promise<void> {
  producer = await Producer.connect(live.url);
  await producer.create({
    session: 'digits',
    model: { inputSize: 64, layers: [{ units: 64, activation: 'sigmoid' }, { units: 10, activation: 'softmax' }], seed },
    loss: 'crossEntropy',
    optimizer: { kind: 'sgd', lr: 0.5 },
    batchSize: 32,
    evalSet: {
      x: { dtype: 'float32', shape: holdout.x.shape, data: Array.from(holdout.x.data) },
      y: { dtype: 'float32', shape: holdout.y.shape, data: Array.from(holdout.y.data) },
    },
    events: { metricsEvery: 10, weightsEvery: 20, gradientsEvery: 5, evalEvery: 47 },
  });
  await producer.create({
    session: 'spirals',
    model: { inputSize: 2, layers: [{ units: 16, activation: 'tanh' }, { units: 16, activation: 'tanh' }, { units: 2, activation: 'softmax' }], seed },
    loss: 'crossEntropy',
    optimizer: { kind: 'adam', lr: 0.03 },
    batchSize: 16,
    events: { metricsEvery: 10, weightsEvery: 10, gradientsEvery: 10, gradientTensors: true },
  });
  await producer.create({
    session: 'tutorial',
    model: { inputSize: 3, layers: [{ units: 4, activation: 'sigmoid' }, { units: 1, activation: 'sigmoid' }], init: 'normal', seed },
    loss: 'sse',
    optimizer: { kind: 'sgd', lr: 1 },
    batchSize: 2,
    events: { metricsEvery: 5, weightsEvery: 5, gradientsEvery: 5 },
  });

  let line = '';
  producer.onEvent = (e) => {
    if (e['type'] === 'metrics') line = `step ${e['step']}  running loss ${Number(e['runningLoss']).toFixed(4)}  running accuracy ${(100 * Number(e['accuracy'])).toFixed(1)}%`;
    if (e['type'] === 'eval') line += `  held-out accuracy ${(100 * Number(e['accuracy'])).toFixed(1)}%`;
    if (process.stdout.isTTY && line) process.stdout.write(`\r\x1b[2K  digits: ${line}`);
  };
  await producer.request({ type: 'subscribe', session: 'digits', topics: ['metrics', 'eval'] });

  const tutorialData = dataset([[0, 0, 1], [1, 1, 1]], [[0], [1]]);
  const spirals = twoSpirals(DEMO_SPIRALS.n, DEMO_SPIRALS.noise, DEMO_SPIRALS.seed);
  await Promise.all([
    producer.stream('digits', train, {
      epochs,
      rows: 32,
      rate,
      seed,
      onEpoch: (epoch) => {
        if (!process.stdout.isTTY) console.log(`  digits: epoch ${epoch}/${epochs} sent; ${line}`);
      },
    }),
    producer.stream('spirals', dataset(spirals.x, spirals.y), { epochs: epochs * 20, rows: 16, rate: Math.max(rate, 50), seed, onEpoch: () => undefined }),
    producer.stream('tutorial', tutorialData, { epochs: 3000, rows: 2, rate: 25, seed, onEpoch: () => undefined }),
  ]);
  if (!stopping) console.log(`\ndemo: all ${epochs} epochs sent; the dashboard stays up until Ctrl-C`);
}

run().catch((e: unknown) => {
  if (stopping) return;
  console.error(`demo: ${(e as Error).message}`);
  process.exit(1);
});
