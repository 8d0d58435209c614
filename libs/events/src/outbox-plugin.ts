import type {} from '@platform/db';
import type {} from '@platform/service-kit';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { startOutboxRelay, type OutboxRelay, type OutboxRelayOptions } from './outbox-relay';

declare module 'fastify' {
  interface FastifyInstance {
    /** The service's outbox relay: `nudge()` after committing a transaction that enqueued. */
    outbox: { nudge(): void };
  }
}

export type OutboxRelayPluginOptions = Omit<OutboxRelayOptions, 'dataSource' | 'logger' | 'registry'> & {
  /** Defaults to the mysql plugin's `app.db`. */
  dataSource?: OutboxRelayOptions['dataSource'];
};

/**
 * Runs the outbox relay from onReady to onClose. It depends on the mysql and redis plugins,
 * so it is registered after them, and Fastify runs onClose hooks last-registered first: the
 * relay finishes its pass in flight before Redis and MySQL close.
 */
async function outboxRelayPlugin(app: FastifyInstance, opts: OutboxRelayPluginOptions): Promise<void> {
  let relay: OutboxRelay | undefined;
  app.decorate('outbox', { nudge: () => relay?.nudge() });
  app.addHook('onReady', async () => {
    relay = startOutboxRelay({
      ...opts,
      dataSource: opts.dataSource ?? (() => app.db),
      logger: app.log.child({ component: 'outbox-relay' }),
      registry: app.hasDecorator('metrics') ? app.metrics : undefined,
    });
  });
  app.addHook('onClose', async () => {
    await relay?.stop();
  });
}

export const outboxRelay = fp(outboxRelayPlugin, { name: 'outbox-relay', fastify: '5.x', dependencies: ['mysql', 'redis'] });

/** `app.register(outboxRelay, opts)`, awaited, so that it is registered (and closes) in this order. */
export async function registerOutboxRelay(app: FastifyInstance, opts: OutboxRelayPluginOptions): Promise<void> {
  await app.register(outboxRelay, opts);
}
