import { randomUUID } from 'node:crypto';
import { Client, type Answer } from '../src/client';
import { topologyFromEnv } from '../src/platform';
import { expectProblem } from '../src/expect';

/**
 * CONTRACT.md, Rate limits, at their defaults (RATE_LIMIT_MAX 100, LOGIN_RATE_LIMIT_MAX 10 per
 * 60 s, LOGIN_FAILURE_MAX 5 per 900 s), exact across however many instances answer.
 *
 * Windows slide: a limit of q per w seconds gives one request back every w/q seconds (GCRA)
 * or later (a sliding log). So "the next one is refused" holds only while less than w/q has
 * passed since the burst began; on a slow machine it may not have. Each test therefore counts
 * the requests admitted beyond the quota and allows no more than the elapsed time has given
 * back: none when the burst was quick, as it is on any ordinary run.
 */
const topology = topologyFromEnv();
const DEFAULT = { q: 100, w: 60 };
const LOGIN = { q: 10, w: 60 };
const LOGIN_FAILURES = { max: 5, windowSeconds: 900 };
const PASSWORD = 'correct horse battery staple';


/** The draft's fields on one answer: the policy's name, its quota and window, what remains and when it is all back. */
function fields(res: Answer): { name: string; q: number; w: number; r: number; t: number } {
  const policy = /^"([^"]+)";q=(\d+);w=(\d+)$/.exec(res.headers.get('ratelimit-policy') ?? '');
  const limit = /^"([^"]+)";r=(\d+);t=(\d+)$/.exec(res.headers.get('ratelimit') ?? '');
  if (!policy || !limit) throw new Error(`no RateLimit-Policy/RateLimit fields in the draft's format on a ${res.status}: ${JSON.stringify([...res.headers])}`);
  expect(limit[1]).toBe(policy[1]);
  return { name: policy[1] as string, q: Number(policy[2]), w: Number(policy[3]), r: Number(limit[2]), t: Number(limit[3]) };
}

/** Quota given back since `startedAt` by a policy of q per w seconds, at most. */
const givenBack = (startedAt: number, { q, w }: { q: number; w: number }) => Math.floor((Date.now() - startedAt) / ((w * 1000) / q));

/**
 * Remaining counts of a burst of q requests from a full quota, highest first: exactly q-1 down
 * to 0 when nothing was given back meanwhile; each at most `back` higher otherwise.
 */
function expectCountdown(remaining: number[], q: number, back: number): void {
  const sorted = [...remaining].sort((a, b) => b - a);
  const lowest = sorted.map((_, i) => q - 1 - i);
  sorted.forEach((r, i) => {
    expect(r).toBeGreaterThanOrEqual(lowest[i] as number);
    expect(r).toBeLessThanOrEqual(Math.min(q - 1, (lowest[i] as number) + back));
  });
}

/**
 * `count` requests, `send(i)` each, a few in flight at a time: on a small machine that ends a
 * burst far sooner than all at once (which queues up in every process) or one after another.
 */
async function burst(count: number, send: (i: number) => Promise<Answer>): Promise<Answer[]> {
  const answers: Answer[] = [];
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < count; i = next++) answers[i] = await send(i);
  };
  await Promise.all(Array.from({ length: Math.min(count, 6) }, lane));
  return answers;
}

/** Sends `next` until a 429 comes back (a few rounds at most); every answer after the burst. */
async function untilRefused(next: () => Promise<Answer[]>): Promise<Answer[]> {
  const after: Answer[] = [];
  for (let round = 0; round < 10 && !after.some((a) => a.status === 429); round++) after.push(...(await next()));
  return after;
}

function expectRateLimited(res: Answer, policy: { name: string; q: number; w: number }): void {
  expectProblem(res, 429, 'RATE_LIMITED');
  const retryAfter = res.headers.get('retry-after') ?? '';
  expect(retryAfter).toMatch(/^\d+$/);
  expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
  expect(Number(retryAfter)).toBeLessThanOrEqual(policy.w);
  expect(fields(res)).toMatchObject({ ...policy, r: 0 });
}

