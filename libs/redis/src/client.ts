import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';

export type RedisClient = Redis | Cluster;

export interface RedisClientConfig {
  /** `redis://` or `rediss://` URL of a standalone server. */
  url: string;
  /** `host:port,host:port`: use a Redis Cluster instead of `url`. */
  clusterNodes?: string;
  /**
   * `host:port,host:port`: find the primary of `sentinelName` through these sentinels instead of
   * `url`'s host; `url` still gives the primary's credentials, database and TLS.
   */
  sentinels?: string;
  /** The master group the sentinels watch (their `sentinel monitor <name>`). */
  sentinelName?: string;
  /** The sentinels' own password, if they require one. */
  sentinelPassword?: string;
  /** A command that gets no answer in this time fails, so a dead Redis costs milliseconds. */
  commandTimeoutMs: number;
  /** A connection attempt that has not completed in this time is abandoned and tried again (default 1 s). */
  connectTimeoutMs?: number;
  connectionName?: string;
}

/**
 * Options for request paths. No offline queue: while disconnected a command fails at
 * once instead of waiting for a reconnect, and what was in flight on a lost connection fails
 * rather than being sent again. One retry per command, and reconnection
 * that backs off to 1 s and never gives up, so the service recovers by itself.
 * Auto-pipelining sends the commands of one event-loop turn (many requests' checks and
 * reads under load) as one pipeline, in one write; TCP keep-alive probes an idle socket.
 */
export const REQUEST_PATH_OPTIONS: Readonly<RedisOptions> = Object.freeze({
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 1_000,
  retryStrategy: (attempt: number) => reconnectDelayMs(attempt),
  enableAutoPipelining: true,
  keepAlive: 10_000,
  // A command whose caller has already given up (timed out) is never sent again on the next
  // connection: run late, a BEGIN of the idempotency store or a lock acquire would hold a key
  // for a request that has answered 503, and its client's retry would meet 409.
  autoResendUnfulfilledCommands: false,
});

/** The wait before reconnect attempt `attempt`: 50 ms, doubling, at most 1 s. */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(50 * 2 ** attempt, 1_000);
}

/**
 * A socket that has owed a reply this long without a byte arriving is taken for dead (a partition,
 * a frozen server): ioredis destroys it, fails what was in flight and reconnects. A command
 * timeout alone fails the command but keeps the socket, whose later commands then queue behind
 * TCP's retransmit back-off for as long after a partition heals as it lasted.
 */
export function socketTimeoutMs(commandTimeoutMs: number): number {
  return 2 * commandTimeoutMs;
}

export function parseClusterNodes(nodes: string): ClusterNode[] {
  return parseHostPorts(nodes);
}

/** `host:port,host:port` (REDIS_CLUSTER_NODES, REDIS_SENTINELS). */
export function parseHostPorts(nodes: string): { host: string; port: number }[] {
  return nodes.split(',').map((node) => {
    const at = node.lastIndexOf(':');
    return { host: node.slice(0, at), port: Number(node.slice(at + 1)) };
  });
}

export function createRedisClient(config: RedisClientConfig): RedisClient {
  const options: RedisOptions = {
    ...REQUEST_PATH_OPTIONS,
    commandTimeout: config.commandTimeoutMs,
    socketTimeout: socketTimeoutMs(config.commandTimeoutMs),
    connectTimeout: config.connectTimeoutMs ?? REQUEST_PATH_OPTIONS.connectTimeout,
    connectionName: config.connectionName,
  };
  if (config.clusterNodes) {
    return new Cluster(parseClusterNodes(config.clusterNodes), {
      enableOfflineQueue: false,
      // Off on a Cluster: ioredis routes an auto-pipelined command by its first argument, which for
      // a script (EVALSHA, defineCommand) is the SHA or the key count, not a key, and a pipeline
      // whose commands then span slots fails ("All keys in the pipeline should belong to the same
      // slots allocation group", redis/ioredis#2109). Each command is routed by its own keys instead.
      enableAutoPipelining: false,
      clusterRetryStrategy: options.retryStrategy,
      redisOptions: options,
    });
  }
  if (config.sentinels) return followingSentinels(new Redis(sentinelOptions(config, options)));
  return new Redis(config.url, options);
}

/** Clients their owner closed (closeRedisClient): an end they reach was asked for. */
const closing = new WeakSet<RedisClient>();

/**
 * Closes a client for good. By default quit() lets replies in flight arrive first; `now` (or a
 * client that is not connected) drops the connection at once, failing what is in flight. The
 * one way the platform closes a client: a Sentinel client told apart an end it asked for from
 * one ioredis reached by itself (followingSentinels).
 */
export async function closeRedisClient(client: RedisClient, opts: { now?: boolean } = {}): Promise<void> {
  closing.add(client);
  if (!opts.now && client.status === 'ready') await client.quit().catch(() => client.disconnect());
  else client.disconnect();
}

/**
 * What a Sentinel client needs beyond ioredis's own handling; apply it to a Sentinel client's
 * duplicates as well (other clients pass through). Both concern its failover detector, which
 * subscribes to the sentinels' `+switch-master` from each connection on:
 *
 * - Closed, the client lets the detector's sentinel connections go too: ioredis closes them on
 *   disconnect() but not on quit(), and they would keep the process alive.
 * - An end nobody asked for is followed by a new connection. When the primary dies, the lost
 *   connection's detector stays subscribed; when the sentinels announce the promotion it
 *   disconnects the connector, and if the client is at that moment asking a sentinel for the
 *   primary (a reconnection under way), ioredis (5.11 and 6.1 alike) rejects that connect and
 *   ends the client, never to retry: every command then fails for good. In a test of 20 such
 *   clients reconnecting through one failover, 9 ended.
 */
export function followingSentinels<T extends RedisClient>(client: T): T {
  if (!(client instanceof Redis) || (client.options.sentinels?.length ?? 0) === 0) return client;
  let attempt = 0;
  const again = () => {
    if (!closing.has(client) && client.status === 'end') client.connect().catch(() => undefined);
  };
  client.on('ready', () => (attempt = 0));
  client.on('end', () => {
    if (closing.has(client)) client.disconnect();
    else setTimeout(again, reconnectDelayMs(attempt++));
  });
  return client;
}

/**
 * A client of the primary that the sentinels name, with the request-path options: after the
 * primary fails, the reconnection (same back-off) asks the sentinels again and reaches the
 * promoted replica; a connection that lands on a replica (ROLE check) is dropped and retried.
 * The failover detector also drops the connection as soon as a sentinel announces a new primary,
 * so a demoted primary that stays up does not keep taking commands.
 */
export function sentinelOptions(config: RedisClientConfig, options: RedisOptions): RedisOptions {
  const url = new URL(config.url);
  const db = Number(url.pathname.slice(1) || 0);
  return {
    ...options,
    sentinels: parseHostPorts(config.sentinels ?? ''),
    name: config.sentinelName ?? 'mymaster',
    role: 'master',
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    db: Number.isInteger(db) ? db : 0,
    ...(url.protocol === 'rediss:' ? { tls: {}, enableTLSForSentinelMode: true } : {}),
    sentinelPassword: config.sentinelPassword,
    // Asking the sentinels again backs off as reconnecting does, and never gives up either.
    sentinelRetryStrategy: reconnectDelayMs,
    sentinelCommandTimeout: options.commandTimeout,
    sentinelMaxConnections: 3,
    failoverDetector: true,
  };
}
