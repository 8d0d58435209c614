import { createServer, type Server } from 'node:http';
import type { TestSigningKey } from './tokens';

/** A real HTTP JWKS endpoint on 127.0.0.1, standing in for user-service's `/.well-known/jwks.json`. */
export interface TestJwksServer {
  url: string;
  /** Requests served so far. */
  hits(): number;
  /** The keys published from now on. */
  publish(keys: TestSigningKey[]): void;
  /** Answers 500 from now on (true) or the keys again (false). */
  fail(failing: boolean): void;
  close(): Promise<void>;
}

export async function startJwksServer(keys: TestSigningKey[] = []): Promise<TestJwksServer> {
  let published = keys;
  let failing = false;
  let hits = 0;
  const server: Server = createServer((_req, res) => {
    hits++;
    if (failing) {
      res.writeHead(500).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: published.map((k) => k.jwk) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    hits: () => hits,
    publish: (next) => {
      published = next;
    },
    fail: (next) => {
      failing = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
