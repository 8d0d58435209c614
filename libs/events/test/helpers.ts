import { createDataSource, initializeDataSource } from '@platform/db';
import { createRedisClient, keySpace, type RedisClient } from '@platform/redis';
import { createTestDatabase, type TestDatabase } from '@platform/testing';
import type { DataSource } from 'typeorm';
import { OUTBOX_TABLE_DDL } from '../src/outbox';

export const REDIS_URL = () => process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** A schema of its own holding the outbox table exactly as services' migrations create it. */
export async function outboxDatabase(label: string): Promise<TestDatabase> {
  const db = await createTestDatabase(label);
  const ds = await dataSource(db.url);
  try {
    await ds.query(OUTBOX_TABLE_DDL);
  } finally {
    await ds.destroy();
  }
  return db;
}

export function dataSource(url: string, connectTimeoutMs = 5_000): Promise<DataSource> {
  return initializeDataSource(createDataSource({ url, poolSize: 4, connectTimeoutMs }), {});
}

/** A client as a service instance has one, once it is connected. */
export async function readyRedis(url = REDIS_URL()): Promise<RedisClient> {
  const client = createRedisClient({ url, commandTimeoutMs: 2_000 });
  client.on('error', () => undefined);
  if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve));
  return client;
}

/** The events on a stream, oldest first, as consumers would read them. */
export async function published(client: RedisClient, prefix: string, stream: string): Promise<Record<string, unknown>[]> {
  const entries = (await client.xrange(keySpace(prefix).stream(stream).stream, '-', '+')) as [string, string[]][];
  return entries.map(([, fields]) => JSON.parse(fields[fields.indexOf('data') + 1] ?? 'null'));
}

export async function unsentCount(ds: DataSource): Promise<number> {
  const [row] = (await ds.query('SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NULL')) as { n: string }[];
  return Number(row?.n);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Log lines a Fastify logger writes, parsed; pass `stream` as its destination. */
export function logCapture(): { stream: { write(line: string): void }; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { stream: { write: (line: string) => void lines.push(JSON.parse(line)) }, lines };
}
