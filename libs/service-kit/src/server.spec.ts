import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Agent, get as httpGet } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { listeningPort, spawnFixture, tryConnect, type ChildService } from '../test/child-service';
import { sleep } from '../test/test-app';
import { loadConfig, serverEnv } from './config';
import { createApp, type AppOptions } from './server';

// Child processes start tsx and a whole service; allow them more than jest's default 5 s.
jest.setTimeout(20_000);

describe('createApp', () => {
  it("when a service definition is given, then its plugin is registered with the config and the metrics switch", async () => {
    const configSchema = Type.Object({ ...serverEnv(3000), GREETING: Type.String({ default: 'hi' }) });
    const seen: AppOptions<unknown>[] = [];
    const plugin = async (app: FastifyInstance, opts: AppOptions<unknown>) => {
      seen.push(opts);
      app.get('/greeting', async () => ({ greeting: (opts.config as { GREETING: string }).GREETING }));
    };
    const config = loadConfig(configSchema, { LOG_LEVEL: 'silent', GREETING: 'hello' });
    const app = await createApp({ service: 'kit-create', configSchema, plugin }, config, { defaultMetrics: false });
    try {
      const res = await app.inject({ method: 'GET', url: '/greeting' });
      expect(res.json()).toEqual({ greeting: 'hello' });
      expect(seen).toEqual([expect.objectContaining({ config, defaultMetrics: false })]);
    } finally {
      await app.close();
    }
  });

  it.each([
    ['false', '127.0.0.1'],
    ['true', '203.0.113.7'],
    ['127.0.0.1', '203.0.113.7'],
    ['10.0.0.0/8', '127.0.0.1'],
    ['1', '203.0.113.7'],
  ])('when TRUST_PROXY is %s, then the client address is %s', async (trustProxy, expected) => {
    const configSchema = Type.Object(serverEnv(3000));
    const plugin = async (app: FastifyInstance) => {
      app.get('/ip', async (request) => ({ ip: request.ip }));
    };
    const config = loadConfig(configSchema, { LOG_LEVEL: 'silent', TRUST_PROXY: trustProxy });
    const app = await createApp({ service: 'kit-proxy', configSchema, plugin }, config, { defaultMetrics: false });
    try {
      const res = await app.inject({ method: 'GET', url: '/ip', remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': '203.0.113.7' } });
      expect(res.json()).toEqual({ ip: expected });
    } finally {
      await app.close();
    }
  });

  it.each([
    ['headers over the size limit', `GET /ip HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'HEADERS_TOO_LARGE'],
    ['a request line that is not HTTP', 'NOT HTTP AT ALL\r\n\r\n', 400, 'MALFORMED_REQUEST'],
  ])('when the HTTP parser refuses %s, then the answer is problem+json with a request id', async (_what, raw, status, code) => {
    const configSchema = Type.Object(serverEnv(3000));
    const app = await createApp({ service: 'kit-client-error', configSchema, plugin: async () => undefined }, loadConfig(configSchema, { LOG_LEVEL: 'silent' }), { defaultMetrics: false });
    try {
      await app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = app.server.address() as { port: number };
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => socket.write(raw));
        let data = '';
        socket.on('data', (d) => (data += d.toString()));
        socket.on('close', () => resolve(data));
        socket.on('error', reject);
      });
      const [head, body] = answer.split('\r\n\r\n') as [string, string];
      expect(head).toMatch(new RegExp(`^HTTP/1.1 ${status} `));
      expect(head).toMatch(/content-type: application\/problem\+json/i);
      const requestId = /x-request-id: (\S+)/i.exec(head)?.[1];
      expect(JSON.parse(body)).toEqual({ type: expect.any(String), title: expect.any(String), status, detail: expect.any(String), code, requestId });
    } finally {
      await app.close();
    }
  });

  it('when the app closes while a keep-alive request is in flight, then that answer says connection: close', async () => {
    let began!: () => void;
    let release!: () => void;
    const started = new Promise<void>((resolve) => (began = resolve));
    const gate = new Promise<void>((resolve) => (release = resolve));
    const configSchema = Type.Object(serverEnv(3000));
    const plugin = async (app: FastifyInstance) => {
      app.get('/fast', async () => ({ done: true }));
      app.get('/slow', async () => {
        began();
        await gate;
        return { done: true };
      });
    };
    const app = await createApp({ service: 'kit-closing', configSchema, plugin }, loadConfig(configSchema, { LOG_LEVEL: 'silent' }), { defaultMetrics: false });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as { port: number };
    const agent = new Agent({ keepAlive: true });
    const get = (path: string) =>
      new Promise<{ status?: number; connection?: string }>((resolve, reject) => {
        httpGet({ host: '127.0.0.1', port, path, agent }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode, connection: res.headers.connection }));
        }).on('error', reject);
      });
    try {
      expect(await get('/fast')).toEqual({ status: 200, connection: 'keep-alive' });
      const answer = get('/slow');
      await started;
      const closed = app.close();
      await sleep(20);
      release();
      expect(await answer).toEqual({ status: 200, connection: 'close' });
      await closed;
    } finally {
      agent.destroy();
      release();
      await app.close();
    }
  });

  it('when TRUST_PROXY is not a boolean, a hop count or addresses, then the config is refused naming it', () => {
    expect(() => loadConfig(Type.Object(serverEnv(3000)), { TRUST_PROXY: 'yes please' })).toThrow(/TRUST_PROXY/);
  });
});

describe('startService, in a child process', () => {
  let cwd: string;
  let child: ChildService | undefined;

  beforeEach(() => {
    // A working directory of its own, so no stray .env is read.
    cwd = mkdtempSync(join(tmpdir(), 'kit-service-'));
    child = undefined;
  });

  afterEach(async () => {
    if (child && child.proc.exitCode === null && child.proc.signalCode === null) {
      child.proc.kill('SIGKILL');
      await child.exited;
    }
    rmSync(cwd, { recursive: true, force: true });
  });

  const start = (env: Record<string, string>) => {
    child = spawnFixture('slow-service.ts', { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env }, cwd);
    return child;
  };

  it('when SIGTERM arrives during a request, then the request completes with 200, new connections are not served and the process exits 0', async () => {
    const svc = start({ SLOW_MS: '800', SHUTDOWN_TIMEOUT_MS: '5000' });
    const port = await listeningPort(svc);
    expect(await tryConnect(port)).toBe('CONNECTED');

    let finishedAt = 0;
    const inFlight = fetch(`http://127.0.0.1:${port}/slow`).then(async (res) => {
      finishedAt = Date.now();
      return { status: res.status, body: await res.json() };
    });
    await svc.waitForLog((l) => l['msg'] === 'slow request started');
    svc.proc.kill('SIGTERM');
    await svc.waitForLog((l) => l['msg'] === 'shutting down');

    // While the slow request is still running, the listening socket is already closed.
    let refused = await tryConnect(port);
    while (refused === 'CONNECTED' && finishedAt === 0) {
      await sleep(5);
      refused = await tryConnect(port);
    }
    const refusedAt = Date.now();
    // Refused once the listening socket is closed; a connection that was still in its accept
    // queue at that moment is reset instead. Either way it is not served.
    expect(['ECONNREFUSED', 'ECONNRESET']).toContain(refused);

    expect(await inFlight).toEqual({ status: 200, body: { done: true } });
    expect(refusedAt).toBeLessThan(finishedAt);
    expect(await svc.exited).toEqual({ code: 0, signal: null });
    expect(svc.stdout()).toContain('onClose hook ran');
    expect(await tryConnect(port)).toBe('ECONNREFUSED');
  });

  it('when the work in flight outlasts SHUTDOWN_TIMEOUT_MS, then the process gives up and exits 1', async () => {
    const svc = start({ SLOW_MS: '3000', SHUTDOWN_TIMEOUT_MS: '300' });
    const port = await listeningPort(svc);
    const inFlight = fetch(`http://127.0.0.1:${port}/slow`).then(
      () => 'answered',
      (err: Error) => err.message,
    );
    await svc.waitForLog((l) => l['msg'] === 'slow request started');
    svc.proc.kill('SIGTERM');
    expect(await svc.exited).toEqual({ code: 1, signal: null });
    expect(await inFlight).toBe('fetch failed');
  });

  it('when PORT is not a number, then the process exits 1 and stderr names PORT', async () => {
    const svc = start({ PORT: 'abc' });
    expect(await svc.exited).toEqual({ code: 1, signal: null });
    expect(svc.stderr()).toMatch(/^Invalid configuration:\n {2}- PORT must be integer \(got "abc"\)/);
    expect(svc.stdout()).not.toContain('Server listening');
  });

  it('when several variables are bad, then stderr names each of them', async () => {
    const svc = start({ PORT: '70000', LOG_LEVEL: 'loud', SLOW_MS: '-5' });
    expect(await svc.exited).toEqual({ code: 1, signal: null });
    for (const name of ['PORT', 'LOG_LEVEL', 'SLOW_MS']) expect(svc.stderr()).toContain(name);
  });

  it('when the bad value comes from a .env file in the working directory, then the process exits 1 naming it', async () => {
    writeFileSync(join(cwd, '.env'), 'SHUTDOWN_TIMEOUT_MS=soon\n');
    const svc = start({});
    expect(await svc.exited).toEqual({ code: 1, signal: null });
    expect(svc.stderr()).toContain('SHUTDOWN_TIMEOUT_MS');
  });
});
