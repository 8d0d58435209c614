/**
 * The essential-work reference for a payment: only what paying an order must do, against the same
 * MariaDB, Redis and sandbox provider as the platform, so that the benches can show what the
 * platform's payment costs beyond it. POST /v1/payments (the platform's body, Idempotency-Key
 * required) does:
 *
 * 1. the token check (fast-jwt, EdDSA, user-service's key from its JWKS; verified tokens cached);
 * 2. an idempotency claim: SET <prefix>idem:<user>:<key> NX PX 86400000 (a repeat reads the
 *    payment by its key and answers it, or 409 while the first is in flight; a refusal before the
 *    charge frees the key);
 * 3. the order read: one SELECT of the order in this reference's own schema (not an HTTP call to
 *    order-service): owner, PENDING, amount;
 * 4. one charge at the provider (POST /v1/charges, the payment's id as its Idempotency-Key) over a
 *    keep-alive undici Agent;
 * 5. one transaction: INSERT the payment, INSERT its outbox row;
 * 6. one XADD of the event; a consumer in the same process applies it: one UPDATE of the order,
 *    one DEL of its cache entry, XACK.
 *
 * What it leaves out, and the platform does not: revocation checks, rate limits, per-order locks,
 * recovery of a charge whose answer was lost, the outbox relay's bookkeeping (rows stay), retries.
 *
 * Orders live in its schema too (items as JSON in the order's row), with POST /v1/orders and
 * GET /v1/orders/:id (Redis cache, EX 600) answering as order-service does, so a bench can create
 * the orders it pays and read them. The tables are created at start (CREATE TABLE IF NOT EXISTS)
 * in the database DATABASE_URL names.
 *
 * Settings: PORT, DATABASE_URL, REDIS_URL, JWKS_URL, PAYMENT_GATEWAY_URL, JWT_ISSUER, JWT_AUDIENCE,
 * REFERENCE_KEY_PREFIX (`ref:`). Run: `npx tsx bench/references/essential-payment.ts`.
 */
import { randomUUID } from 'node:crypto';
import { createVerifier } from 'fast-jwt';
import fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import { createPool, type RowDataPacket } from 'mysql2/promise';
import { Agent, request as send } from 'undici';
import { CREATE_ORDER_BODY, notFound, ORDER_ID_PARAMS, required, runUntilSignalled, settings, signingKeyPem, type CreateOrderBody, type OrderView } from './common';

const TABLES = [
  `CREATE TABLE IF NOT EXISTS orders (
    id CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
    user_id CHAR(36) CHARACTER SET ascii NOT NULL,
    status VARCHAR(16) CHARACTER SET ascii NOT NULL,
    currency CHAR(3) CHARACTER SET ascii NOT NULL,
    total_amount BIGINT NOT NULL,
    items JSON NOT NULL,
    created_at DATETIME(3) NOT NULL,
    updated_at DATETIME(3) NOT NULL,
    KEY ix_orders_user_status (user_id, status, id)
  )`,
  `CREATE TABLE IF NOT EXISTS payments (
    id CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
    order_id CHAR(36) CHARACTER SET ascii NOT NULL,
    user_id CHAR(36) CHARACTER SET ascii NOT NULL,
    idempotency_key VARCHAR(255) CHARACTER SET ascii NOT NULL,
    amount BIGINT NOT NULL,
    currency CHAR(3) CHARACTER SET ascii NOT NULL,
    status VARCHAR(16) CHARACTER SET ascii NOT NULL,
    failure_code VARCHAR(32) CHARACTER SET ascii NULL,
    charge_id VARCHAR(64) CHARACTER SET ascii NOT NULL,
    created_at DATETIME(3) NOT NULL,
    UNIQUE KEY uq_payments_key (user_id, idempotency_key)
  )`,
  `CREATE TABLE IF NOT EXISTS outbox (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    type VARCHAR(32) CHARACTER SET ascii NOT NULL,
    payload JSON NOT NULL,
    created_at DATETIME(3) NOT NULL
  )`,
];

const PAY_BODY = {
  type: 'object',
  additionalProperties: false,
  required: ['orderId', 'paymentMethod'],
  properties: {
    orderId: { type: 'string', minLength: 36, maxLength: 36 },
    paymentMethod: {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'token'],
      properties: { type: { const: 'card' }, token: { type: 'string', minLength: 5, maxLength: 64, pattern: '^tok_[A-Za-z0-9_]+$' } },
    },
  },
} as const;

interface PayBody {
  orderId: string;
  paymentMethod: { type: 'card'; token: string };
}

interface PaymentRow {
  id: string;
  order_id: string;
  user_id: string;
  amount: number | string;
  currency: string;
  status: string;
  failure_code: string | null;
  created_at: Date;
}

