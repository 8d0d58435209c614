/**
 * Do the references answer as the platform does? Starts user-service (for real tokens and its
 * JWKS) and the sandbox provider as the benches start them, then each reference on a free port
 * and a schema of its own: creates an order, reads it, checks that another user gets a 404; for
 * the essential-work reference, pays the order once (tok_visa) and waits until the order reads
 * PAID, and checks that the same Idempotency-Key answers the same payment. Exits 1 on the first
 * wrong answer. Needs MySQL at MYSQL_ADMIN_URL and redis-server on the path (or BENCH_REDIS_URL),
 * as the benches do; about 20 s. Not part of `npm test` (it starts four processes).
 *
 *   npx tsx bench/references/smoke.ts
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { OrderView } from '@platform/contracts';
import { adminQuery, freePorts, startServiceProcess } from '@platform/testing';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { adminUrl } from '../orders/schema';
import { call, signUp, type Answer } from '../payments/client';
import { benchRedis } from '../redis/server';

const ROOT = join(__dirname, '../..');
const run = randomUUID().slice(0, 8);
const closers: (() => Promise<unknown>)[] = [];
/** order-service's own answer schema, strict: a member it does not declare is a failure. */
const ajv = new Ajv({ strict: false });
addFormats(ajv);
const isOrderView = ajv.compile(OrderView);

function check(what: string, ok: boolean, answer?: Answer): void {
  if (!ok) throw new Error(`${what}: ${answer ? `${answer.status} ${JSON.stringify(answer.body)}` : 'no'}`);
  console.log(`ok  ${what}`);
}

async function schema(label: string): Promise<string> {
  const name = `bench_ref_${run}_${label}`;
  await adminQuery(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`, adminUrl());
  closers.push(() => adminQuery(`DROP DATABASE IF EXISTS \`${name}\``, adminUrl()));
  const url = adminUrl();
  url.pathname = `/${name}`;
  return url.toString();
}

