import { Client, type Account, type Answer } from '../src/client';
import { topologyFromEnv } from '../src/platform';
import { expectProblem } from '../src/expect';

/**
 * CONTRACT.md, Authentication (`/v1/users/me`) and Caching: the signed-in user's own account
 * over HTTP, and a client never reading its own change stale, whichever instance answers.
 */
const topology = topologyFromEnv();


const paths = (res: Answer): string[] => (res.body?.errors ?? []).map((e: { path: string }) => e.path);

/** A new account on a client of its own, and the user as the contract shows it. */
async function signedUp(name = 'Ada Lovelace') {
  const client = new Client(topology);
  const account: Account = await client.signUp(name);
  const me = await client.answer(client.api(account.accessToken).user.GET('/v1/users/me'));
  expect(me.status).toBe(200);
  return { client, account, token: account.accessToken, user: me.body as { id: string; email: string; name: string; createdAt: string } };
}

const readEverywhere = (client: Client, token: string) => client.onEvery('user', token, (api) => api.user.GET('/v1/users/me'));
const rename = (client: Client, token: string, body: unknown, instance?: number) => client.request('user', 'PATCH', '/v1/users/me', { token, body, instance });

describe('GET /v1/users/me', () => {
  it('when signed in, then 200 with exactly the user on every instance', async () => {
    const { client, account, token, user } = await signedUp('Grace Hopper');
    expect(user).toEqual({ id: account.id, email: account.email, name: 'Grace Hopper', createdAt: expect.any(String) });
    expect(new Date(user.createdAt).toISOString()).toBe(user.createdAt);
    for (const res of await readEverywhere(client, token)) {
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect([res.status, res.body]).toEqual([200, user]);
    }
  });

  it.each([
    ['no Authorization header', {}],
    ['a Basic credential', { authorization: 'Basic dXNlcjpwYXNz' }],
    ['Bearer and no token', { authorization: 'Bearer' }],
    ['a Bearer token that is no JWT', { authorization: 'Bearer not.a.jwt' }],
  ])('when it has %s, then 401 UNAUTHORIZED with a Bearer challenge', async (_case, headers) => {
    const res = await new Client(topology).request('user', 'GET', '/v1/users/me', { headers });
    expectProblem(res, 401, 'UNAUTHORIZED');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer\b/);
  });
});

describe('PATCH /v1/users/me', () => {
  it('when the name changes, then 200 with the user under the new name, nothing else changed', async () => {
    const { client, token, user } = await signedUp();
    const name = "O'Brien; DROP TABLE users; -- 名前 😀";
    const res = await rename(client, token, { name });
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect([res.status, res.body]).toEqual([200, { ...user, name }]);
  });

  it('when the name has 1 or 100 characters (unicode counted as characters), then 200', async () => {
    const { client, token, user } = await signedUp();
    for (const name of ['x', `${'é'.repeat(99)}😀`]) {
      const res = await rename(client, token, { name });
      expect([res.status, res.body]).toEqual([200, { ...user, name }]);
    }
  });

  it.each([
    ['an empty name', { name: '' }, 'body/name'],
    ['a name of 101 characters', { name: 'n'.repeat(101) }, 'body/name'],
    ['a number for a name', { name: 42 }, 'body/name'],
    ['no name', {}, 'body/name'],
    ['an undeclared email', { name: 'Eve', email: 'eve@example.test' }, 'body/email'],
    ['an undeclared id', { name: 'Eve', id: '0190a000-0000-7000-8000-000000000000' }, 'body/id'],
  ])('when the body has %s, then 400 VALIDATION_FAILED naming the field, and the user is unchanged', async (_case, body, path) => {
    const { client, token, user } = await signedUp();
    const res = await rename(client, token, body);
    expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(paths(res)).toContain(path);
    for (const read of await readEverywhere(client, token)) expect([read.status, read.body]).toEqual([200, user]);
  });

  it('when not signed in, then 401 UNAUTHORIZED with a Bearer challenge', async () => {
    const res = await rename(new Client(topology), '', { name: 'Mallory' });
    expectProblem(res, 401, 'UNAUTHORIZED');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer\b/);
  });

  it('when one instance answers a rename, then a read right after on every instance at once shows the new name (caches warmed before, each instance in turn)', async () => {
    const { client, token, user } = await signedUp();
    const instances = client.instances('user').length;
    for (let round = 0; round < Math.max(3, instances); round++) {
      // Every instance has read (and may have cached) the current name.
      await readEverywhere(client, token);
      const name = `Name ${round}`;
      const renamed = await rename(client, token, { name }, round % instances);
      expect([renamed.status, renamed.body]).toEqual([200, { ...user, name }]);
      const reads = await readEverywhere(client, token);
      expect(reads.map((r) => [r.status, r.body?.name])).toEqual(reads.map(() => [200, name]));
    }
  });
});
