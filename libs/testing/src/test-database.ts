import { createConnection } from 'mysql2/promise';
import { uniqueSuffix } from './ids';

export interface TestDatabase {
  /** The schema's name, e.g. `t_order_lq3k2x9f1a2b3c4`. */
  name: string;
  /** DATABASE_URL for the schema (admin credentials). */
  url: string;
  drop(): Promise<void>;
}

function adminUrl(): URL {
  const url = process.env['MYSQL_ADMIN_URL'];
  if (!url) throw new Error('MYSQL_ADMIN_URL is not set; run the tests through jest, whose globalSetup sets it');
  return new URL(url);
}

/** Runs one admin statement outside any schema, on MYSQL_ADMIN_URL unless another admin URL is given. */
export async function adminQuery(sql: string, url: URL = adminUrl()): Promise<void> {
  const conn = await createConnection({ uri: url.toString() });
  try {
    await conn.query(sql);
  } finally {
    await conn.end();
  }
}

/**
 * An empty schema of its own for one test file, so files can run in parallel and in
 * any order (apply a service's migrations with `@platform/db`'s `migrateUrl`). Dropped by `drop()`.
 */
export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const name = `t_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${uniqueSuffix()}`;
  await adminQuery(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  return { name, url: url.toString(), drop: () => adminQuery(`DROP DATABASE IF EXISTS \`${name}\``) };
}

/** A Redis key prefix of its own for one test file. */
export function testKeyPrefix(label: string): string {
  return `t:${label}:${uniqueSuffix()}:`;
}