/** A reference as a process of its own, from its source with tsx; resolves once /health answers. */
async function startReference(file: string, env: Record<string, string>): Promise<string> {
  const [port] = (await freePorts(1)) as [number];
  const child = spawn(process.execPath, [require.resolve('tsx/cli'), join(ROOT, 'bench/references', file)], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  closers.push(async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    const code = await exited;
    if (code !== 0) throw new Error(`${file} exited with ${code} on SIGTERM`);
  });
  const url = `http://127.0.0.1:${port}`;
  for (const deadline = Date.now() + 30_000; ; ) {
    if (child.exitCode !== null) throw new Error(`${file} exited with ${child.exitCode}`);
    if ((await fetch(`${url}/health`).catch(() => undefined))?.status === 200) return url;
    if (Date.now() > deadline) throw new Error(`${file} was not ready within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const ORDER = { currency: 'EUR', items: [{ sku: 'SMOKE-1', name: 'Tea, 250 g', unitPrice: 1_999, quantity: 2 }, { sku: 'SMOKE-2', name: 'Cup', unitPrice: 500, quantity: 1 }] };

/** POST, GET twice (a miss, then the cache), another user's GET (404), an unknown id (404), no token (401). */
async function ordersAnswer(name: string, url: string, token: string, other: string): Promise<string> {
  const created = await call(`${url}/v1/orders`, { token, body: ORDER });
  check(
    `${name}: POST /v1/orders 201, order-service's OrderView, total and status right`,
    created.status === 201 && isOrderView(created.body) && created.body['totalAmount'] === 4_498 && created.body['status'] === 'PENDING',
    created,
  );
  const id = created.body['id'] as string;
  for (const round of ['first', 'cached']) {
    const read = await call(`${url}/v1/orders/${id}`, { token });
    check(`${name}: GET /v1/orders/:id (${round}) answers what was created`, read.status === 200 && JSON.stringify(read.body) === JSON.stringify(created.body), read);
  }
  const foreign = await call(`${url}/v1/orders/${id}`, { token: other });
  check(`${name}: another user's read is a 404`, foreign.status === 404 && foreign.body['code'] === 'NOT_FOUND', foreign);
  const unknown = await call(`${url}/v1/orders/${randomUUID()}`, { token });
  check(`${name}: an unknown id is a 404`, unknown.status === 404, unknown);
  const anonymous = await call(`${url}/v1/orders/${id}`);
  check(`${name}: no token is a 401`, anonymous.status === 401, anonymous);
  return id;
}

async function main(): Promise<void> {
  const redis = await benchRedis();
  closers.push(() => redis.stop());
  const shared = { REDIS_URL: redis.url, AUTH_REDIS_KEY_PREFIX: `ref:${run}:auth:`, LOG_LEVEL: 'warn' };
  const start = async (service: string, env: Record<string, string>, migrate: boolean) => {
    const started = await startServiceProcess({ service, env, migrate, readyTimeoutMs: 60_000 });
    closers.push(() => started.stop());
    return started;
  };
  const [users, sandbox] = await Promise.all([
    schema('user').then((url) => start('user-service', { ...shared, DATABASE_URL: url, REDIS_KEY_PREFIX: `ref:${run}:user:` }, true)),
    start('gateway-sandbox', { GATEWAY_LATENCY_MS: '0', GATEWAY_FAILURE_RATE: '0' }, false),
  ]);
  const [token, other] = await Promise.all([signUp(users.url, run, 1), signUp(users.url, run, 2)]);
  const common = { REDIS_URL: redis.url, JWKS_URL: `${users.url}/.well-known/jwks.json` };

  for (const tuned of ['0', '1']) {
    const name = tuned === '1' ? 'usual recipe (tuned)' : 'usual recipe';
    const url = await startReference('usual-recipe.ts', { ...common, DATABASE_URL: await schema(`recipe${tuned}`), REFERENCE_KEY_PREFIX: `ref:${run}:recipe${tuned}:`, REFERENCE_TUNED: tuned });
    await ordersAnswer(name, url, token, other);
  }

  const url = await startReference('essential-payment.ts', {
    ...common,
    DATABASE_URL: await schema('essential'),
    REFERENCE_KEY_PREFIX: `ref:${run}:essential:`,
    PAYMENT_GATEWAY_URL: sandbox.url,
  });
  const orderId = await ordersAnswer('essential', url, token, other);
  const body = { orderId, paymentMethod: { type: 'card', token: 'tok_visa' } };
  const key = randomUUID();
  const paid = await call(`${url}/v1/payments`, { token, key, body });
  check('essential: POST /v1/payments SUCCEEDED for the order total', paid.status === 201 && paid.body['status'] === 'SUCCEEDED' && paid.body['amount'] === 4_498, paid);
  const again = await call(`${url}/v1/payments`, { token, key, body });
  check('essential: the same Idempotency-Key answers the same payment', again.status === 201 && again.body['id'] === paid.body['id'], again);
  const charges = await call(`${sandbox.url}/v1/charges?orderId=${orderId}`);
  check('essential: the provider holds exactly one charge', (charges.body['data'] as unknown[]).length === 1, charges);
  let status = '';
  for (const deadline = Date.now() + 5_000; status !== 'PAID' && Date.now() < deadline; ) {
    status = (await call(`${url}/v1/orders/${orderId}`, { token })).body['status'] as string;
    if (status !== 'PAID') await new Promise((resolve) => setTimeout(resolve, 50));
  }
  check('essential: the order reads PAID (the consumer applied the event and dropped the cache entry)', status === 'PAID');
  const twice = await call(`${url}/v1/payments`, { token, key: randomUUID(), body });
  check('essential: a second payment of a paid order is refused', twice.status === 409, twice);
}

main()
  .then(
    () => 0,
    (err: unknown) => {
      console.error(err);
      return 1;
    },
  )
  .then(async (code) => {
    let exit = code;
    for (const close of closers.reverse()) {
      await close().catch((err: unknown) => {
        console.error(err);
        exit = 1;
      });
    }
    if (exit === 0) console.log('every reference answered as the platform does');
    process.exit(exit);
  });
