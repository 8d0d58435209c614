import type { App } from '@platform/service-kit';
import { createTestDatabase, eventually, testKeyPrefix, type TestDatabase } from '@platform/testing';
import { createServer } from 'node:net';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ITEM, ROOMY_LIMITS, bearer, build } from './helper';

/**
 * A real user-service process (from its sources, on a schema of its own) signs in a user;
 * order-service verifies that user's token through user-service's published JWKS, and
 * sees a logout made there at once through the shared revocation keys.
 */
const root = join(__dirname, '../../..');
const tsx = require.resolve('tsx/cli');
let users: ChildProcess | undefined;
let usersDb: TestDatabase;
let usersUrl: string;
let app: App;
const output: string[] = [];

beforeAll(async () => {
  usersDb = await createTestDatabase('user');
  const authPrefix = testKeyPrefix('auth');
  const port = await freePort();
  usersUrl = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    ...ROOMY_LIMITS,
    LOGIN_RATE_LIMIT_MAX: '1000',
    DATABASE_URL: usersDb.url,
    REDIS_KEY_PREFIX: testKeyPrefix('user'),
    AUTH_REDIS_KEY_PREFIX: authPrefix,
    PORT: String(port),
    HOST: '127.0.0.1',
  };
  const migrated = spawnSync(process.execPath, [tsx, 'apps/user-service/src/migrate.ts', 'up'], { cwd: root, env, encoding: 'utf8' });
  if (migrated.status !== 0) throw new Error(`user-service migrations failed:\n${migrated.stdout}${migrated.stderr}`);
  users = spawn(process.execPath, [tsx, 'apps/user-service/src/main.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  for (const stream of [users.stdout, users.stderr]) stream?.on('data', (d: Buffer) => output.push(d.toString()));
  const up = await eventually(async () => (await fetch(`${usersUrl}/health/ready`).catch(() => undefined))?.status === 200, 25_000, 200);
  if (!up) throw new Error(`user-service did not become ready:\n${output.join('')}`);
  app = await build({ USER_SERVICE_URL: usersUrl, AUTH_REDIS_KEY_PREFIX: authPrefix, EVENTS_REDIS_KEY_PREFIX: testKeyPrefix('events'), ...ROOMY_LIMITS });
}, 60_000);

afterAll(async () => {
  await app?.close();
  if (users && users.exitCode === null) {
    users.kill('SIGTERM');
    await new Promise((resolve) => users?.once('exit', resolve));
  }
  await usersDb?.drop();
});

async function call(path: string, init: { method?: string; body?: object; token?: string } = {}) {
  return fetch(`${usersUrl}${path}`, {
    method: init.method ?? 'POST',
    headers: { ...(init.body ? { 'content-type': 'application/json' } : {}), ...(init.token ? bearer(init.token) : {}) },
    body: init.body ? JSON.stringify(init.body) : undefined,
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

describe('order-service with a real user-service', () => {
  it("when a user signs in at user-service, then order-service accepts the token, owns the order by its subject, and refuses it once logged out", async () => {
    const email = `buyer-${Date.now()}@example.com`;
    const registered = await call('/v1/auth/register', { body: { email, password: 'correct horse battery', name: 'Buyer' } });
    expect(registered.status).toBe(201);
    const { id: userId } = (await registered.json()) as { id: string };
    const login = await call('/v1/auth/login', { body: { email, password: 'correct horse battery' } });
    const { accessToken } = (await login.json()) as { accessToken: string };

    const created = await app.inject({ method: 'POST', url: '/v1/orders', headers: bearer(accessToken), payload: { currency: 'EUR', items: [ITEM] } });
    expect(created.statusCode).toBe(201);
    expect(created.json<{ userId: string }>().userId).toBe(userId);

    expect((await call('/v1/auth/logout', { token: accessToken })).status).toBe(204);
    const after = await app.inject({ method: 'GET', url: '/v1/orders', headers: bearer(accessToken) });
    expect(after.statusCode).toBe(401);
    expect(after.json<{ code: string }>().code).toBe('UNAUTHORIZED');
  });
});
