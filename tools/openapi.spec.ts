/* eslint-disable @nx/enforce-module-boundaries -- a workspace test: it builds every app to read the document it serves. */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { migrateUrl } from '@platform/db';
import { migrations as orderMigrations } from '@platform/migrations/order-service';
import { migrations as paymentMigrations } from '@platform/migrations/payment-service';
import { migrations as userMigrations } from '@platform/migrations/user-service';
import type { App, ServiceDefinition } from '@platform/service-kit';
import type { TProperties } from '@sinclair/typebox';
import { buildApp, createTestDatabase, testKeyPrefix } from '@platform/testing';
import { definition as gatewaySandbox } from '../apps/gateway-sandbox/src/app';
import { definition as orderService } from '../apps/order-service/src/app';
import { definition as paymentService } from '../apps/payment-service/src/app';
import { definition as userService } from '../apps/user-service/src/app';

/**
 * Each service's OpenAPI document, as it serves it at /docs/json, passes Redocly's `recommended`
 * ruleset with no error and no warning (CONTRACT.md, "The OpenAPI document is exact"). The CLI
 * runs from its bin with tools/openapi/redocly.yaml, with telemetry off and no network.
 */
const root = join(__dirname, '..');
const REDOCLY = join(root, 'node_modules', '@redocly', 'cli', 'bin', 'cli.js');
const CONFIG = join(__dirname, 'openapi', 'redocly.yaml');

async function withDatabase<P extends TProperties>(label: string, def: ServiceDefinition<P>, migrations: Parameters<typeof migrateUrl>[1]): Promise<App> {
  const db = await createTestDatabase(label);
  await migrateUrl(db.url, migrations);
  return buildApp(def, { DATABASE_URL: db.url, REDIS_KEY_PREFIX: testKeyPrefix(label) }, db.drop);
}

const SERVICES: [string, () => Promise<App>][] = [
  ['user-service', () => withDatabase('user', userService, userMigrations)],
  ['order-service', () => withDatabase('order', orderService, orderMigrations)],
  ['payment-service', () => withDatabase('payment', paymentService, paymentMigrations)],
  ['gateway-sandbox', () => buildApp(gatewaySandbox)],
];

interface Problem {
  ruleId: string;
  severity: 'error' | 'warn';
  message: string;
  location: { pointer?: string }[];
}

async function lint(file: string): Promise<Problem[]> {
  const run = promisify(execFile);
  const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' };
  const args = [REDOCLY, 'lint', '--config', CONFIG, '--format', 'json', '--max-problems', '1000', file];
  const { stdout } = await run(process.execPath, args, { env, maxBuffer: 16 * 1024 * 1024 }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  return (JSON.parse(stdout) as { problems: Problem[] }).problems;
}

describe.each(SERVICES)('%s OpenAPI document', (service, build) => {
  let app: App;
  let dir: string;

  beforeAll(async () => {
    app = await build();
    dir = mkdtempSync(join(tmpdir(), `openapi-${service}-`));
  });

  afterAll(async () => {
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('when /docs/json is linted with Redocly’s recommended rules, then there is no error and no warning', async () => {
    const res = await app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const file = join(dir, `${service}.json`);
    writeFileSync(file, res.body);
    if (process.env['OPENAPI_DUMP_DIR']) writeFileSync(join(process.env['OPENAPI_DUMP_DIR'], `${service}.json`), res.body);
    const problems = await lint(file);
    expect(problems.map((p) => `${p.severity} ${p.ruleId} ${p.location[0]?.pointer ?? ''}: ${p.message}`)).toEqual([]);
  }, 60_000);
});
