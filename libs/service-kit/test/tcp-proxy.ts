import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a real MySQL or Redis that a test can cut and restore,
 * to see how a service behaves while its dependency is unreachable. It keeps its
 * port across stop()/start(), as a restarted server would.
 */
export class TcpProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly pairs = new Set<[Socket, Socket]>();
  private frozen = false;
  port = 0;
  /** Client connections accepted so far: how many connections a client opened through the proxy. */
  accepted = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  static forUrl(url: string): TcpProxy {
    const u = new URL(url);
    return new TcpProxy({ host: u.hostname, port: Number(u.port) });
  }

  /** `url` with its host and port replaced by the proxy's. */
  rewrite(url: string): string {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }

  async start(): Promise<this> {
    if (this.server) return this;
    const server = createServer((client) => this.pipe(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
    return this;
  }

  /**
   * Stops moving bytes either way, and leaves new connections without a greeting, as a frozen
   * server or a silent network does: nothing is refused or reset. What was sent waits in the
   * sockets' buffers and flows on thaw(), as it would once TCP retransmits after a partition.
   */
  freeze(): void {
    this.frozen = true;
    for (const [client, upstream] of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  /**
   * New connections flow again. `stuck: true` leaves the ones opened before the thaw silent, as
   * after a long partition: TCP's retransmit back-off can hold an old socket for a minute more.
   */
  thaw({ stuck = false } = {}): void {
    this.frozen = false;
    const old = [...this.pairs];
    if (stuck) for (const pair of old) this.pairs.delete(pair);
    else for (const [client, upstream] of old) client.pipe(upstream).pipe(client);
  }

  /** Refuses new connections and cuts the open ones, as a crashed server would. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private pipe(client: Socket): void {
    this.accepted++;
    const upstream = connect(this.target.port, this.target.host);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    client.on('close', () => this.pairs.delete(pair));
    if (this.frozen) for (const s of pair) s.pause();
    else client.pipe(upstream).pipe(client);
  }
}
