import { connect, createServer, type Server, type Socket } from 'node:net';

/** MySQL's COM_QUERY: a command packet whose payload is this byte, then the SQL text. */
const COM_QUERY = 0x03;

export interface MysqlQueryRecorder {
  /** The URL to connect through: the recorder's loopback port in place of the server's. */
  url: string;
  /**
   * The text of every query the clients sent, in order: one entry per command, so one round
   * trip each, whatever number of statements it carries.
   */
  queries: string[];
  close(): Promise<void>;
}

/**
 * A loopback TCP proxy in front of a real MySQL server that reads the client's side of the
 * protocol (packets: 3-byte length, sequence id, payload) and records each COM_QUERY, for
 * tests that count what a piece of work sends. No TLS, no compression: the pools' defaults.
 */
export async function recordMysqlQueries(url: string): Promise<MysqlQueryRecorder> {
  const target = new URL(url);
  const queries: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port || 3306), target.hostname);
    let pending = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4) {
        const length = pending.readUIntLE(0, 3);
        if (pending.length < 4 + length) break;
        // A command opens a new exchange: sequence id 0.
        if (pending[3] === 0 && pending[4] === COM_QUERY) queries.push(pending.subarray(5, 4 + length).toString('utf8'));
        pending = pending.subarray(4 + length);
      }
      upstream.write(chunk);
    });
    upstream.pipe(client);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('end', () => upstream.end());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const proxied = new URL(url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String((server.address() as { port: number }).port);
  return {
    url: proxied.toString(),
    queries,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
