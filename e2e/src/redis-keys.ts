import Redis, { Cluster } from 'ioredis';
import type { Topology } from './platform';

/** One key as SCAN found it: its type and its PTTL in ms (-1: no TTL; -2: gone meanwhile). */
export interface FoundKey {
  key: string;
  type: string;
  pttl: number;
}

export type PlatformRedis = Redis | Cluster;

/** A client of the Redis the local platform runs on: its cluster when it runs on one. */
export async function platformRedis(local: NonNullable<Topology['local']>): Promise<PlatformRedis> {
  const options = { lazyConnect: true, maxRetriesPerRequest: 1 };
  const client = local.redisClusterNodes
    ? new Cluster(
        local.redisClusterNodes.split(',').map((node) => {
          const [host, port] = node.split(':');
          return { host: host as string, port: Number(port) };
        }),
        { lazyConnect: true, redisOptions: options },
      )
    : new Redis(local.redisUrl, options);
  await client.connect();
  return client;
}

/**
 * Every key that starts with one of `prefixes`, with its type and PTTL. SCAN walks each master
 * of a cluster (it only sees the node's own keys); TYPE and PTTL go in one pipeline per batch.
 */
export async function keysUnder(redis: PlatformRedis, prefixes: readonly string[]): Promise<FoundKey[]> {
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  const found: FoundKey[] = [];
  for (const node of nodes) {
    for (const prefix of prefixes) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 1_000);
        cursor = next;
        found.push(...(await describe(node, keys)));
      } while (cursor !== '0');
    }
  }
  return found;
}

async function describe(node: Redis, keys: string[]): Promise<FoundKey[]> {
  if (keys.length === 0) return [];
  const pipeline = node.pipeline();
  for (const key of keys) pipeline.type(key).pttl(key);
  const replies = (await pipeline.exec()) ?? [];
  return keys.map((key, i) => ({ key, type: String(replies[2 * i]?.[1]), pttl: Number(replies[2 * i + 1]?.[1]) }));
}

/**
 * The oldest entry of a stream that some consumer group still needs (its first pending entry,
 * or the first it was not given yet), or null when every group is done with every entry.
 */
export async function firstNeeded(redis: PlatformRedis, stream: string): Promise<string | null> {
  const groups = (await redis.xinfo('GROUPS', stream)) as unknown[][];
  // No group yet: one created later reads the stream from its start.
  if (groups.length === 0) return (await redis.xrange(stream, '-', '+', 'COUNT', 1))[0]?.[0] ?? null;
  let needed: string | null = null;
  for (const flat of groups) {
    const info = Object.fromEntries(Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i], flat[2 * i + 1]]));
    const pending = (await redis.xpending(stream, String(info['name']))) as [number, string | null];
    const undelivered = (await redis.xrange(stream, `(${String(info['last-delivered-id'])}`, '+', 'COUNT', 1))[0]?.[0] ?? null;
    const first = Number(pending[0]) > 0 ? pending[1] : undelivered;
    if (first && (needed === null || idBefore(first, needed))) needed = first;
  }
  return needed;
}

/** Stream ids compared as `<ms>-<seq>`. */
export function idBefore(a: string, b: string): boolean {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  return am < bm || (am === bm && as < bs);
}
