import { randomUUID } from 'node:crypto';
import type { Client } from '../src/client';
import type { Platform } from '../src/platform';
import { sleep } from '../src/processes';
import { assertInvariants, ordersToPay, report, startChaosPlatform, stopChaosPlatform } from './support';

let platform: Platform;
let client: Client;

beforeAll(async () => {
  // The provider takes 1.5 s per charge, so a kill 0.6 s into the call lands while it is charging.
  ({ platform, client } = await startChaosPlatform({ instances: 2, appEnv: { 'gateway-sandbox': { GATEWAY_LATENCY_MS: '1500' } } }));
}, 120_000);

afterAll(() => stopChaosPlatform(platform));

it('when the payment-service instance handling a payment is SIGKILLed while the provider charges, then the client retry with the same key gets 201 for the one charge', async () => {
  const tracked = await ordersToPay(client, 3);
  const before = client.sent;
  const victim = platform.processes['payment-service'][0];
  if (!victim) throw new Error('no payment-service instance');
  const recoveries: number[] = [];
  for (const t of tracked) {
    const key = randomUUID();
    const first = client.pay(t.token, t.orderId, key, 'tok_visa', { instance: 0 }).then(
      (res) => res.status,
      () => 0,
    );
    await sleep(600);
    await victim.kill();
    const killedAt = Date.now();
    expect(await first).toBe(0);
    const restarted = victim.start();
    // The client's retry, same key, to whichever instance answers (the other one at first);
    // a refused connection (the killed instance, until it is back) is retried too.
    const retry = (instance?: number) => client.pay(t.token, t.orderId, key, 'tok_visa', { instance }).catch(() => undefined);
    const seen: number[] = [];
    let answer = await retry(1);
    while (answer?.status !== 201 && Date.now() - killedAt < 60_000) {
      if (answer) seen.push(answer.status);
      await sleep(Math.min(Number(answer?.headers.get('retry-after') ?? 1) * 1_000, 1_000));
      answer = await retry();
    }
    expect(seen.filter((status) => ![409, 502, 503].includes(status))).toEqual([]);
    recoveries.push((Date.now() - killedAt) / 1_000);
    expect(answer?.status).toBe(201);
    expect(answer?.body).toMatchObject({ orderId: t.orderId, status: 'SUCCEEDED' });
    const charges = await client.charges(t.orderId);
    expect(charges.filter((c) => c.status === 'succeeded')).toHaveLength(1);
    await restarted;
  }
  const { doubleCharges, lostEvents } = await assertInvariants(platform, client, tracked);
  report({
    scenario: 'SIGKILL payment-service while charging, then retry',
    requests: client.sent - before,
    faults: tracked.length,
    doubleCharges,
    lostEvents,
    recoverySeconds: Math.max(...recoveries),
    note: `the retry's 201 came ${recoveries.map((r) => r.toFixed(1)).join(' / ')} s after each kill`,
  });
});
