/**
 * The demo: trains the tutorial network (3-4-1 sigmoid, sse, SGD lr 1) and then W2
 * (64-64-10 on the handwritten digits shipped in test/fixtures) through the RxJS pipeline,
 * with a live progress line in the terminal.
 *
 *   npm start            (or: npx tsx scripts/demo.ts [--epochs 20] [--seed 1])
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { lastValueFrom, tap } from 'rxjs';
import { createTrainer, dataset, epochs, mlpFromWeights, predict, readCsv, sgd, toNested, train, type TrainEvent } from '../src/index.js';

const { values } = parseArgs({ options: { epochs: { type: 'string', default: '20' }, seed: { type: 'string', default: '1' } } });
const epochCount = Number(values.epochs);
const seed = Number(values.seed);
const interactive = process.stdout.isTTY === true;

function progress(line: string): void {
  if (interactive) process.stdout.write(`\r\x1b[2K${line}`);
}

async function tutorial(): Promise<void> {
  console.log('The tutorial network: 3-4-1 sigmoid, X = [[0,0,1],[1,1,1]], y = [[0],[1]], sse, SGD lr 1');
  const model = mlpFromWeights(
    [
      { activation: 'sigmoid', weights: [[0.2, -0.4, 0.7, 0.1], [-0.5, 0.3, -0.1, 0.6], [0.4, 0.2, -0.3, -0.2]], bias: [0, 0, 0, 0] },
      { activation: 'sigmoid', weights: [[0.3], [-0.2], [0.5], [0.1]], bias: [0] },
    ],
    'float64',
  );
  const data = dataset([[0, 0, 1], [1, 1, 1]], [[0], [1]], 'float64');
  // A trainer is the engine behind train(): here it trains synchronously inside push().
  const trainer = createTrainer({ model, loss: 'sse', optimizer: sgd({ lr: 1 }), batchSize: 2, sliceMs: Infinity, events: { weightsEvery: 0 } });
  let last = NaN;
  trainer.events$.subscribe((e: TrainEvent) => {
    if (e.type !== 'step') return;
    last = e.loss;
    if (e.step % 200 === 0) progress(`  step ${e.step}  loss ${e.loss.toFixed(6)}`);
  });
  for (let i = 0; i < 2000; i++) trainer.push(data);
  progress('');
  const trained = trainer.model;
  const out = toNested(predict(trained, data.x)).map((r) => r[0]!.toFixed(4));
  console.log(`  after 2000 steps: loss ${last.toFixed(6)}, outputs [${out.join(', ')}] for targets [0, 1]\n`);
}

async function digits(): Promise<void> {
  const file = fileURLToPath(new URL('../test/fixtures/digits.csv', import.meta.url));
  const data = await readCsv(file, { label: 'label', classes: 10 });
  const n = data.x.shape[0]!;
  console.log(`W2: 64-64-10 (sigmoid, softmax), cross-entropy, SGD lr 0.5, batch 32, ${epochCount} epochs over ${n} handwritten digits`);
  const holdout = data;
  const t0 = performance.now();
  let evalLine = '';
  let samples = 0;
  await lastValueFrom(
    epochs(data, { epochs: epochCount, seed, chunkSize: 32 }).pipe(
      train({
        model: { inputSize: 64, layers: [{ units: 64, activation: 'sigmoid' }, { units: 10, activation: 'softmax' }], seed },
        loss: 'crossEntropy',
        optimizer: sgd({ lr: 0.5 }),
        batchSize: 32,
        evalSet: holdout,
        events: { evalEvery: Math.ceil(n / 32), metricsEvery: 20 },
      }),
      tap((e: TrainEvent) => {
        if (e.type === 'step') samples = e.samples;
        if (e.type === 'metrics') {
          const epoch = (e.samples / n).toFixed(1);
          progress(`  epoch ${epoch}  step ${e.step}  running loss ${e.runningLoss.toFixed(4)}  running accuracy ${((e.accuracy ?? 0) * 100).toFixed(1)}%${evalLine}`);
        }
        if (e.type === 'eval') evalLine = `  train-set accuracy ${((e.accuracy ?? 0) * 100).toFixed(1)}%`;
      }),
    ),
  );
  progress('');
  const secs = (performance.now() - t0) / 1000;
  console.log(`  done: ${samples} samples in ${secs.toFixed(2)} s (${Math.round(samples / secs)} samples/s);${evalLine}`);
}

await tutorial();
await digits();
