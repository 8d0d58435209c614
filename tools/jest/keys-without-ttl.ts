import { Redis } from 'ioredis';

/**
 * The keys on one Redis server that never expire, streams excepted (the contract lets
 * event streams live without a TTL; they are capped by length instead). SCAN walks the
 * keyspace without blocking the server; TYPE and PTTL for each batch go in one pipeline.
 * On a Redis Cluster call it once per master: SCAN only sees the node's own keys.
 */
export async function keysWithoutTtl(url: string): Promise<string[]> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2_000, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'COUNT', 1_000);
      cursor = next;
      found.push(...(await withoutTtl(client, keys)));
    } while (cursor !== '0');
    return found;
  } catch (err) {
    throw new Error(`Could not scan ${url} for keys without a TTL: ${(err as Error).message}`);
  } finally {
    client.disconnect();
  }
}

async function withoutTtl(client: Redis, keys: string[]): Promise<string[]> {
  if (keys.length === 0) return [];
  const pipeline = client.pipeline();
  for (const key of keys) pipeline.pttl(key).type(key);
  const replies = (await pipeline.exec()) ?? [];
  // PTTL -1: the key exists and has no expiry (-2: it expired or was deleted meanwhile).
  return keys.filter((_, i) => replies[2 * i]?.[1] === -1 && replies[2 * i + 1]?.[1] !== 'stream');
}

/** The message a teardown throws: which keys, how many, and what to do about them. */
export function describeKeysWithoutTtl(where: string, keys: string[]): string {
  const shown = keys.slice(0, 20).map((k) => `  ${k}`);
  const more = keys.length > shown.length ? [`  … and ${keys.length - shown.length} more`] : [];
  return [
    `${keys.length} key(s) on ${where} were written without a TTL during the test run.`,
    'Every Redis key must expire (streams excepted): set the TTL in the same command or script that writes the key.',
    ...shown,
    ...more,
  ].join('\n');
}

/**
 * Jest runs the global teardowns one after another and stops at the first that throws,
 * so a failed check must not throw before the other Redis teardown has run (it stops its
 * cluster or containers, and has keys of its own to check). Each global setup names the
 * check it owes; each teardown settles it, and the last one to settle throws every
 * failure found.
 */
interface KeyChecks {
  pending: Set<string>;
  failures: string[];
}

function keyChecks(): KeyChecks {
  const holder = globalThis as { __redisKeyChecks__?: KeyChecks };
  holder.__redisKeyChecks__ ??= { pending: new Set(), failures: [] };
  return holder.__redisKeyChecks__;
}

export function owesKeyCheck(name: string): void {
  keyChecks().pending.add(name);
}

export function settleKeyCheck(name: string, failure: string | undefined): void {
  const checks = keyChecks();
  checks.pending.delete(name);
  if (failure) checks.failures.push(failure);
  if (checks.pending.size > 0 || checks.failures.length === 0) return;
  const failures = checks.failures.splice(0);
  throw new Error(failures.join('\n\n'));
}
