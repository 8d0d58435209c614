/**
 * The usual recipe: what a team would write for order-service's two hot routes with the usual
 * parts, so that the benches can show what the platform is worth against it. A Fastify 5 app with
 * @fastify/jwt verifying every token (EdDSA, user-service's key from its JWKS, fetched at start),
 * @fastify/rate-limit on its Redis store (per user, after the token check), an ioredis cache of
 * GET /v1/orders/:id (the order's JSON, EX 600, owner checked on every read) and TypeORM entities
 * Order and OrderItem, saved with `save()` and a cascade, on a schema of its own (DATABASE_URL
 * names an existing, empty database; `synchronize` creates the tables).
 *
 * Same bodies and answers as order-service's POST /v1/orders and GET /v1/orders/:id (201 with
 * Location; 200; 404 NOT_FOUND for another user's order or none), so the same load runs on both.
 *
 * `REFERENCE_TUNED=1` turns on the two switches a careful team would find: fast-jwt's token cache
 * (`verify: { cache: true }`) and ioredis' `enableAutoPipelining`.
 *
 * Settings: PORT, DATABASE_URL, REDIS_URL, JWKS_URL, JWT_ISSUER, JWT_AUDIENCE,
 * REFERENCE_KEY_PREFIX (`ref:`), RATE_LIMIT_MAX (1,000,000,000 per minute: it runs, never refuses),
 * REFERENCE_TUNED. Run: `npx tsx bench/references/usual-recipe.ts`.
 */
import fastifyJwt from '@fastify/jwt';
import rateLimit from '@fastify/rate-limit';
import fastify, { type FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import { DataSource, EntitySchema } from 'typeorm';
import { CREATE_ORDER_BODY, notFound, ORDER_ID_PARAMS, runUntilSignalled, settings, signingKeyPem, type CreateOrderBody, type OrderView } from './common';

interface Order {
  id: string;
  userId: string;
  status: OrderView['status'];
  currency: string;
  totalAmount: number;
  items: OrderItem[];
  createdAt: Date;
  updatedAt: Date;
}

interface OrderItem {
  id: number;
  sku: string;
  name: string;
  unitPrice: number;
  quantity: number;
  lineTotal: number;
  order?: Order;
}

const OrderEntity = new EntitySchema<Order>({
  name: 'Order',
  tableName: 'orders',
  columns: {
    id: { type: 'char', length: 36, primary: true, generated: 'uuid' },
    userId: { type: 'char', length: 36, name: 'user_id' },
    status: { type: 'varchar', length: 16 },
    currency: { type: 'char', length: 3 },
    totalAmount: { type: 'bigint', name: 'total_amount', transformer: { to: (v: number) => v, from: (v: string | number) => Number(v) } },
    createdAt: { type: 'datetime', precision: 3, name: 'created_at', createDate: true },
    updatedAt: { type: 'datetime', precision: 3, name: 'updated_at', updateDate: true },
  },
  indices: [{ name: 'ix_orders_user', columns: ['userId'] }],
  relations: { items: { type: 'one-to-many', target: 'OrderItem', inverseSide: 'order', cascade: true } },
});

const OrderItemEntity = new EntitySchema<OrderItem>({
  name: 'OrderItem',
  tableName: 'order_items',
  columns: {
    id: { type: 'int', primary: true, generated: 'increment' },
    sku: { type: 'varchar', length: 64 },
    name: { type: 'varchar', length: 200 },
    unitPrice: { type: 'int', name: 'unit_price' },
    quantity: { type: 'int' },
    lineTotal: { type: 'bigint', name: 'line_total', transformer: { to: (v: number) => v, from: (v: string | number) => Number(v) } },
  },
  relations: { order: { type: 'many-to-one', target: 'Order', inverseSide: 'items', joinColumn: { name: 'order_id' }, onDelete: 'CASCADE' } },
});

function view(order: Order): OrderView {
  return {
    id: order.id,
    userId: order.userId,
    status: order.status,
    currency: order.currency,
    totalAmount: order.totalAmount,
    items: order.items.map(({ sku, name, unitPrice, quantity, lineTotal }) => ({ sku, name, unitPrice, quantity, lineTotal })),
    createdAt: order.createdAt.toISOString(),
    updatedAt: order.updatedAt.toISOString(),
  };
}

const config = settings();
const tuned = process.env['REFERENCE_TUNED'] === '1';
const rateLimitMax = Number(process.env['RATE_LIMIT_MAX'] ?? 1_000_000_000);

const db = new DataSource({ type: 'mysql', url: config.databaseUrl, entities: [OrderEntity, OrderItemEntity], synchronize: true, logging: false });
const redis = new Redis(config.redisUrl, { enableAutoPipelining: tuned, lazyConnect: true });
redis.on('error', (err) => console.error(`usual-recipe redis: ${err.message}`));
const app = fastify();
const cacheKey = (id: string) => `${config.prefix}order:${id}`;
const userOf = (request: FastifyRequest) => (request.user as { sub: string }).sub;

async function start(): Promise<void> {
  const [pem] = await Promise.all([signingKeyPem(config.jwksUrl), db.initialize(), redis.connect()]);
  await app.register(fastifyJwt, {
    secret: { public: pem },
    verify: { algorithms: ['EdDSA'], allowedIss: config.issuer, allowedAud: config.audience, cache: tuned },
  });
  app.addHook('onRequest', async (request) => {
    if (request.url !== '/health') await request.jwtVerify();
  });
  await app.register(rateLimit, {
    hook: 'preHandler',
    max: rateLimitMax,
    timeWindow: 60_000,
    redis,
    nameSpace: `${config.prefix}rl:`,
    keyGenerator: userOf,
  });
  const orders = db.getRepository(OrderEntity);

  app.get('/health', { config: { rateLimit: false } }, async () => ({ status: 'ok' }));

  app.post<{ Body: CreateOrderBody }>('/v1/orders', { schema: { body: CREATE_ORDER_BODY } }, async (request, reply) => {
    const items = request.body.items.map((item) => ({ ...item, lineTotal: item.unitPrice * item.quantity }));
    const order = orders.create({
      userId: userOf(request),
      status: 'PENDING',
      currency: request.body.currency,
      totalAmount: items.reduce((sum, item) => sum + item.lineTotal, 0),
      items,
    });
    const saved = await orders.save(order);
    return reply.code(201).header('location', `/v1/orders/${saved.id}`).send(view(saved));
  });

  app.get<{ Params: { id: string } }>('/v1/orders/:id', { schema: { params: ORDER_ID_PARAMS } }, async (request, reply) => {
    const { id } = request.params;
    const cached = await redis.get(cacheKey(id));
    let order: OrderView | undefined;
    if (cached !== null) order = JSON.parse(cached) as OrderView;
    else {
      const found = await orders.findOne({ where: { id }, relations: { items: true }, order: { items: { id: 'ASC' } } });
      if (found) {
        order = view(found);
        await redis.set(cacheKey(id), JSON.stringify(order), 'EX', 600);
      }
    }
    if (!order || order.userId !== userOf(request)) return reply.code(404).send(notFound(id));
    return order;
  });

  await app.listen({ port: config.port, host: '127.0.0.1' });
}

runUntilSignalled(start, async () => {
  await app.close();
  await Promise.allSettled([db.isInitialized ? db.destroy() : undefined, redis.quit()]);
});
