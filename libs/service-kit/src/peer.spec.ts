import { createServer as createTcpServer } from 'node:net';
import { buildTestApp, sleep, UUID_V7 } from '../test/test-app';
import { peerFetch } from './peer';
import type { App } from './server';

/** A port that nothing listens on: bound once by the OS, then released. */
async function closedPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('peerFetch', () => {
  let peer: App;
  let caller: App;
  let peerUrl: string;
  let downUrl: string;

  beforeAll(async () => {
    // The peer is another service built with the kit, listening on a real port.
    peer = await buildTestApp({
      service: 'kit-peer',
      routes: (app) => {
        app.get('/echo', async (request) => ({
          requestId: request.headers['x-request-id'] ?? null,
          authorization: request.headers.authorization ?? null,
        }));
        app.get('/slow', async () => {
          await sleep(300);
          return { late: true };
        });
      },
    });
    peerUrl = await peer.listen({ port: 0, host: '127.0.0.1' });
    downUrl = `http://127.0.0.1:${await closedPort()}`;

    caller = await buildTestApp({
      routes: (app) => {
        app.get('/call', async (request) => (await peerFetch(request, `${peerUrl}/echo`)).json());
        app.get('/call-with-headers', async (request) => {
          const res = await peerFetch(request, new URL('/echo', peerUrl), {
            headers: { 'x-request-id': 'forged-by-caller-code', authorization: 'Bearer service-token' },
          });
          return res.json();
        });
        app.get('/call-slow', async (request) => {
          try {
            await peerFetch(request, `${peerUrl}/slow`, { timeoutMs: 50 });
            return { timedOut: false };
          } catch (err) {
            return { timedOut: true, name: (err as Error).name };
          }
        });
        app.get('/call-down', async (request) => (await peerFetch(request, `${downUrl}/echo`)).json());
        app.get('/call-slow-unhandled', async (request) => (await peerFetch(request, `${peerUrl}/slow`, { timeoutMs: 50 })).json());
      },
    });
  });
  afterAll(async () => {
    await caller.close();
    await peer.close();
  }, 10_000);

  it("when the client sent a request id, then the peer receives that same id", async () => {
    const res = await caller.inject({ method: 'GET', url: '/call', headers: { 'x-request-id': 'client-trace-7' } });
    expect(res.statusCode).toBe(200);
    expect(res.json().requestId).toBe('client-trace-7');
  });

  it('when the id was made by the service, then the peer receives the made id', async () => {
    const res = await caller.inject({ method: 'GET', url: '/call' });
    expect(res.headers['x-request-id']).toMatch(UUID_V7);
    expect(res.json().requestId).toBe(res.headers['x-request-id']);
  });

  it("when the call sets headers of its own, then they are sent but the request's id wins", async () => {
    const res = await caller.inject({ method: 'GET', url: '/call-with-headers', headers: { 'x-request-id': 'client-trace-8' } });
    expect(res.json()).toEqual({ requestId: 'client-trace-8', authorization: 'Bearer service-token' });
  });

  it('when the peer answers later than timeoutMs, then the call is aborted with a TimeoutError', async () => {
    const res = await caller.inject({ method: 'GET', url: '/call-slow' });
    expect(res.json()).toEqual({ timedOut: true, name: 'TimeoutError' });
  });

  it('when the peer refuses connections, then the client gets 503 DEPENDENCY_UNAVAILABLE', async () => {
    const res = await caller.inject({ method: 'GET', url: '/call-down', headers: { 'x-request-id': 'client-trace-9' } });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE', requestId: 'client-trace-9' });
    expect(res.body).not.toContain('127.0.0.1');
  });
});
