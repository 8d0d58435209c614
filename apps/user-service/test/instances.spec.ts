import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { App } from '@platform/service-kit';
import { eventually } from '@platform/testing';
import { PASSWORD, ROOMY_LIMITS, buildWithDb, newEmail } from './helper';

/**
 * Two user-service instances as two real processes: this test's app, and a second one
 * started from the same sources on the same schema and Redis. Both sign with the one
 * development key the first made, and a revocation through either is seen by both.
 */
const root = join(__dirname, '../../..');
let a: App;
let urlA: string;
let b: ChildProcess;
let urlB: string;
const output: string[] = [];

beforeAll(async () => {
  const built = await buildWithDb();
  a = built.app;
  urlA = await a.listen({ port: 0, host: '127.0.0.1' });
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  urlB = `http://127.0.0.1:${port}`;
  b = spawn(process.execPath, [require.resolve('tsx/cli'), 'apps/user-service/src/main.ts'], {
    cwd: root,
    env: {
      ...process.env,
      ...ROOMY_LIMITS,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      DATABASE_URL: built.databaseUrl,
      REDIS_KEY_PREFIX: built.redisKeyPrefix,
      AUTH_REDIS_KEY_PREFIX: built.authKeyPrefix,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [b.stdout, b.stderr]) stream?.on('data', (d: Buffer) => output.push(d.toString()));
  const up = await eventually(async () => (await fetch(`${urlB}/health/ready`).catch(() => undefined))?.status === 200, 25_000, 200);
  if (!up) throw new Error(`second instance did not become ready:\n${output.join('')}`);
}, 40_000);

afterAll(async () => {
  b?.kill('SIGTERM');
  await new Promise((resolve) => (b.exitCode === null ? b.once('exit', resolve) : resolve(null)));
  await a?.close();
});

const post = (url: string, path: string, body?: object, token?: string) =>
  fetch(`${url}${path}`, {
    method: 'POST',
    headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
const meStatus = async (url: string, token: string) => (await fetch(`${url}/v1/users/me`, { headers: { authorization: `Bearer ${token}` } })).status;

async function signIn(url: string) {
  const email = newEmail();
  expect((await post(url, '/v1/auth/register', { email, password: PASSWORD, name: 'Two' })).status).toBe(201);
  const res = await post(url, '/v1/auth/login', { email, password: PASSWORD });
  expect(res.status).toBe(200);
  return { email, ...((await res.json()) as { accessToken: string; refreshToken: string }) };
}

describe('two user-service processes', () => {
  it('when either instance signs a token, then both accept it: they share the development key', async () => {
    const fromB = await signIn(urlB);
    const fromA = await signIn(urlA);
    for (const url of [urlA, urlB]) for (const t of [fromA, fromB]) expect(await meStatus(url, t.accessToken)).toBe(200);
    const [jwksA, jwksB] = await Promise.all([urlA, urlB].map(async (u) => (await fetch(`${u}/.well-known/jwks.json`)).json()));
    expect(jwksA).toEqual(jwksB);
  });

  it('when a token is revoked through one process, then both refuse it before the 204 is even read', async () => {
    const pair = await signIn(urlB);
    expect((await post(urlA, '/v1/auth/logout', undefined, pair.accessToken)).status).toBe(204);
    expect(await meStatus(urlB, pair.accessToken)).toBe(401);
    expect(await meStatus(urlA, pair.accessToken)).toBe(401);
  });

  it('when a user logs out everywhere through one process, then the other refuses every earlier token, and a login right after works on both', async () => {
    const pair = await signIn(urlA);
    expect((await post(urlB, '/v1/auth/logout-all', undefined, pair.accessToken)).status).toBe(204);
    expect(await meStatus(urlA, pair.accessToken)).toBe(401);
    expect(await meStatus(urlB, pair.accessToken)).toBe(401);
    for (const url of [urlA, urlB]) {
      const again = await post(url, '/v1/auth/login', { email: pair.email, password: PASSWORD });
      expect(again.status).toBe(200);
      const { accessToken } = (await again.json()) as { accessToken: string };
      expect(await meStatus(urlA, accessToken)).toBe(200);
      expect(await meStatus(urlB, accessToken)).toBe(200);
    }
  });

  it('when the second process has logged all of this, then its log holds no password and no token', async () => {
    const email = newEmail();
    await post(urlB, '/v1/auth/register', { email, password: PASSWORD, name: 'Logged' });
    const res = await post(urlB, '/v1/auth/login', { email, password: PASSWORD });
    const pair = (await res.json()) as { accessToken: string; refreshToken: string };
    await post(urlB, '/v1/auth/refresh', { refreshToken: pair.refreshToken });
    await fetch(`${urlB}/v1/users/me`, { headers: { authorization: `Bearer ${pair.accessToken}` } });
    await post(urlB, '/v1/auth/login', { email, password: 'a wrong password' });
    await new Promise((r) => setTimeout(r, 200));
    const log = output.join('');
    expect(log).toContain('"requestId"');
    for (const secret of [PASSWORD, 'a wrong password', pair.accessToken, pair.refreshToken, pair.accessToken.split('.')[2] as string]) {
      expect(log).not.toContain(secret);
    }
    expect(log).not.toMatch(/\$argon2/);
  });
});
