import { migrateUrl, uuidToBinary } from '@platform/db';
import { migrations } from '@platform/migrations/payment-service';
import { keySpace, type RedisClient } from '@platform/redis';
import { testRedis } from '@platform/redis/testing';
import { bearer, eventually, startReplicatedMariadb, type ReplicatedMariadb } from '@platform/testing';
import { buildWorld, card, pay, placeOrder, refund, type PaymentJson, type World } from './helper';

/*
 * payment-service over a real MariaDB primary and replica (binlog + GTID), with order-service and
 * the sandbox as real processes: the user's payment reads go to the replica, except right after
 * the user paid or refunded; nothing that decides a charge or a refund reads it.
 */
const MAX_LAG_MS = 2_000;

let pair: ReplicatedMariadb;
let w: World;
let redis: RedisClient;
let schema: string;

beforeAll(async () => {
  pair = await startReplicatedMariadb();
  const db = await pair.createDatabase('payment_replicas');
  schema = db.name;
  await migrateUrl(db.primaryUrl, migrations);
  await pair.caughtUp();
  redis = await testRedis();
  w = await buildWorld({ env: { DATABASE_URL: db.primaryUrl, DATABASE_REPLICA_URLS: db.replicaUrl, DB_REPLICA_MAX_LAG_MS: String(MAX_LAG_MS) } });
}, 180_000);

afterAll(async () => {
  await w?.close();
  await redis?.quit();
  await pair?.stop();
});

async function metrics(): Promise<{ lagMs: number; reads: Record<string, number> }> {
  const text = (await w.app.inject({ method: 'GET', url: '/metrics' })).body;
  const lag = /^db_replica_lag_seconds\{[^}]*\} (\S+)$/m.exec(text)?.[1];
  const reads: Record<string, number> = {};
  for (const [, labels = '', n] of text.matchAll(/^db_reads_total\{([^}]*)\} (\d+)$/gm)) {
    reads[`${/source="(\w+)"/.exec(labels)?.[1]}:${/reason="([\w-]+)"/.exec(labels)?.[1]}`] = Number(n);
  }
  return { lagMs: lag === undefined || lag === '+Inf' ? Infinity : Number(lag) * 1000, reads };
}
const count = (m: { reads: Record<string, number> }, k: string) => m.reads[k] ?? 0;
const get = (url: string, token: string) => w.app.inject({ method: 'GET', url, headers: bearer(token) });
const refundedOnReplica = async (id: string) =>
  (await pair.replica.query<{ refunded_amount: string }>('SELECT refunded_amount FROM payments WHERE id = ?', [uuidToBinary(id)], schema))[0]?.refunded_amount;
const forgetWrites = (userId: string) => redis.del(keySpace(w.env['AUTH_REDIS_KEY_PREFIX'] ?? '').wrote(userId));

async function paidOrder(token: string): Promise<PaymentJson> {
  const order = await placeOrder(w, token);
  const res = await pay(w.app, token, { orderId: order.id, paymentMethod: card() });
  expect(res.statusCode).toBe(201);
  return res.json<PaymentJson>();
}

beforeEach(async () => {
  await pair.caughtUp();
  expect(await eventually(async () => (await metrics()).lagMs < MAX_LAG_MS / 4, 20_000, 50)).toBe(true);
});

it('when a user who wrote nothing lately reads a payment and an order’s payments, then the replica answers', async () => {
  const { userId, token } = w.tokenFor();
  const payment = await paidOrder(token);
  await pair.caughtUp();
  await forgetWrites(userId);
  const before = await metrics();
  expect((await get(`/v1/payments/${payment.id}`, token)).json()).toMatchObject({ id: payment.id, status: 'SUCCEEDED' });
  expect((await get(`/v1/payments?orderId=${payment.orderId}`, token)).json<{ data: PaymentJson[] }>().data.map((p) => p.id)).toEqual([payment.id]);
  expect(count(await metrics(), 'replica:fresh') - count(before, 'replica:fresh')).toBe(2);
});

describe('when the replica stops applying (lag injected)', () => {
  afterEach(() => pair.resumeApplying());

  it('then a user who just paid or refunded reads their payments as they now are, from the primary', async () => {
    const { userId, token } = w.tokenFor();
    const refunded = await paidOrder(token);
    await pair.caughtUp();
    await forgetWrites(userId);
    await pair.stopApplying();

    expect((await refund(w.app, token, refunded.id)).statusCode).toBe(201);
    const paid = await paidOrder(token);
    const before = await metrics();
    expect(before.lagMs).toBeLessThan(MAX_LAG_MS);
    // The replica still says nothing was refunded, and knows nothing of the new payment.
    expect(Number(await refundedOnReplica(refunded.id))).toBe(0);
    expect(await refundedOnReplica(paid.id)).toBeUndefined();
    expect((await get(`/v1/payments/${refunded.id}`, token)).json()).toMatchObject({ status: 'REFUNDED', refundedAmount: refunded.amount });
    expect((await get(`/v1/payments?orderId=${refunded.orderId}`, token)).json<{ data: PaymentJson[] }>().data).toMatchObject([{ id: refunded.id, status: 'REFUNDED' }]);
    expect((await get(`/v1/payments?orderId=${paid.orderId}`, token)).json<{ data: PaymentJson[] }>().data.map((p) => p.id)).toEqual([paid.id]);
    const after = await metrics();
    expect(after.lagMs).toBeLessThan(MAX_LAG_MS);
    expect(count(after, 'primary:wrote') - count(before, 'primary:wrote')).toBe(3);
    expect(count(after, 'replica:fresh') - count(before, 'replica:fresh')).toBe(0);
  });
});
