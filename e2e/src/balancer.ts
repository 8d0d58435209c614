import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A round-robin HTTP load balancer in front of a service's instances, as peers reach a
 * service in production (payment-service calls order-service through it). An instance that
 * refuses the connection (killed, restarting) is skipped and the next one is tried, as a
 * balancer's passive health check would; an answer, even a 5xx, is passed on as it is.
 */
export class Balancer {
  private server?: Server;
  private next = 0;

  constructor(private readonly upstreams: () => string[]) {}

  get url(): string {
    const { port } = this.server?.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => void this.forward(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }

  private async forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const upstreams = this.upstreams();
    for (let tried = 0; tried < upstreams.length; tried++) {
      const target = new URL(upstreams[this.next++ % upstreams.length] as string);
      const sent = await new Promise<boolean>((resolve) => {
        const out = httpRequest(
          { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
            answer.once('end', () => resolve(true));
            answer.once('error', () => resolve(true));
          },
        );
        out.once('error', (err: NodeJS.ErrnoException) => {
          if (res.headersSent) res.destroy();
          // Only a refused connection is safe to send elsewhere: the request never arrived.
          resolve(res.headersSent || err.code !== 'ECONNREFUSED' ? (res.destroy(), true) : false);
        });
        out.end(body);
      });
      if (sent) return;
    }
    res.writeHead(503, { 'content-type': 'application/problem+json' });
    res.end(JSON.stringify({ type: 'about:blank', title: 'No instance answered', status: 503, code: 'NO_UPSTREAM' }));
  }
}
