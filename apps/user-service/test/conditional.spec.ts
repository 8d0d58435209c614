import { createDataSource, initializeDataSource, uuidToBinary } from '@platform/db';
import { keySpace } from '@platform/redis';
import type { App } from '@platform/service-kit';
import { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import { bearer, buildWithDb, login, PASSWORD, signUpAndIn } from './helper';

/** CONTRACT.md, "Conditional requests": ETag and If-None-Match on GET /v1/users/me, If-Match on PATCH. */
let app: App;
let db: DataSource;
let redisKeyPrefix: string;
const redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379');
beforeAll(async () => {
  let databaseUrl: string;
  ({ app, databaseUrl, redisKeyPrefix } = await buildWithDb());
  db = await initializeDataSource(createDataSource({ url: databaseUrl, poolSize: 2, connectTimeoutMs: 5_000 }), {});
});
afterAll(async () => {
  await db?.destroy();
  redis.disconnect();
  await app?.close();
});

const me = (token: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url: '/v1/users/me', headers: { ...bearer(token), ...headers } });
const rename = (token: string, name: string, headers: Record<string, string> = {}) =>
  app.inject({ method: 'PATCH', url: '/v1/users/me', headers: { ...bearer(token), ...headers }, payload: { name } });

async function row(id: string): Promise<{ name: string; version: number }> {
  const rows = (await db.query('SELECT name, version FROM users WHERE id = ?', [uuidToBinary(id)])) as { name: string; version: number }[];
  return { name: String(rows[0]?.name), version: Number(rows[0]?.version) };
}

describe('ETag and If-None-Match on GET /v1/users/me', () => {
  it('when the user reads themselves, then a strong ETag of their id and version, 304 for it, 200 for an older one', async () => {
    const { user, pair } = await signUpAndIn(app);
    const first = await me(pair.accessToken);
    expect(first.headers['etag']).toBe(`"${user.id}.1"`);
    expect(Object.keys(first.json()).sort()).toEqual(['createdAt', 'email', 'id', 'name']);
    const cached = await me(pair.accessToken, { 'if-none-match': `"x", ${first.headers['etag']}`, 'x-request-id': 'me-304' });
    expect([cached.statusCode, cached.body, cached.headers['etag'], cached.headers['x-request-id']]).toEqual([304, '', first.headers['etag'], 'me-304']);
    expect(cached.headers['ratelimit']).toBeDefined();
    expect((await me(pair.accessToken, { 'if-none-match': `"${user.id}.0"` })).statusCode).toBe(200);
  });

  it('when two users share an old version number, then one’s tag is not the other’s', async () => {
    const a = await signUpAndIn(app);
    const b = await signUpAndIn(app);
    const tagA = (await me(a.pair.accessToken)).headers['etag'] as string;
    expect((await me(b.pair.accessToken, { 'if-none-match': tagA })).statusCode).toBe(200);
  });

  it('when the name or the password changes, then the tag changes each time', async () => {
    const { user, pair } = await signUpAndIn(app);
    const tags = [(await me(pair.accessToken)).headers['etag']];
    expect((await rename(pair.accessToken, 'Grace')).statusCode).toBe(200);
    tags.push((await me(pair.accessToken)).headers['etag']);
    const change = await app.inject({
      method: 'POST',
      url: '/v1/users/me/password',
      headers: bearer(pair.accessToken),
      payload: { currentPassword: PASSWORD, newPassword: 'another horse battery' },
    });
    expect(change.statusCode).toBe(204);
    const again = await login(app, user.email, 'another horse battery');
    tags.push((await me(again.accessToken)).headers['etag']);
    expect(tags).toEqual([`"${user.id}.1"`, `"${user.id}.2"`, `"${user.id}.3"`]);
  });

  it('when the cached profile was written without a version, then it is read from MySQL, tagged, and replaced', async () => {
    const { user, pair } = await signUpAndIn(app);
    const entry = keySpace(redisKeyPrefix).cache(`users:${user.id}`).value;
    await redis.set(entry, JSON.stringify({ id: user.id, email: user.email, name: user.name, createdAt: user.createdAt }), 'EX', 60);
    expect((await me(pair.accessToken)).headers['etag']).toBe(`"${user.id}.1"`);
    expect((await me(pair.accessToken)).headers['etag']).toBe(`"${user.id}.1"`);
    expect(JSON.parse((await redis.get(entry)) as string).version).toBe(1);
  });
});

describe('If-Match on PATCH /v1/users/me', () => {
  it('when If-Match is the current tag, then the name changes and the answer carries the new tag, which the next read gives', async () => {
    const { user, pair } = await signUpAndIn(app);
    const tag = (await me(pair.accessToken)).headers['etag'] as string;
    const res = await rename(pair.accessToken, 'Grace', { 'if-match': tag });
    expect([res.statusCode, res.json().name, res.headers['etag']]).toEqual([200, 'Grace', `"${user.id}.2"`]);
    expect((await me(pair.accessToken)).headers['etag']).toBe(res.headers['etag']);
  });

  it('when If-Match is stale, weak or another user’s, then 412 PRECONDITION_FAILED and nothing changes', async () => {
    const { user, pair } = await signUpAndIn(app);
    const other = await signUpAndIn(app);
    for (const header of [`"${user.id}.0"`, `W/"${user.id}.1"`, `"${other.user.id}.1"`]) {
      const res = await rename(pair.accessToken, 'Mallory', { 'if-match': header });
      expect(res.statusCode).toBe(412);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ code: 'PRECONDITION_FAILED', requestId: res.headers['x-request-id'] });
    }
    expect(await row(user.id)).toEqual({ name: user.name, version: 1 });
    expect((await me(pair.accessToken)).json().name).toBe(user.name);
  });

  it('when two renames race with the same If-Match, then exactly one wins and the other is 412', async () => {
    const { user, pair } = await signUpAndIn(app);
    for (let round = 1; round <= 5; round++) {
      const tag = `"${user.id}.${round}"`;
      const answers = await Promise.all([rename(pair.accessToken, `A${round}`, { 'if-match': tag }), rename(pair.accessToken, `B${round}`, { 'if-match': tag })]);
      expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 412]);
      const winner = answers.find((a) => a.statusCode === 200);
      expect(await row(user.id)).toEqual({ name: winner?.json().name, version: round + 1 });
    }
  });

  it('when a rename comes without If-Match or with *, then it applies and bumps the version', async () => {
    const { user, pair } = await signUpAndIn(app);
    expect((await rename(pair.accessToken, 'One')).headers['etag']).toBe(`"${user.id}.2"`);
    expect((await rename(pair.accessToken, 'Two', { 'if-match': '*' })).headers['etag']).toBe(`"${user.id}.3"`);
    expect(await row(user.id)).toEqual({ name: 'Two', version: 3 });
  });
});
