import { closeRedisClient, createRedisClient, logThrottle, type RedisClient, type RedisClientConfig } from '@platform/redis';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { redisFailure } from './redis-failure';

declare module 'fastify' {
  interface FastifyInstance {
    redis: RedisClient;
    /** Prefix of every key this service writes (REDIS_KEY_PREFIX). */
    redisKeyPrefix: string;
  }
}

export type RedisPluginOptions = RedisClientConfig & {
  keyPrefix: string;
  /** How long start-up waits for the first connection before going on without it. */
  startupWaitMs?: number;
};

/** Without an offline queue, commands fail until the first connect; give it a moment. */
function connected(client: RedisClient, waitMs: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => done(false), waitMs);
    const onReady = () => done(true);
    function done(ok: boolean) {
      clearTimeout(timer);
      client.off('ready', onReady);
      resolve(ok);
    }
    client.once('ready', onReady);
  });
}

/** The service's Redis client, checked by readiness and closed with the app. */
async function redisPlugin(app: FastifyInstance, opts: RedisPluginOptions): Promise<void> {
  const client = createRedisClient(opts);
  const log = app.log.child({ component: 'redis' });

  // ioredis emits an error on every failed reconnect; one line per interval is enough.
  const throttle = logThrottle();
  // While disconnected a command fails with a generic message; the connection's last error says why.
  let connectionError: Error | undefined;
  client.on('error', (err: Error) => {
    connectionError = err;
    const { log: now, suppressed } = throttle();
    if (now) log.warn({ err, failure: redisFailure(err), suppressed }, 'Redis connection error');
  });
  client.on('ready', () => {
    connectionError = undefined;
    log.info('Redis ready');
  });
  if (!(await connected(client, opts.startupWaitMs ?? 2_000))) {
    log.warn('Redis is not reachable; starting anyway, readiness reports it until it answers');
  }

  app.decorate<RedisClient>('redis', client);
  app.decorate('redisKeyPrefix', opts.keyPrefix);
  app.health.addCheck(
    'redis',
    () => client.ping(),
    (err) => redisFailure(client.status !== 'ready' && connectionError ? connectionError : err),
  );

  app.addHook('onClose', async () => {
    // quit() waits for replies in flight; a client that never connected is just dropped.
    await closeRedisClient(client);
  });
}

export const redis = fp(redisPlugin, { name: 'redis', fastify: '5.x', dependencies: ['health'] });

export interface RedisEnv {
  REDIS_URL: string;
  REDIS_CLUSTER_NODES?: string;
  REDIS_SENTINELS?: string;
  REDIS_SENTINEL_NAME?: string;
  REDIS_SENTINEL_PASSWORD?: string;
  REDIS_KEY_PREFIX: string;
  REDIS_COMMAND_TIMEOUT_MS: number;
  REDIS_CONNECT_TIMEOUT_MS: number;
}

/** The plugin's options from a service's validated configuration (service-kit `redisEnv`). */
export function redisOptions(config: RedisEnv, connectionName?: string): RedisPluginOptions {
  return {
    url: config.REDIS_URL,
    clusterNodes: config.REDIS_CLUSTER_NODES,
    sentinels: config.REDIS_SENTINELS,
    sentinelName: config.REDIS_SENTINEL_NAME,
    sentinelPassword: config.REDIS_SENTINEL_PASSWORD || undefined,
    keyPrefix: config.REDIS_KEY_PREFIX,
    commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS,
    connectTimeoutMs: config.REDIS_CONNECT_TIMEOUT_MS,
    connectionName,
  };
}
