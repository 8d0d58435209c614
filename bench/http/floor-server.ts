/**
 * A reference of `npm run bench:http`: the floor of the one-command design. A bare Fastify app
 * whose route runs the request guard's own script (libs/redis REQUEST_GUARD_LUA: the
 * revocation MGET, the GCRA step and the cache GET) with one EVALSHA per request on the
 * bench's Redis, over the CommandLane the services' guard uses (its writes coalesced the same
 * way), and answers the cached JSON (BENCH_BASELINE_BODY, stored at start) as stored, as the
 * platform answers a hit. No token check, no hooks, metrics or logs: what the platform's cached
 * read costs beyond this is the rest of its stack. Started by the bench as a process of its own,
 * on the same Node.
 */
import { laneOf, rawScript, REQUEST_GUARD_LUA } from '@platform/redis';
import { eventually } from '@platform/testing';
import fastify from 'fastify';
import { Redis } from 'ioredis';

const body = process.env['BENCH_BASELINE_BODY'];
const redisUrl = process.env['REDIS_URL'];
if (!body || !redisUrl) throw new Error('BENCH_BASELINE_BODY and REDIS_URL must be set');

const GUARD = rawScript(REQUEST_GUARD_LUA);
const tagged = 'bench-floor:rev:{user:bench}';
// The shape of a platform check: three marks and the marker, the user's limit, the order's entry.
const KEYS = [`${tagged}:jti:j`, `${tagged}:sid:s`, `${tagged}:before`, 'bench-floor:rev:{marker}', 'bench-floor:rl:{user:bench}:default', 'bench-floor:cache:{orders:o}'];
// RATE_LIMIT_MAX=1,000,000,000 per 60 s, as the bench's platform: 1 ms per request, never refused.
const ARGS = [4, 1, 1_000_000_000];

const redis = new Redis(redisUrl, { enableOfflineQueue: false });
const lane = laneOf(redis);
const app = fastify();
app.get('/v1/orders/:id', (_request, reply) => {
  lane.script(GUARD, KEYS, ARGS, (err, values) => {
    const raw = (values as unknown[] | undefined)?.[5];
    if (err || typeof raw !== 'string') return reply.send(err ?? new Error('the cached JSON is gone'));
    reply.type('application/json; charset=utf-8').send(raw);
  });
  return reply;
});

async function waitForLane(): Promise<void> {
  if (!(await eventually(async () => lane.ready, 10_000, 20))) throw new Error('the lane did not connect in 10 s');
}

process.once('SIGTERM', () => void app.close().then(() => redis.quit()).then(() => process.exit(0)));
redis
  .once('ready', () => {
    redis
      .set(KEYS[5] as string, body, 'EX', 3600)
      .then(() => waitForLane())
      .then(() => app.listen({ port: Number(process.env['PORT']), host: '127.0.0.1' }))
      .catch((err: unknown) => {
        console.error(err);
        process.exit(1);
      });
  })
  .on('error', (err) => console.error(`floor: ${err.message}`));