describe('the general limit, per user', () => {
  it('when one user sends exactly RATE_LIMIT_MAX requests over every order instance from two addresses, then all are 200 with a countdown to 0 in RateLimit, and the next is 429 RATE_LIMITED with Retry-After on every instance; another user goes on', async () => {
    const home = new Client(topology);
    const away = new Client(topology);
    const { accessToken: token } = await home.signUp();
    // Connections open and every instance warm (unlimited routes), so the burst is quick.
    await burst(DEFAULT.q, () => home.request('order', 'GET', '/health/live'));
    const startedAt = Date.now();
    const answers = await burst(DEFAULT.q, (i) => (i % 2 ? away : home).request('order', 'GET', '/v1/orders', { token }));
    const backDuringBurst = givenBack(startedAt, DEFAULT);

    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    for (const res of answers) expect(res.body).toEqual({ data: [], nextCursor: null });
    const seen = answers.map(fields);
    for (const f of seen) {
      expect(f).toMatchObject({ name: 'default', q: DEFAULT.q, w: DEFAULT.w });
      expect(f.t).toBeGreaterThanOrEqual(1);
      expect(f.t).toBeLessThanOrEqual(DEFAULT.w);
    }
    expectCountdown(
      seen.map((f) => f.r),
      DEFAULT.q,
      backDuringBurst,
    );

    const after = await untilRefused(() => home.everywhere('order', 'GET', '/v1/orders', { token }));
    const admitted = after.filter((a) => a.status === 200).length;
    expect(admitted).toBeLessThanOrEqual(givenBack(startedAt, DEFAULT));
    const refused = after.filter((a) => a.status !== 200);
    expect(refused.length).toBeGreaterThan(0);
    for (const res of refused) expectRateLimited(res, { name: 'default', ...DEFAULT });

    // The limit is this user's, not the address's: another user from the same address goes on.
    const other = await home.signUp();
    const answer = await home.request('order', 'GET', '/v1/orders', { token: other.accessToken });
    expect(answer.status).toBe(200);
    expect(fields(answer)).toMatchObject({ name: 'default', r: DEFAULT.q - 1 });
  });
});

describe('the general limit, per address', () => {
  it('when one address sends RATE_LIMIT_MAX requests without a token over every user instance, then the next is 429 RATE_LIMITED, and another address goes on', async () => {
    const client = new Client(topology);
    const refresh = (c: Client) => c.answer(c.api().user.POST('/v1/auth/refresh', { body: { refreshToken: randomUUID() } }));
    await burst(DEFAULT.q, () => client.request('user', 'GET', '/health/live'));
    const startedAt = Date.now();
    const answers = await burst(DEFAULT.q, () => refresh(client));
    const backDuringBurst = givenBack(startedAt, DEFAULT);
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 401));
    const seen = answers.map(fields);
    for (const f of seen) expect(f).toMatchObject({ name: 'default', q: DEFAULT.q, w: DEFAULT.w });
    expectCountdown(
      seen.map((f) => f.r),
      DEFAULT.q,
      backDuringBurst,
    );

    const after = await untilRefused(() => client.everywhere('user', 'POST', '/v1/auth/refresh', { body: { refreshToken: randomUUID() } }));
    expect(after.filter((a) => a.status !== 429).length).toBeLessThanOrEqual(givenBack(startedAt, DEFAULT));
    const refused = after.filter((a) => a.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    for (const res of refused) expectRateLimited(res, { name: 'default', ...DEFAULT });

    const elsewhere = await refresh(new Client(topology));
    expect(elsewhere.status).toBe(401);
    expect(fields(elsewhere)).toMatchObject({ name: 'default', r: DEFAULT.q - 1 });
  });
});

