import type { Client } from '../src/client';
import type { Platform } from '../src/platform';
import { sleep } from '../src/processes';
import { assertInvariants, inParallel, ordersToPay, payWithRetries, report, startChaosPlatform, stopChaosPlatform } from './support';

let platform: Platform;
let client: Client;

beforeAll(async () => {
  ({ platform, client } = await startChaosPlatform({ instances: 3 }));
}, 120_000);

afterAll(() => stopChaosPlatform(platform));

it('when an order-service instance is SIGKILLed while payment events stream in, then another instance handles its events and every paid order is PAID', async () => {
  const tracked = await ordersToPay(client, 90);
  const before = client.sent;
  const victim = platform.processes['order-service'][0];
  if (!victim) throw new Error('no order-service instance');
  let killedAt = 0;
  let paid = 0;
  let third = () => undefined as void;
  const fault = (async () => {
    // Once a third of the orders are paid: the kill lands while events stream in.
    await new Promise<void>((resolve) => (third = resolve));
    await victim.kill();
    killedAt = Date.now();
    // An orchestrator starts a replacement a little later; it joins the group under a new name.
    await sleep(3_000);
    await victim.start();
  })();
  const outcomes = await inParallel(tracked, 8, async (t) => {
    const outcome = await payWithRetries(client, t);
    if (++paid >= tracked.length / 3) third();
    return outcome;
  });
  third();
  await fault;
  expect(outcomes.filter((o) => o.status !== 201)).toEqual([]);
  const { doubleCharges, lostEvents } = await assertInvariants(platform, client, tracked);
  const recoverySeconds = (Date.now() - killedAt) / 1_000;
  report({
    scenario: 'SIGKILL order-service during payment events',
    requests: client.sent - before,
    faults: 1,
    doubleCharges,
    lostEvents,
    recoverySeconds,
    note: `${tracked.length} orders paid over 3 order-service instances; seconds from the kill until every order was checked settled`,
  });
});
