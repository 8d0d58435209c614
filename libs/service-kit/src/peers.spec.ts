import { Type } from '@sinclair/typebox';
import type { Socket } from 'node:net';
import { closedPort, startDroppingPeer, startPeerProcess, startSilentServer, type DroppingPeer, type PeerProcess, type SilentServer } from '../test/silent-peers';
import { buildTestApp, sleep, UUID_V7 } from '../test/test-app';
import { loadConfig, peerTimeoutEnv } from './config';
import { peerOptions, peerRequest, peers, type HttpTimeouts } from './peers';
import type { App } from './server';

/** Short bounds, so that the failures below take about a second. */
const SHORT: HttpTimeouts = { connectTimeoutMs: 500, timeoutMs: 500 };
/** undici checks its timeouts on a clock of half-second ticks: a call gives up up to that much after its bound. */
const CLOCK_MS = 500;
/** Slack for a loaded machine on top of a budget. */
const SLACK_MS = 1_000;
/** The longest a call bounded by `ms` may take here. */
const within = (ms: number) => ms + CLOCK_MS + SLACK_MS;

/** A caller service with the `peers` plugin and one route that calls `url` with the caller's request. */
async function callerOf(timeouts: HttpTimeouts, url: () => string): Promise<App> {
  return buildTestApp({
    routes: (app) => {
      app.register(peers, timeouts);
      app.get('/call', async (request) => {
        const res = await peerRequest(request, app.peers, url(), { headers: { 'x-request-id': 'forged-by-caller-code', authorization: 'Bearer service-token' } });
        return { status: res.statusCode, body: await res.body.json() };
      });
    },
  });
}

/** GET /call on `caller`, with how long it took. */
async function timedCall(caller: App): Promise<{ status: number; body: Record<string, unknown>; headers: Record<string, unknown>; ms: number }> {
  const started = Date.now();
  const res = await caller.inject({ method: 'GET', url: '/call', headers: { 'x-request-id': 'client-trace-9' } });
  return { status: res.statusCode, body: res.json(), headers: res.headers, ms: Date.now() - started };
}

describe('peerRequest through app.peers', () => {
  let peer: App;
  let peerUrl: string;
  /** The peer's side of every connection it accepted, by the caller's port. */
  const seen = new Map<number, Socket>();
  /** The caller's port of the connection the last call to /slow came on. */
  let slowCallPort = 0;
  let target = '';
  let caller: App;

  beforeAll(async () => {
    // The peer is another service built with the kit, listening on a real port.
    peer = await buildTestApp({
      service: 'kit-peer',
      routes: (app) => {
        app.get('/echo', async (request) => ({
          requestId: request.headers['x-request-id'] ?? null,
          authorization: request.headers.authorization ?? null,
          clientPort: request.socket.remotePort,
        }));
        app.get('/slow', async (request) => {
          slowCallPort = request.socket.remotePort ?? 0;
          await sleep(within(SHORT.timeoutMs));
          return { late: true };
        });
      },
    });
    peerUrl = await peer.listen({ port: 0, host: '127.0.0.1' });
    peer.server.on('connection', (socket: Socket) => seen.set(socket.remotePort ?? 0, socket));
    caller = await callerOf(SHORT, () => target);
  });
  afterAll(async () => {
    await caller.close();
    await peer.close();
  }, 10_000);

  it("when the caller sets headers of its own, then they are sent but the client's request id wins", async () => {
    target = `${peerUrl}/echo`;
    const res = await timedCall(caller);
    expect(res.status).toBe(200);
    expect(res.body['body']).toMatchObject({ requestId: 'client-trace-9', authorization: 'Bearer service-token' });
  });

  it('when the id was made by the service, then the peer receives the made id', async () => {
    target = `${peerUrl}/echo`;
    const res = await caller.inject({ method: 'GET', url: '/call' });
    expect(res.headers['x-request-id']).toMatch(UUID_V7);
    expect(res.json().body.requestId).toBe(res.headers['x-request-id']);
  });

  it('when calls follow one another, then they reuse keep-alive connections: ten calls, two connections at most', async () => {
    target = `${peerUrl}/echo`;
    const before = seen.size;
    const ports = new Set<number>();
    for (let i = 0; i < 10; i++) ports.add(((await timedCall(caller)).body['body'] as { clientPort: number }).clientPort);
    // undici lets one turn of the event loop pass before it reuses a connection, so a call made
    // at once after another may take a second one.
    expect(ports.size).toBeLessThanOrEqual(2);
    expect(seen.size - before).toBeLessThanOrEqual(2);
  });

  it('when calls come a moment apart, then they all go over one connection', async () => {
    target = `${peerUrl}/echo`;
    const ports = new Set<number>();
    for (let i = 0; i < 5; i++) {
      ports.add(((await timedCall(caller)).body['body'] as { clientPort: number }).clientPort);
      await sleep(10);
    }
    expect(ports.size).toBe(1);
  });

  it('when a call times out, then 503 DEPENDENCY_UNAVAILABLE, its connection is closed, and the next call opens a new one', async () => {
    target = `${peerUrl}/slow`;
    const res = await timedCall(caller);
    expect([res.status, res.body['code'], res.headers['retry-after']]).toEqual([503, 'DEPENDENCY_UNAVAILABLE', '1']);
    expect(res.ms).toBeLessThan(within(SHORT.timeoutMs));
    // The caller hung up that connection (the peer closes its side once its late answer is out)…
    const timedOut = seen.get(slowCallPort) as Socket;
    if (!timedOut.destroyed) await new Promise((resolve) => timedOut.once('close', resolve));
    // …and never sends on it again.
    target = `${peerUrl}/echo`;
    for (let i = 0; i < 5; i++) {
      const next = await timedCall(caller);
      expect(next.status).toBe(200);
      expect((next.body['body'] as { clientPort: number }).clientPort).not.toBe(slowCallPort);
    }
  });
});

