import { migrateUrl } from '@platform/db';
import { migrations } from '@platform/migrations/order-service';
import { adminQuery } from '@platform/testing';

/** An order-service schema of the bench's own on the local server. */
export interface BenchSchema {
  name: string;
  /** The schema's URL, with the admin credentials. */
  url: string;
  drop(): Promise<void>;
}

const NAME = /^[A-Za-z0-9_]{1,64}$/;

export const benchSchemaName = (): string => `bench_orders_${Date.now().toString(36)}`;

/** MYSQL_ADMIN_URL (default root on 127.0.0.1); the bench never leaves the machine. */
export function adminUrl(): URL {
  const url = new URL(process.env['MYSQL_ADMIN_URL'] ?? 'mysql://root@127.0.0.1:3306');
  if (url.hostname !== '127.0.0.1') throw new Error(`MYSQL_ADMIN_URL must point at 127.0.0.1, not ${url.hostname}: the bench only runs against a local MySQL`);
  return url;
}

const admin = (sql: string) => adminQuery(sql, adminUrl());

/** Creates the schema unless it exists and applies order-service's migrations (none twice). */
export async function openSchema(name: string): Promise<BenchSchema> {
  if (!NAME.test(name)) throw new Error(`schema name ${JSON.stringify(name)} must be 1 to 64 letters, digits or underscores`);
  await admin(`CREATE DATABASE IF NOT EXISTS \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  const url = adminUrl();
  url.pathname = `/${name}`;
  await migrateUrl(url.toString(), migrations);
  return { name, url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS \`${name}\``) };
}

/** The orders and their items as they are now, copied into a schema of their own. */
export async function snapshot(from: BenchSchema, name: string): Promise<BenchSchema> {
  const to = await openSchema(name);
  for (const table of ['orders', 'order_items']) await admin(`INSERT INTO \`${name}\`.${table} SELECT * FROM \`${from.name}\`.${table}`);
  await admin(`ANALYZE TABLE \`${name}\`.orders, \`${name}\`.order_items`);
  return to;
}
