import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A web page on an origin of its own (127.0.0.1 and a port other than any service's), for a
 * browser test whose script calls the API cross-origin, as a shop's front end would. Every
 * GET answers the same empty page; the test's script is run in it with `page.evaluate`.
 */
export interface PageServer {
  /** `http://127.0.0.1:<port>`, as the browser sends it in `Origin`. */
  origin: string;
  close(): Promise<void>;
}

/** On `origin`'s port when given (an origin the platform was configured with), a free one otherwise. */
export async function startPageServer(origin?: string): Promise<PageServer> {
  const port = origin === undefined ? 0 : Number(new URL(origin).port);
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    response.end('<!doctype html><html><head><meta charset="utf-8"><title>another origin</title></head><body></body></html>');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
