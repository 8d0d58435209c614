/**
 * A reference of `npm run bench:http`: the floor of the platform's cached read. A bare Fastify
 * app whose route sends what a cached GET /v1/orders/{id} sends Redis — the admission script
 * (libs/redis ADMISSION_LUA: the revocation marks, the GCRA step and the cache entry, one
 * EVALSHA) — over an ioredis client with the services' options (auto-pipelining), and
 * answers the cached JSON (BENCH_BASELINE_BODY, stored at start) after parsing and
 * serialising it, as the platform does. No token check, no hooks, metrics or logs: what the
 * platform's cached read costs beyond this is the rest of its stack. Started by the bench as a
 * process of its own, on the same Node.
 */
import { ADMISSION_LUA, REQUEST_PATH_OPTIONS } from '@platform/redis';
import fastify from 'fastify';
import { Redis } from 'ioredis';

const body = process.env['BENCH_BASELINE_BODY'];
const redisUrl = process.env['REDIS_URL'];
if (!body || !redisUrl) throw new Error('BENCH_BASELINE_BODY and REDIS_URL must be set');

const tagged = 'bench-floor:rev:{user:bench}';
const CACHED = 'bench-floor:cache:{orders:o}';
// The shape of a platform check: three marks and the marker, the user's limit, the order's entry.
const KEYS = [`${tagged}:jti:j`, `${tagged}:sid:s`, `${tagged}:before`, 'bench-floor:rev:{marker}', 'bench-floor:rl:{user:bench}:default', CACHED];
// RATE_LIMIT_MAX=1,000,000,000 per 60 s, as the bench's platform: 1 ms per request, never refused; one read.
const ARGS = [4, Date.now(), 1, 1_000_000_000, 1];

const redis = new Redis(redisUrl, REQUEST_PATH_OPTIONS).on('error', (err) => console.error(`floor: ${err.message}`));
redis.defineCommand('admit', { lua: ADMISSION_LUA });
const admit = (redis as unknown as { admit(n: number, ...args: (string | number)[]): Promise<unknown[]> }).admit.bind(redis);
const app = fastify();
app.get('/v1/orders/:id', async () => {
  const raw = (await admit(KEYS.length, ...KEYS, ...ARGS))[5];
  if (typeof raw !== 'string') throw new Error('the cached JSON is gone');
  return JSON.parse(raw) as unknown;
});

process.once('SIGTERM', () => void app.close().then(() => redis.quit()).then(() => process.exit(0)));
redis
  .once('ready', () => {
    redis
      .set(CACHED, body, 'EX', 3600)
      .then(() => app.listen({ port: Number(process.env['PORT']), host: '127.0.0.1' }))
      .catch((err: unknown) => {
        console.error(err);
        process.exit(1);
      });
  });
