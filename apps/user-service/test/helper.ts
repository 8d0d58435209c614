import { migrateUrl } from '@platform/db';
import { migrations } from '@platform/migrations/user-service';
import type { App } from '@platform/service-kit';
import { buildApp, createTestDatabase, testKeyPrefix } from '@platform/testing';
import { definition } from '../src/app';

/** The real user-service on a schema and a Redis key prefix of this test file's own. */
export async function build(env: Record<string, string> = {}): Promise<App> {
  const db = await createTestDatabase('user');
  await migrateUrl(db.url, migrations);
  return buildApp(definition, { DATABASE_URL: db.url, REDIS_KEY_PREFIX: testKeyPrefix('user'), ...env }, db.drop);
}
