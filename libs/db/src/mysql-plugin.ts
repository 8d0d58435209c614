import { DependencyUnavailableError } from '@platform/service-kit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { DataSource } from 'typeorm';
import { createDataSource, initializeDataSource, type DataSourceConfig } from './data-source';
import { mysqlFailure } from './failure';
import { createOneTripTransactions, type OneTripTransactions } from './one-trip';
import { createReplicaSet, type ReplicaSet, type WriteMarks } from './replicas';

declare module 'fastify' {
  interface FastifyInstance {
    /** The service's DataSource; throws DependencyUnavailableError until MySQL has answered once. */
    readonly db: DataSource;
    /** The read replicas (DATABASE_REPLICA_URLS), or undefined without any; see `readRouter`. */
    readonly replicas: ReplicaSet | undefined;
    /** Transactions sent as one query (ADR 0022), on a pool of their own that opens on first use. */
    readonly oneTrip: OneTripTransactions;
  }
}

export type MysqlPluginOptions = DataSourceConfig & {
  retryIntervalMs?: number;
  /** Read replicas of the same schema, same account. */
  replicaUrls?: readonly string[];
  /** A replica further behind than this is skipped (DB_REPLICA_MAX_LAG_MS). */
  replicaMaxLagMs?: number;
};

/**
 * Opens the service's MySQL pool. A MySQL that is down at start does not stop the
 * process: it keeps trying in the background, readiness reports `mysql` until then,
 * and routes that need it answer 503. Later outages are the pool's to survive.
 */
async function mysqlPlugin(app: FastifyInstance, opts: MysqlPluginOptions): Promise<void> {
  const ds = createDataSource(opts);
  const log = app.log.child({ component: 'mysql' });
  let pending: Promise<unknown> | undefined;
  const connect = () =>
    (pending ??= initializeDataSource(ds, opts, (err) => log.error({ err }, 'could not set the query timeout')).finally(
      () => (pending = undefined),
    ));

  let retry: NodeJS.Timeout | undefined;
  try {
    await connect();
  } catch (err) {
    log.warn({ err, failure: mysqlFailure(err) }, 'MySQL is not usable; retrying in the background');
    retry = setInterval(() => {
      connect().then(
        () => {
          clearInterval(retry);
          log.info('MySQL connected');
        },
        () => undefined,
      );
    }, opts.retryIntervalMs ?? 2_000);
    retry.unref();
  }

  app.decorate('db', {
    getter() {
      if (!ds.isInitialized) throw new DependencyUnavailableError('mysql');
      return ds;
    },
  });

  // Replicas are not in readiness: without them the primary answers every read.
  const replicas = opts.replicaUrls?.length
    ? createReplicaSet({
        ...opts,
        urls: opts.replicaUrls,
        maxLagMs: opts.replicaMaxLagMs ?? 1_000,
        primary: () => (ds.isInitialized ? ds : undefined),
        log: app.log.child({ component: 'mysql-replicas' }),
        registry: app.hasDecorator('metrics') ? app.metrics : undefined,
      })
    : undefined;
  app.decorate('replicas', { getter: () => replicas });

  const oneTrip = createOneTripTransactions(opts, (err) => log.error({ err }, 'could not set the query timeout'));
  app.decorate('oneTrip', { getter: () => oneTrip });

  app.health.addCheck(
    'mysql',
    async () => {
      if (!ds.isInitialized) await connect();
      await ds.query('SELECT 1');
    },
    mysqlFailure,
  );

  app.addHook('onClose', async () => {
    clearInterval(retry);
    await pending?.catch(() => undefined);
    await replicas?.close();
    await oneTrip.close();
    if (ds.isInitialized) await ds.destroy();
  });
}

export const mysql = fp(mysqlPlugin, { name: 'mysql', fastify: '5.x', dependencies: ['health'] });

export interface MysqlEnv {
  DATABASE_URL: string;
  DB_POOL_SIZE: number;
  DB_CONNECT_TIMEOUT_MS: number;
  DB_QUERY_TIMEOUT_MS: number;
  DB_ACQUIRE_TIMEOUT_MS: number;
  DATABASE_REPLICA_URLS?: string;
  DB_REPLICA_MAX_LAG_MS?: number;
}

/** The plugin's options from a service's validated configuration (service-kit `mysqlEnv`). */
export function mysqlOptions(config: MysqlEnv): MysqlPluginOptions {
  return {
    url: config.DATABASE_URL,
    poolSize: config.DB_POOL_SIZE,
    connectTimeoutMs: config.DB_CONNECT_TIMEOUT_MS,
    queryTimeoutMs: config.DB_QUERY_TIMEOUT_MS,
    acquireTimeoutMs: config.DB_ACQUIRE_TIMEOUT_MS,
    replicaUrls: config.DATABASE_REPLICA_URLS?.split(',').map((url) => url.trim()),
    replicaMaxLagMs: config.DB_REPLICA_MAX_LAG_MS,
  };
}

/** How long a "this user wrote" mark lives: past the lag bound, with room for the check itself (readRouter). */
export const writeMarkTtlMs = (maxLagMs: number) => 2 * maxLagMs + 1_000;

/**
 * Marks the signed-in caller of every request that may write (any method but GET, HEAD and
 * OPTIONS) before its handler runs and again before its answer leaves: the caller's reads on any
 * instance of any service come from the primary while the request runs (e.g. order-service's
 * answer to the order check of a payment) and until a replica within the bound must hold the
 * write. A mark that cannot be written is logged; the request goes on (a write may be committed).
 */
export function markWriters(app: FastifyInstance, marks: WriteMarks | undefined): void {
  if (!marks) return;
  const mark = async (request: FastifyRequest) => {
    const userId = request.auth?.userId;
    if (!userId || request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS') return;
    await marks.mark(userId).catch((err: unknown) => request.log.warn({ err }, 'could not mark the caller as a writer; replicas may answer its next reads'));
  };
  app.addHook('preHandler', mark);
  app.addHook('onSend', async (request, _reply, payload) => {
    await mark(request);
    return payload;
  });
}
