/* eslint-disable @nx/enforce-module-boundaries -- a workspace test: it compares every app's config schema with the docs. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigSchema as gatewayConfig } from '../apps/gateway-sandbox/src/config';
import { ConfigSchema as orderConfig } from '../apps/order-service/src/config';
import { ConfigSchema as paymentConfig } from '../apps/payment-service/src/config';
import { ConfigSchema as userConfig } from '../apps/user-service/src/config';

/** The README's configuration table and .env.example must name exactly what the services read. */
const root = join(__dirname, '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const envExample = readFileSync(join(root, '.env.example'), 'utf8');

const declared = new Set(
  [userConfig, orderConfig, paymentConfig, gatewayConfig].flatMap((schema) => Object.keys(schema.properties)),
);
declared.add('MYSQL_ADMIN_URL'); // read by db:setup and the tests
// npm start and npm run migrate name each service's database (scripts/service-env.mjs).
for (const v of ['USER_SERVICE_DATABASE_URL', 'ORDER_SERVICE_DATABASE_URL', 'PAYMENT_SERVICE_DATABASE_URL']) declared.add(v);

const configSection = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## What every service answers'));
const documented = new Set([...configSection.matchAll(/^\| (.+?) \|/gm)].flatMap((m) => [...(m[1] ?? '').matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((v) => v[1] as string)));
const exampled = new Set([...envExample.matchAll(/^#? ?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1] as string));

describe('configuration docs', () => {
  it('when a service reads a variable, then the README table documents it', () => {
    expect([...declared].filter((v) => !documented.has(v))).toEqual([]);
  });

  it('when the README table names a variable, then some service reads it', () => {
    expect([...documented].filter((v) => !declared.has(v))).toEqual([]);
  });

  it('when .env.example sets a variable, then some service reads it', () => {
    expect([...exampled].filter((v) => !declared.has(v))).toEqual([]);
  });
});
