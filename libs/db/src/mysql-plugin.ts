import { DependencyUnavailableError } from '@platform/service-kit';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { DataSource } from 'typeorm';
import { createDataSource, initializeDataSource, type DataSourceConfig } from './data-source';
import { mysqlFailure } from './failure';

declare module 'fastify' {
  interface FastifyInstance {
    /** The service's DataSource; throws DependencyUnavailableError until MySQL has answered once. */
    readonly db: DataSource;
  }
}

export type MysqlPluginOptions = DataSourceConfig & { retryIntervalMs?: number };

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
}

/** The plugin's options from a service's validated configuration (service-kit `mysqlEnv`). */
export function mysqlOptions(config: MysqlEnv): MysqlPluginOptions {
  return {
    url: config.DATABASE_URL,
    poolSize: config.DB_POOL_SIZE,
    connectTimeoutMs: config.DB_CONNECT_TIMEOUT_MS,
    queryTimeoutMs: config.DB_QUERY_TIMEOUT_MS,
    acquireTimeoutMs: config.DB_ACQUIRE_TIMEOUT_MS,
  };
}
