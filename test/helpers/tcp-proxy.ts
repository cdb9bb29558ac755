/**
 * A raw TCP proxy between a client and a server (tests only): what a client connects to when a
 * test must drop its connections from the far side — a network that fails, a server that goes
 * away without a close frame — or move it to another server (a restart on a new port).
 */
import { createServer, createConnection, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** `ws://127.0.0.1:<proxy port>/ws` */
  readonly url: string;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Destroys every connection open now (both sides, no close frame: the client sees 1006). */
  cut(): void;
  /** Silences every connection open now: the server's side is dropped, the client's stays open and hears nothing more (a server gone without a FIN). */
  freeze(): void;
  /** Connections from now on go to this port. */
  retarget(port: number): void;
  close(): Promise<void>;
}

export async function tcpProxy(targetPort: number): Promise<TcpProxy> {
  let target = targetPort;
  let accepted = 0;
  const pairs = new Set<[Socket, Socket]>();
  /** Client sides left open by freeze(), destroyed by close(). */
  const frozen = new Set<Socket>();
  const server: Server = createServer((client) => {
    accepted++;
    const upstream = createConnection({ host: '127.0.0.1', port: target });
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const freeze = (): void => {
    for (const pair of [...pairs]) {
      const [client, upstream] = pair;
      client.unpipe(upstream);
      upstream.unpipe(client);
      upstream.removeAllListeners('close').removeAllListeners('error').on('error', () => undefined);
      upstream.destroy();
      pairs.delete(pair);
      frozen.add(client);
    }
  };
  const cut = (): void => {
    for (const [a, b] of [...pairs]) {
      a.destroy();
      b.destroy();
    }
    pairs.clear();
  };
  return {
    port,
    url: `ws://127.0.0.1:${port}/ws`,
    get accepted() {
      return accepted;
    },
    cut,
    freeze,
    retarget(p) {
      target = p;
    },
    close() {
      cut();
      for (const c of frozen) c.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
