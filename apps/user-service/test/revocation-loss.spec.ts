import { keySpace } from '@platform/redis';
import type { App } from '@platform/service-kit';
import Redis from 'ioredis';
import { bearer, buildWithDb, login, me, PASSWORD, register, signUpAndIn } from './helper';

/**
 * Redis losing its data (FLUSHALL, a restart without persistence) takes every revocation mark
 * with it. user-service writes them back from MySQL's sessions, so a token revoked before the
 * loss stays revoked after it.
 */
let app: App;
let authKeyPrefix: string;
let redis: Redis;

beforeAll(async () => {
  ({ app, authKeyPrefix } = await buildWithDb());
  await app.ready();
  redis = new Redis(process.env['REDIS_URL'] as string);
});
afterAll(async () => {
  await app.close();
  redis.disconnect();
});

/** Every key under the shared auth prefix: what a FLUSHALL does to them. */
async function loseAuthKeys(): Promise<number> {
  const keys = await redis.keys(`${authKeyPrefix}*`);
  return keys.length === 0 ? 0 : redis.del(...keys);
}

const markerPresent = async () => (await redis.exists(keySpace(authKeyPrefix).revocationMarker())) === 1;

async function statusWithin(token: string, wanted: number, ms: number): Promise<number> {
  const deadline = Date.now() + ms;
  let status = (await me(app, token)).statusCode;
  while (status !== wanted && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    status = (await me(app, token)).statusCode;
  }
  return status;
}

it('when Redis loses the marks of a logout, a logout-all and a password change, then user-service writes them back and the tokens stay refused; live tokens still pass', async () => {
  const loggedOut = await signUpAndIn(app);
  expect((await app.inject({ method: 'POST', url: '/v1/auth/logout', headers: bearer(loggedOut.pair.accessToken) })).statusCode).toBe(204);
  const everywhere = await signUpAndIn(app);
  expect((await app.inject({ method: 'POST', url: '/v1/auth/logout-all', headers: bearer(everywhere.pair.accessToken) })).statusCode).toBe(204);
  const changed = await signUpAndIn(app);
  const change = { currentPassword: PASSWORD, newPassword: 'another horse battery' };
  expect((await app.inject({ method: 'POST', url: '/v1/users/me/password', headers: bearer(changed.pair.accessToken), payload: change })).statusCode).toBe(204);
  const live = await login(app, (await register(app)).email);
  const revoked = [loggedOut.pair.accessToken, everywhere.pair.accessToken, changed.pair.accessToken];
  for (const token of revoked) expect((await me(app, token)).statusCode).toBe(401);
  // The keeper has marked this Redis once the app is up.
  expect(await statusWithin(live.accessToken, 200, 2_000)).toBe(200);
  expect(await markerPresent()).toBe(true);

  expect(await loseAuthKeys()).toBeGreaterThan(0);

  expect(await markerPresent()).toBe(false);
  for (const token of revoked) expect(await statusWithin(token, 401, 5_000)).toBe(401);
  expect(await markerPresent()).toBe(true);
  expect((await me(app, live.accessToken)).statusCode).toBe(200);
});

it('when Redis fails over and the promoted replica lacks a logout mark but holds the old primary marker, then the token is never accepted and user-service writes the marks back', async () => {
  const loggedOut = await signUpAndIn(app);
  expect((await app.inject({ method: 'POST', url: '/v1/auth/logout', headers: bearer(loggedOut.pair.accessToken) })).statusCode).toBe(204);
  expect(await statusWithin(loggedOut.pair.accessToken, 401, 2_000)).toBe(401);
  const markerKey = keySpace(authKeyPrefix).revocationMarker();
  const primaryId = await redis.get(markerKey);
  expect(primaryId).toMatch(/^[0-9a-f]{40}$/);
  // The instance's watcher has seen this primary's marker (it looks every 250 ms): only a marker
  // once seen makes a later mismatch count as a loss (a new Redis has none yet).
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  // What a promoted replica holds: the marks minus the last ones, and the marker naming the old primary.
  expect(await loseAuthKeys()).toBeGreaterThan(0);
  await redis.set(markerKey, 'f'.repeat(40), 'EX', 600);

  const seen: number[] = [];
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline && seen.at(-1) !== 401) {
    seen.push((await me(app, loggedOut.pair.accessToken)).statusCode);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect(seen.filter((status) => status !== 503 && status !== 401)).toEqual([]);
  expect(seen.at(-1)).toBe(401);
  expect(await redis.get(markerKey)).toBe(primaryId);
});
