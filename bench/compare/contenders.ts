import { join } from 'node:path';
import { startNodeApp, type Baseline } from '../http/baseline';
import type { Cleanup } from '../http/platform';
import { urlOf } from '../http/platform';
import { emptySchema, type Contender } from '../cpu/contenders';
import type { Watched } from '../cpu/proc';
import type { Runner } from '../cpu/rounds';

/**
 * bench:compare's contenders besides the platform (bench:cpu's Contender, the working tree's
 * build): the reference apps of bench/references and the bare Fastify baseline of bench:http,
 * each a process of its own started from its source (`node --import tsx`, one process whose
 * CPU is its pid's), on a schema of its own, verifying the platform's user-service tokens with
 * the key of its JWKS; and the count of internal HTTP calls, from the platform's own metrics.
 */

export interface Reference extends Runner {
  url: string;
  databaseUrl: string;
  /** The same process, seen without the sandbox (the essential reference's order reads). */
  alone(label: string): Runner;
}

const REFERENCES = join(__dirname, '../references');

function runnerOf(label: string, app: Baseline, extra: () => Watched[]): Runner {
  return {
    label,
    processes: () => [{ name: label, group: 'services', pid: app.pid }, ...extra()],
    assertUp: () => {
      if (!app.running()) throw new Error(`${label} has exited (its output is above)`);
    },
    // Their output goes to the bench's own.
    lastLines: () => '',
  };
}

/**
 * `usual-recipe.ts` (tuned: REFERENCE_TUNED=1) or `essential-payment.ts` (which charges at the
 * platform's sandbox; its rounds count the sandbox's CPU too), on the platform's Redis and MariaDB.
 */
export async function startReference(
  file: 'usual-recipe.ts' | 'essential-payment.ts',
  label: string,
  platform: Contender,
  opts: { admin: URL; redisUrl: string; cleanup: Cleanup; tuned?: boolean },
): Promise<Reference> {
  const schema = `bench_ref_${label.replace(/\W+/g, '_')}`;
  const databaseUrl = await emptySchema(opts.admin, schema, opts.cleanup);
  const p = platform.platform;
  const sandbox = file === 'essential-payment.ts';
  const env: Record<string, string> = {
    DATABASE_URL: databaseUrl,
    REDIS_URL: opts.redisUrl,
    JWKS_URL: `${urlOf(p, 'user-service')}/.well-known/jwks.json`,
    REFERENCE_KEY_PREFIX: `${p.prefixes.order}ref:${schema}:`,
    REFERENCE_TUNED: opts.tuned ? '1' : '0',
    ...(sandbox ? { PAYMENT_GATEWAY_URL: urlOf(p, 'gateway-sandbox') } : {}),
  };
  const app = await startNodeApp(join(REFERENCES, file), label, env, '/health');
  opts.cleanup(() => app.stop());
  const sandboxProcess = (): Watched[] => p.processes['gateway-sandbox'].map((s) => ({ name: 'gateway-sandbox', group: 'services', pid: s.pid as number }));
  const runner = runnerOf(label, app, sandbox ? sandboxProcess : () => []);
  return { ...runner, url: app.url, databaseUrl, alone: (l) => ({ ...runnerOf(label, app, () => []), label: l }) };
}

/**
 * The bare Fastify app of bench:http answering `body` to every GET /v1/orders/:id; with
 * `redisUrl`, reading it from Redis with one GET per request first (the floor of a read).
 */
export async function startBare(label: string, body: string, cleanup: Cleanup, redisUrl?: string): Promise<Runner & { url: string }> {
  const env = { BENCH_BASELINE_BODY: body, ...(redisUrl ? { BENCH_BASELINE_REDIS_URL: redisUrl } : {}) };
  const app = await startNodeApp(join(__dirname, '../http/baseline-server.ts'), label, env);
  cleanup(() => app.stop());
  return { ...runnerOf(label, app, () => []), url: app.url };
}

/** A request the load sends to the platform, which is not an internal call. */
export interface Public {
  app: 'order-service' | 'payment-service';
  method: 'GET' | 'POST';
  route: string;
}

const COUNT_LINE = /^http_request_duration_seconds_count\{([^}]*)\} (\d+(?:\.\d+)?(?:e[+-]?\d+)?)$/gm;
const label = (labels: string, name: string) => new RegExp(`${name}="([^"]*)"`).exec(labels)?.[1] ?? '';

/**
 * Requests the platform's four processes have answered so far, from each one's own
 * `http_request_duration_seconds_count` (every answered request, by method, route and status):
 * `calls`, all but the load's own (`load`, at its app), `/metrics` and `/health*`, i.e. what the
 * services asked of each other and of the sandbox provider (`byRoute`: by app, method, route and
 * status); `served`, the load's own 2xx answers.
 * Read between rounds, never during one.
 */
export async function internalCalls(platform: Contender, load?: Public): Promise<{ calls: number; served?: number; byRoute: Map<string, number> }> {
  let calls = 0;
  let served = 0;
  const byRoute = new Map<string, number>();
  for (const p of platform.platform.all) {
    const text = await (await fetch(`${p.url}/metrics`)).text();
    for (const [, labels = '', n] of text.matchAll(COUNT_LINE)) {
      const route = label(labels, 'route');
      if (route === '/metrics' || route.startsWith('/health')) continue;
      if (load && p.app === load.app && label(labels, 'method') === load.method && route === load.route) {
        if (label(labels, 'status_code').startsWith('2')) served += Number(n);
      } else {
        calls += Number(n);
        const key = `${p.app} ${label(labels, 'method')} ${route} ${label(labels, 'status_code')}`;
        byRoute.set(key, (byRoute.get(key) ?? 0) + Number(n));
      }
    }
  }
  return load ? { calls, served, byRoute } : { calls, byRoute };
}
