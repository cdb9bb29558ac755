/**
 * A session's training thread: a TrainerHost (trainer-host.ts) on the port to the main thread,
 * so that training never competes with socket I/O, decoding and fan-out on the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { HostInit, ToHost } from './thread-messages.js';
import { TrainerHost } from './trainer-host.js';

const port = parentPort;
if (port) {
  const host = new TrainerHost(workerData as HostInit, (flush, transfer) => port.postMessage(flush, transfer));
  port.on('message', (m: ToHost) => host.handle(m));
}