describe('peerRequest to a peer that cannot answer', () => {
  let silent: SilentServer;
  let dropping: DroppingPeer;
  let frozen: PeerProcess;
  let target = '';
  let caller: App;
  let withDefaults: App;

  beforeAll(async () => {
    silent = await startSilentServer();
    dropping = await startDroppingPeer();
    frozen = await startPeerProcess();
    caller = await callerOf(SHORT, () => target);
    withDefaults = await callerOf(peerOptions(loadConfig(Type.Object(peerTimeoutEnv()), {})), () => target);
  }, 30_000);
  afterAll(async () => {
    await Promise.all([caller?.close(), withDefaults?.close()]);
    await Promise.all([silent?.close(), dropping?.close(), frozen?.close()]);
  }, 10_000);

  it('when the peer refuses connections, then 503 DEPENDENCY_UNAVAILABLE with Retry-After at once, naming no host', async () => {
    target = `http://127.0.0.1:${await closedPort()}/echo`;
    const res = await timedCall(caller);
    expect([res.status, res.body['code'], res.body['requestId'], res.headers['retry-after']]).toEqual([503, 'DEPENDENCY_UNAVAILABLE', 'client-trace-9', '1']);
    expect(res.ms).toBeLessThan(SLACK_MS);
    expect(JSON.stringify(res.body)).not.toContain('127.0.0.1');
  });

  it('when the peer accepts the connection and never answers, then 503 after the timeout, and the connection is closed', async () => {
    target = `${silent.url}/echo`;
    const res = await timedCall(caller);
    expect([res.status, res.body['code'], res.headers['retry-after']]).toEqual([503, 'DEPENDENCY_UNAVAILABLE', '1']);
    expect(res.ms).toBeGreaterThanOrEqual(SHORT.timeoutMs);
    expect(res.ms).toBeLessThan(within(SHORT.timeoutMs));
    await sleep(100);
    expect([silent.accepted, silent.open]).toEqual([1, 0]);
  });

  it('when new connections to the peer are dropped, then 503 after the connect timeout', async () => {
    target = `${dropping.url}/echo`;
    const res = await timedCall(caller);
    expect([res.status, res.body['code'], res.headers['retry-after']]).toEqual([503, 'DEPENDENCY_UNAVAILABLE', '1']);
    expect(res.ms).toBeGreaterThanOrEqual(SHORT.connectTimeoutMs);
    expect(res.ms).toBeLessThan(within(SHORT.connectTimeoutMs));
  });

  it('when the peer process is frozen, then 503 after the timeout; once it runs again, the next call is answered', async () => {
    target = `${frozen.url}/ok`;
    expect((await timedCall(caller)).status).toBe(200);
    frozen.freeze();
    const res = await timedCall(caller);
    frozen.thaw();
    expect([res.status, res.body['code'], res.headers['retry-after']]).toEqual([503, 'DEPENDENCY_UNAVAILABLE', '1']);
    expect(res.ms).toBeLessThan(within(SHORT.timeoutMs));
    expect((await timedCall(caller)).status).toBe(200);
  });

  it.each([
    ['never answers', () => `${silent.url}/echo`],
    ['is frozen', () => `${frozen.url}/ok`],
    ['drops new connections', () => `${dropping.url}/echo`],
  ])('when the peer %s, then with the default settings the 503 comes within the contract’s 2 s', async (_, url) => {
    target = url();
    const isFrozen = target.startsWith(frozen.url);
    if (isFrozen) frozen.freeze();
    const res = await timedCall(withDefaults);
    if (isFrozen) frozen.thaw();
    expect([res.status, res.body['code']]).toEqual([503, 'DEPENDENCY_UNAVAILABLE']);
    expect(res.ms).toBeLessThan(2_000);
  });
});
