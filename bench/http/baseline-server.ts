/**
 * The baseline of `npm run bench:http`: a bare Fastify app, with nothing of the platform in
 * it, answering GET /v1/orders/:id with the same JSON a cached order's read answers
 * (BENCH_BASELINE_BODY). Started by the bench as a process of its own, on the same Node.
 *
 * With BENCH_BASELINE_REDIS_URL, bench:compare's floor of a read: the JSON is stored in Redis
 * at start, and every request reads it back with one GET (ioredis, auto-pipelining on) before
 * answering it as it is. Nothing else: no token, no rate limit, no owner check, no schema.
 */
import { randomUUID } from 'node:crypto';
import fastify from 'fastify';
import { Redis } from 'ioredis';

const text = process.env['BENCH_BASELINE_BODY'] ?? 'null';
const body = JSON.parse(text) as unknown;
if (body === null) throw new Error('BENCH_BASELINE_BODY must hold the JSON to answer with');
const redisUrl = process.env['BENCH_BASELINE_REDIS_URL'];

const app = fastify();
if (redisUrl) {
  const redis = new Redis(redisUrl, { enableAutoPipelining: true });
  const key = `bench:floor:${randomUUID()}`;
  app.addHook('onReady', async () => void (await redis.set(key, text)));
  app.addHook('onClose', async () => {
    await redis.del(key);
    await redis.quit();
  });
  app.get('/v1/orders/:id', async (_request, reply) => {
    const stored = await redis.get(key);
    return reply.type('application/json; charset=utf-8').send(stored);
  });
} else {
  app.get('/v1/orders/:id', async () => body);
}
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
app.listen({ port: Number(process.env['PORT']), host: '127.0.0.1' }).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