interface OrderRow {
  id: string;
  user_id: string;
  status: OrderView['status'];
  currency: string;
  total_amount: number | string;
  items: OrderView['items'] | string;
  created_at: Date;
  updated_at: Date;
}

const config = settings();
const gatewayUrl = required('PAYMENT_GATEWAY_URL');
const STREAM = `${config.prefix}stream:payments`;
const GROUP = 'orders';

const pool = createPool({ uri: config.databaseUrl, connectionLimit: 10, timezone: 'Z' });
// The services' Redis options on the request path: auto-pipelining on.
const redis = new Redis(config.redisUrl, { enableAutoPipelining: true, lazyConnect: true });
const consumerRedis = new Redis(config.redisUrl, { lazyConnect: true });
for (const client of [redis, consumerRedis]) client.on('error', (err) => console.error(`essential-payment redis: ${err.message}`));
const provider = new Agent({ connectTimeout: 2_000, headersTimeout: 5_000, bodyTimeout: 5_000 });
const app = fastify();
const cacheKey = (id: string) => `${config.prefix}order:${id}`;
let running = true;
let consumer: Promise<void> | undefined;

function orderView(row: OrderRow): OrderView {
  return {
    id: row.id,
    userId: row.user_id,
    status: row.status,
    currency: row.currency,
    totalAmount: Number(row.total_amount),
    items: typeof row.items === 'string' ? (JSON.parse(row.items) as OrderView['items']) : row.items,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

function paymentView(row: PaymentRow) {
  const at = row.created_at.toISOString();
  return {
    id: row.id,
    orderId: row.order_id,
    userId: row.user_id,
    amount: Number(row.amount),
    currency: row.currency,
    status: row.status,
    failureCode: row.failure_code,
    refundedAmount: 0,
    createdAt: at,
    updatedAt: at,
  };
}

const problem = (reply: FastifyReply, status: number, code: string, detail: string) => reply.code(status).send({ type: 'about:blank', title: code, status, code, detail });

/** The events' consumer: one UPDATE, one DEL, one XACK per payment event. */
async function consume(): Promise<void> {
  while (running) {
    const read = (await consumerRedis.xreadgroup('GROUP', GROUP, 'c1', 'COUNT', 100, 'BLOCK', 500, 'STREAMS', STREAM, '>').catch((err: unknown) => {
      if (running) console.error(err);
      return null;
    })) as [string, [string, string[]][]][] | null;
    for (const [, entries] of read ?? []) {
      for (const [entryId, fields] of entries) {
        const orderId = fields[fields.indexOf('orderId') + 1] as string;
        await pool.execute(`UPDATE orders SET status = 'PAID', updated_at = NOW(3) WHERE id = ? AND status = 'PENDING'`, [orderId]);
        await redis.del(cacheKey(orderId));
        await redis.xack(STREAM, GROUP, entryId);
      }
    }
  }
}

async function start(): Promise<void> {
  const [pem] = await Promise.all([signingKeyPem(config.jwksUrl), redis.connect(), consumerRedis.connect()]);
  for (const sql of TABLES) await pool.query(sql);
  await redis.xgroup('CREATE', STREAM, GROUP, '$', 'MKSTREAM').catch((err: Error) => {
    if (!err.message.includes('BUSYGROUP')) throw err;
  });
  const verify = createVerifier({ key: pem, algorithms: ['EdDSA'], allowedIss: config.issuer, allowedAud: config.audience, cache: true });
  const users = new WeakMap<FastifyRequest, string>();
  const userOf = (request: FastifyRequest) => users.get(request) as string;

  app.addHook('onRequest', async (request, reply) => {
    if (request.url === '/health') return;
    const header = request.headers.authorization;
    try {
      if (!header?.startsWith('Bearer ')) throw new Error('no token');
      users.set(request, ((await verify(header.slice(7))) as { sub: string }).sub);
    } catch {
      return problem(reply, 401, 'UNAUTHORIZED', 'a valid access token is required');
    }
  });

  app.get('/health', async () => ({ status: 'ok' }));

  app.post<{ Body: CreateOrderBody }>('/v1/orders', { schema: { body: CREATE_ORDER_BODY } }, async (request, reply) => {
    const items = request.body.items.map((item) => ({ ...item, lineTotal: item.unitPrice * item.quantity }));
    const now = new Date();
    const row: OrderRow = {
      id: randomUUID(),
      user_id: userOf(request),
      status: 'PENDING',
      currency: request.body.currency,
      total_amount: items.reduce((sum, item) => sum + item.lineTotal, 0),
      items,
      created_at: now,
      updated_at: now,
    };
    await pool.execute('INSERT INTO orders (id, user_id, status, currency, total_amount, items, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [
      row.id,
      row.user_id,
      row.status,
      row.currency,
      row.total_amount,
      JSON.stringify(items),
      now,
      now,
    ]);
    return reply.code(201).header('location', `/v1/orders/${row.id}`).send(orderView(row));
  });

  app.get<{ Params: { id: string } }>('/v1/orders/:id', { schema: { params: ORDER_ID_PARAMS } }, async (request, reply) => {
    const { id } = request.params;
    const cached = await redis.get(cacheKey(id));
    let order: OrderView | undefined;
    if (cached !== null) order = JSON.parse(cached) as OrderView;
    else {
      const [rows] = await pool.execute<(OrderRow & RowDataPacket)[]>('SELECT * FROM orders WHERE id = ?', [id]);
      if (rows[0]) {
        order = orderView(rows[0]);
        await redis.set(cacheKey(id), JSON.stringify(order), 'EX', 600);
      }
    }
    if (!order || order.userId !== userOf(request)) return reply.code(404).send(notFound(id));
    return order;
  });

  app.post<{ Body: PayBody }>('/v1/payments', { schema: { body: PAY_BODY } }, async (request, reply) => {
    const userId = userOf(request);
    const key = request.headers['idempotency-key'];
    if (typeof key !== 'string' || !/^[\x21-\x7E]{1,255}$/.test(key)) return problem(reply, 400, 'IDEMPOTENCY_KEY_REQUIRED', 'Idempotency-Key is required');
    const paymentId = randomUUID();
    const claim = `${config.prefix}idem:${userId}:${key}`;
    const claimed = await redis.set(claim, paymentId, 'PX', 86_400_000, 'NX');
    if (claimed === null) {
      const [rows] = await pool.execute<(PaymentRow & RowDataPacket)[]>('SELECT * FROM payments WHERE user_id = ? AND idempotency_key = ?', [userId, key]);
      return rows[0] ? reply.code(201).send(paymentView(rows[0])) : problem(reply, 409, 'IDEMPOTENCY_KEY_IN_USE', 'the first request with this key is still running');
    }
    const [orders] = await pool.execute<(OrderRow & RowDataPacket)[]>('SELECT id, user_id, status, currency, total_amount FROM orders WHERE id = ?', [request.body.orderId]);
    const order = orders[0];
    // A refusal before any charge frees the key (off the hot path), so that a retry is served afresh.
    if (!order || order.user_id !== userId) return redis.del(claim).then(() => reply.code(404).send(notFound(request.body.orderId)));
    if (order.status !== 'PENDING') return redis.del(claim).then(() => problem(reply, 409, 'ORDER_NOT_PAYABLE', `the order is ${order.status}`));
    const amount = Number(order.total_amount);

    const res = await send(new URL('/v1/charges', gatewayUrl), {
      dispatcher: provider,
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': paymentId },
      body: JSON.stringify({ amount, currency: order.currency, token: request.body.paymentMethod.token, orderId: order.id, reference: paymentId }),
    });
    const charge = (await res.body.json()) as { id?: string; charge?: { id: string }; failureCode?: string | null };
    if (res.statusCode !== 201 && res.statusCode !== 402) return problem(reply, 502, 'GATEWAY_ERROR', `the provider answered ${res.statusCode}`);
    const succeeded = res.statusCode === 201;
    const row: PaymentRow = {
      id: paymentId,
      order_id: order.id,
      user_id: userId,
      amount,
      currency: order.currency,
      status: succeeded ? 'SUCCEEDED' : 'FAILED',
      failure_code: succeeded ? null : (charge.charge as { failureCode?: string } | undefined)?.failureCode ?? 'CARD_DECLINED',
      created_at: new Date(),
    };
    const chargeId = charge.id ?? charge.charge?.id ?? '';
    const event = { type: succeeded ? 'payment.succeeded' : 'payment.failed', paymentId, orderId: order.id };
    const conn = await pool.getConnection();
    try {
      await conn.beginTransaction();
      await conn.execute(
        'INSERT INTO payments (id, order_id, user_id, idempotency_key, amount, currency, status, failure_code, charge_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [row.id, row.order_id, row.user_id, key, amount, row.currency, row.status, row.failure_code, chargeId, row.created_at],
      );
      await conn.execute('INSERT INTO outbox (type, payload, created_at) VALUES (?, ?, ?)', [event.type, JSON.stringify(event), row.created_at]);
      await conn.commit();
    } catch (err) {
      await conn.rollback();
      throw err;
    } finally {
      conn.release();
    }
    if (succeeded) await redis.xadd(STREAM, '*', 'type', event.type, 'paymentId', paymentId, 'orderId', order.id);
    return reply.code(201).send(paymentView(row));
  });

  consumer = consume();
  await app.listen({ port: config.port, host: '127.0.0.1' });
}

runUntilSignalled(start, async () => {
  running = false;
  await app.close();
  await consumer;
  await Promise.allSettled([pool.end(), redis.quit(), consumerRedis.quit(), provider.close()]);
});
