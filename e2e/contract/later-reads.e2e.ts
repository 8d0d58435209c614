import { eventually } from '../src/client';
import { signedUp } from '../src/expect';
import { topologyFromEnv } from '../src/platform';
import { sleep } from '../src/processes';

/**
 * Reads seconds after the user's last write: past read-your-writes' window of a deployment with
 * read replicas (2 x DB_REPLICA_MAX_LAG_MS + 1 s, 3 s by default; ADR 0020), every instance still
 * answers what was written. In the e2e pass with a MySQL replica (E2E_MYSQL_REPLICA) these are the
 * reads the replica serves, and the pass's teardown fails unless each service read from it.
 */
const topology = topologyFromEnv();
const PAST_THE_MARKS_MS = 3_500;

it('when a user reads their profile, orders and payments seconds after their last write, then every instance answers them as written', async () => {
  const c = await signedUp(topology, 'Later Reader');
  const orderId = await c.client.newOrder(c.token);
  const paid = await c.client.pay(c.token, orderId);
  expect(paid.status).toBe(201);
  // PAID once order-service has handled the payment's event: the last change of the user's data.
  expect(await eventually(async () => (await c.client.getOrder(c.token, orderId)).body?.status === 'PAID', 10_000, 100)).toBe(true);
  await sleep(PAST_THE_MARKS_MS);

  const profiles = await c.client.onEvery('user', c.token, (a) => a.user.GET('/v1/users/me'));
  expect(profiles.map((r) => [r.status, r.body?.id, r.body?.name])).toEqual(topology.user.map(() => [200, c.user.id, 'Later Reader']));
  const lists = await c.client.onEvery('order', c.token, (a) => a.order.GET('/v1/orders'));
  for (const list of lists) expect(list.body?.data?.map((o: { id: string; status: string }) => [o.id, o.status])).toEqual([[orderId, 'PAID']]);
  const payments = await c.client.onEvery('payment', c.token, (a) => a.payment.GET('/v1/payments', { params: { query: { orderId } } }));
  for (const list of payments) expect(list.body?.data?.map((p: { id: string; status: string }) => [p.id, p.status])).toEqual([[paid.body.id, 'SUCCEEDED']]);
  const payment = await c.client.onEvery('payment', c.token, (a) => a.payment.GET('/v1/payments/{id}', { params: { path: { id: paid.body.id } } }));
  expect(payment.map((r) => [r.status, r.body?.status])).toEqual(topology.payment.map(() => [200, 'SUCCEEDED']));
});