describe('POST /v1/auth/login, per address', () => {
  it('when one address logs in LOGIN_RATE_LIMIT_MAX times, then each is 200 under a policy of its own counting down, the next is 429 RATE_LIMITED with Retry-After, and another address still logs in', async () => {
    const client = new Client(topology);
    const email = `e2e-${randomUUID()}@example.test`;
    expect((await client.api().user.POST('/v1/auth/register', { body: { email, password: PASSWORD, name: 'Ada' } })).response.status).toBe(201);
    const login = (c: Client) => c.answer(c.api().user.POST('/v1/auth/login', { body: { email, password: PASSWORD } }));

    const startedAt = Date.now();
    const answers = await burst(LOGIN.q, () => login(client));
    const backDuringBurst = givenBack(startedAt, LOGIN);
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    const seen = answers.map(fields);
    const name = seen[0]?.name as string;
    expect(name).not.toBe('default');
    for (const f of seen) expect(f).toMatchObject({ name, q: LOGIN.q, w: LOGIN.w });
    expectCountdown(
      seen.map((f) => f.r),
      LOGIN.q,
      backDuringBurst,
    );

    const after = await untilRefused(async () => [await login(client)]);
    expect(after.filter((a) => a.status !== 429).length).toBeLessThanOrEqual(givenBack(startedAt, LOGIN));
    const refused = after.filter((a) => a.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    for (const res of refused) expectRateLimited(res, { name, ...LOGIN });

    const elsewhere = await login(new Client(topology));
    expect(elsewhere.status).toBe(200);
    expect(fields(elsewhere)).toMatchObject({ name, r: LOGIN.q - 1 });
  });
});

describe('POST /v1/auth/login, per account', () => {
  it('when an account fails LOGIN_FAILURE_MAX times, then the fifth failure is still 401 and after it even the right password is 429 from any address; another account is not locked', async () => {
    const attacker = new Client(topology);
    const owner = new Client(topology);
    const register = async (email: string) => expect((await owner.api().user.POST('/v1/auth/register', { body: { email, password: PASSWORD, name: 'Ada' } })).response.status).toBe(201);
    const victim = `e2e-${randomUUID()}@example.test`;
    const bystander = `e2e-${randomUUID()}@example.test`;
    await Promise.all([register(victim), register(bystander)]);
    const login = (c: Client, email: string, password: string) => c.answer(c.api().user.POST('/v1/auth/login', { body: { email, password } }));

    const failures: Answer[] = [];
    for (let i = 0; i < LOGIN_FAILURES.max; i++) failures.push(await login(attacker, victim, `wrong password ${i}`));
    for (const res of failures) {
      expectProblem(res, 401, 'INVALID_CREDENTIALS');
      expect(fields(res)).toMatchObject({ q: LOGIN.q, w: LOGIN.w });
    }

    for (const client of [attacker, owner]) {
      const locked = await login(client, victim, PASSWORD);
      expectProblem(locked, 429, 'RATE_LIMITED');
      // Locked by the account's failures, not by the address's quota, which has room left.
      expect(fields(locked)).toMatchObject({ q: LOGIN.q, w: LOGIN.w });
      expect(fields(locked).r).toBeGreaterThan(0);
      const retryAfter = Number(locked.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThan(LOGIN_FAILURES.windowSeconds - 60);
      expect(retryAfter).toBeLessThanOrEqual(LOGIN_FAILURES.windowSeconds);
    }
    expect((await login(owner, bystander, PASSWORD)).status).toBe(200);
  });
});

describe('one budget across the platform', () => {
  it('when one user spends RATE_LIMIT_MAX requests across the three services, then the countdown is one, and the next is 429 on every service', async () => {
    const client = new Client(topology);
    const { accessToken: token } = await client.signUp();
    const services = [
      ['user', '/v1/users/me'],
      ['order', '/v1/orders'],
      ['payment', `/v1/payments?orderId=${randomUUID()}`],
    ] as const;
    await burst(DEFAULT.q, (i) => client.request(services[i % 3]?.[0] ?? 'user', 'GET', '/health/live'));
    const startedAt = Date.now();
    const answers = await burst(DEFAULT.q, (i) => {
      const [service, path] = services[i % 3] ?? services[0];
      return client.request(service, 'GET', path, { token });
    });
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    expectCountdown(answers.map((a) => fields(a).r), DEFAULT.q, givenBack(startedAt, DEFAULT));

    for (const [service, path] of services) {
      const after = await untilRefused(() => client.everywhere(service, 'GET', path, { token }));
      expect(after.filter((a) => a.status === 200).length).toBeLessThanOrEqual(givenBack(startedAt, DEFAULT));
      const refused = after.filter((a) => a.status === 429);
      expect(refused.length).toBeGreaterThan(0);
      for (const res of refused) expectRateLimited(res, { name: 'default', ...DEFAULT });
    }
  });
});

describe('a payment is one request', () => {
  it('when a user pays for an order, then the payment takes one step of the budget: the read of the order payment-service makes for it takes none', async () => {
    const client = new Client(topology);
    const { accessToken: token } = await client.signUp();
    const order = await client.createOrder(token);
    expect(order.status).toBe(201);
    const id = (order.body as { id: string }).id;
    const startedAt = Date.now();
    const before = await client.request('order', 'GET', `/v1/orders/${id}`, { token });
    const paid = await client.pay(token, id);
    const after = await client.request('order', 'GET', `/v1/orders/${id}`, { token });
    expect([before.status, paid.status, after.status]).toEqual([200, 201, 200]);
    // Two requests after `before`: two steps, each at most given back meanwhile.
    const back = givenBack(startedAt, DEFAULT);
    expect(fields(paid).r).toBeGreaterThanOrEqual(fields(before).r - 1);
    expect(fields(after).r).toBeGreaterThanOrEqual(fields(before).r - 2);
    expect(fields(after).r).toBeLessThanOrEqual(fields(before).r - 2 + back);
  });
});

describe('refused tokens', () => {
  it("when a revoked token keeps coming, then each 401 carries the address's fields and counts against the address, not against the user", async () => {
    const thief = new Client(topology);
    const owner = new Client(topology);
    const account = await owner.signUp();
    const stolen = account.accessToken;
    expect((await owner.api(stolen).user.POST('/v1/auth/logout')).response.status).toBe(204);

    const first = await thief.request('order', 'GET', '/v1/orders', { token: stolen });
    expectProblem(first, 401, 'UNAUTHORIZED');
    expect(fields(first)).toMatchObject({ name: 'default', q: DEFAULT.q, r: DEFAULT.q - 1 });
    const second = await thief.answer(thief.api(stolen).payment.GET('/v1/payments', { params: { query: { orderId: randomUUID() } } }));
    expectProblem(second, 401, 'UNAUTHORIZED');
    expect(fields(second).r).toBeLessThan(DEFAULT.q - 1);

    // The owner's budget is whole: the refusals were the thief's address's.
    const { accessToken } = await owner.login(account.email, account.password);
    const own = await owner.request('order', 'GET', '/v1/orders', { token: accessToken });
    expect(own.status).toBe(200);
    expect(fields(own).r).toBeGreaterThanOrEqual(DEFAULT.q - 2);
  });
});
