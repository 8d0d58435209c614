import { Cluster } from 'ioredis';
import { closeRedisClient, followingSentinels, type RedisClient } from './client';
import { RedisUnavailableError } from './errors';
import type { WarnLogger } from './revocation';
import { logThrottle } from './scripts';

/**
 * One pub/sub channel shared by every instance of a service: what one publishes, all hear,
 * itself included. Delivery is at most once: a message sent while an instance's subscriber
 * connection is down never reaches it, so after every reconnection `onResync` runs and the
 * listener must look again at whatever it follows. On Redis Cluster a PUBLISH reaches every node.
 */
export interface Broadcast {
  publish(message: string): Promise<void>;
  /** Subscribes; messages then reach `onMessage`. Resolves once the first subscription holds, or at once while Redis is down. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface BroadcastOptions {
  client: RedisClient;
  channel: string;
  onMessage(message: string): void;
  /** After the subscriber connection came back: messages may have been missed meanwhile. */
  onResync(): void;
  logger?: WarnLogger;
}

export function createBroadcast(opts: BroadcastOptions): Broadcast {
  const { client, channel } = opts;
  const throttle = logThrottle();
  let subscriber: RedisClient | undefined;
  let subscribedOnce = false;
  let subscribed: () => void = () => undefined;

  async function subscribe(conn: RedisClient): Promise<void> {
    try {
      await conn.subscribe(channel);
    } catch (err) {
      // The next 'ready' tries again.
      const { log, suppressed } = throttle();
      if (log) opts.logger?.warn({ err, channel, suppressed }, 'could not subscribe; retrying once Redis is back');
      return;
    }
    if (subscribedOnce) opts.onResync();
    subscribedOnce = true;
    subscribed();
  }

  return Object.freeze({
    async publish(message: string): Promise<void> {
      try {
        await client.publish(channel, message);
      } catch (err) {
        throw new RedisUnavailableError('publish', { cause: err });
      }
    },

    async start(): Promise<void> {
      // A connection of its own: a subscribed connection runs no other command. It keeps the
      // shared client's "no offline queue" and reconnects as that one does.
      const conn = client instanceof Cluster ? client.duplicate([], { redisOptions: { ...client.options.redisOptions } }) : followingSentinels(client.duplicate());
      subscriber = conn;
      conn.on('error', () => undefined);
      conn.on('message', (from: string, message: string) => {
        if (from === channel) opts.onMessage(message);
      });
      // Start-up waits a moment for the subscription, not for Redis: the service answers meanwhile (503 where it needs Redis).
      const first = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1_000);
        subscribed = () => (clearTimeout(timer), resolve());
      });
      conn.on('ready', () => void subscribe(conn));
      await first;
    },

    async close(): Promise<void> {
      const conn = subscriber;
      subscriber = undefined;
      if (conn) await closeRedisClient(conn);
    },
  });
}
