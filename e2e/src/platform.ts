import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, type JsonWebKey } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { Balancer } from './balancer';
import { AppProcess, APPS, distinctFreePorts, ROOT, type AppName } from './processes';

export type ServiceName = 'user' | 'order' | 'payment';
export const SERVICES: readonly ServiceName[] = ['user', 'order', 'payment'];
const APP_OF: Record<ServiceName, AppName> = { user: 'user-service', order: 'order-service', payment: 'payment-service' };

/**
 * Where the platform under test answers. Test files get it from E2E_TOPOLOGY, written by the
 * global setup, whether the setup started the processes itself or was given base URLs.
 */
export interface Topology {
  user: string[];
  order: string[];
  payment: string[];
  sandbox: string;
  /** Set when the harness started the processes: it then knows their keys and Redis. */
  local?: {
    redisUrl: string;
    /** REDIS_CLUSTER_NODES when the services run on a Redis Cluster (their keys are there, not at redisUrl). */
    redisClusterNodes?: string;
    mysqlAdminUrl: string;
    /** REDIS_KEY_PREFIX per service, and the shared auth and events prefixes. */
    prefixes: Record<ServiceName | 'auth' | 'events', string>;
    /** The private JWK user-service signs with, so tests can make expired or forged tokens. */
    signingKey: JsonWebKey & { kid: string };
  };
}

export function topologyFromEnv(): Topology {
  const raw = process.env['E2E_TOPOLOGY'];
  if (!raw) throw new Error('E2E_TOPOLOGY is not set: run the suite through its jest config (npm run test:e2e)');
  return JSON.parse(raw) as Topology;
}

const list = (value: string | undefined) => (value ?? '').split(',').map((s) => s.trim().replace(/\/$/, '')).filter(Boolean);

/** Base URLs of running instances (docker compose, a staging stack), or undefined when none are given. */
export function topologyFromBaseUrls(env = process.env): Topology | undefined {
  const [user, order, payment, sandbox] = ['E2E_USER_URLS', 'E2E_ORDER_URLS', 'E2E_PAYMENT_URLS', 'E2E_SANDBOX_URL'].map((k) => list(env[k]));
  const given = [user, order, payment, sandbox].filter((l) => l?.length);
  if (given.length === 0) return undefined;
  if (given.length < 4 || sandbox?.length !== 1) {
    throw new Error('Set all of E2E_USER_URLS, E2E_ORDER_URLS, E2E_PAYMENT_URLS (comma-separated) and E2E_SANDBOX_URL (one), or none');
  }
  return { user: user as string[], order: order as string[], payment: payment as string[], sandbox: sandbox[0] as string };
}

export interface PlatformOptions {
  /** Where the built apps are (buildApps' answer). */
  dist: string;
  /** Instances of each of user-, order- and payment-service; the sandbox is one (its ledger is in memory). */
  instances: number;
  mysqlAdminUrl: string;
  redisUrl: string;
  /**
   * Peers call each other's one instance straight, with no balancer in between (instances 1
   * only): a benchmark that counts the platform's CPU must not pay for the harness's proxy.
   */
  direct?: boolean;
  /** Settings for every process, then per app. */
  env?: Record<string, string>;
  appEnv?: Partial<Record<AppName, Record<string, string>>>;
}

/** `mysql://<account>:<account>@host:port/<account>` on the admin URL's server. */
export function serviceDatabaseUrl(mysqlAdminUrl: string, app: AppName): string {
  const account = app.replace('-', '_');
  const url = new URL(mysqlAdminUrl);
  Object.assign(url, { username: account, password: account, pathname: `/${account}` });
  return url.toString();
}

/**
 * Builds the apps as `npm start` does (`dist/apps`) and answers a copy of its own under tmp/,
 * which the run's processes start from: a later build (another run, a developer's) may then
 * replace dist/ while this run still restarts its instances. Under the repository, so that the
 * bundles' external packages still resolve from its node_modules.
 */
export function buildApps(): string {
  // e2e/run.mjs builds once for its passes and says so; a pass run on its own builds for itself.
  if (process.env['E2E_APPS_BUILT'] !== '1') {
    const built = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
    if (built.status !== 0) throw new Error(`build failed:\n${built.stdout}${built.stderr}`);
  }
  mkdirSync(join(ROOT, 'tmp'), { recursive: true });
  const dist = mkdtempSync(join(ROOT, 'tmp', 'e2e-apps-'));
  cpSync(join(ROOT, 'dist', 'apps'), dist, { recursive: true });
  return dist;
}

/** Schemas, accounts and migrations on the given MySQL, with the built migrate scripts. */
export function prepareDatabases(mysqlAdminUrl: string, dist: string): void {
  const tsx = require.resolve('tsx/cli', { paths: [ROOT] });
  const env = { ...process.env, MYSQL_ADMIN_URL: mysqlAdminUrl };
  const setup = spawnSync(process.execPath, [tsx, 'scripts/db-setup.ts'], { cwd: ROOT, env, encoding: 'utf8' });
  if (setup.status !== 0) throw new Error(`db:setup failed:\n${setup.stdout}${setup.stderr}`);
  for (const service of SERVICES) {
    const app = APP_OF[service];
    const migrate = spawnSync(process.execPath, [join(dist, app, 'migrate.js'), 'up'], {
      cwd: ROOT,
      env: { ...env, DATABASE_URL: serviceDatabaseUrl(mysqlAdminUrl, app), LOG_LEVEL: 'warn' },
      encoding: 'utf8',
    });
    if (migrate.status !== 0) throw new Error(`${app} migrations failed:\n${migrate.stdout}${migrate.stderr}`);
  }
}

/**
 * The four apps as real processes on free ports of 127.0.0.1, `instances` of each service,
 * against the given MySQL and Redis, under Redis prefixes of their own run. Peers reach
 * each other through a round-robin balancer per service; clients may use either.
 */
export class Platform {
  readonly processes: Record<AppName, AppProcess[]>;
  private readonly balancers: Balancer[] = [];
  readonly signingKey: JsonWebKey & { kid: string };
  readonly prefixes: NonNullable<Topology['local']>['prefixes'];
  /** What every app's environment holds (set by boot: the peers' balancers come first). */
  private common: Record<string, string> = {};

  private constructor(readonly opts: PlatformOptions) {
    const run = `e2e${randomBytes(4).toString('hex')}:`;
    this.prefixes = { user: `${run}user:`, order: `${run}order:`, payment: `${run}payment:`, auth: `${run}auth:`, events: `${run}events:` };
    const { privateKey } = generateKeyPairSync('ed25519');
    this.signingKey = { ...privateKey.export({ format: 'jwk' }), kid: `e2e-${run.slice(3, 11)}` };
    this.processes = Object.fromEntries(APPS.map((a) => [a, []])) as unknown as Record<AppName, AppProcess[]>;
  }

  static async start(opts: PlatformOptions): Promise<Platform> {
    const platform = new Platform(opts);
    try {
      await platform.boot();
    } catch (err) {
      await platform.stop();
      throw err;
    }
    return platform;
  }

  private async boot(): Promise<void> {
    const { opts } = this;
    if (opts.direct && opts.instances !== 1) throw new Error('direct peers need one instance of each service');
    const balance = async (app: AppName) => {
      const balancer = await new Balancer(() => this.processes[app].map((p) => p.url)).start();
      this.balancers.push(balancer);
      return balancer.url;
    };
    // Balancers first, so that no port handed out below is one they take afterwards.
    const balanced = opts.direct
      ? undefined
      : { USER_SERVICE_URL: await balance('user-service'), ORDER_SERVICE_URL: await balance('order-service'), PAYMENT_GATEWAY_URL: await balance('gateway-sandbox') };
    const count = (app: AppName) => (app === 'gateway-sandbox' ? 1 : opts.instances);
    // Asked for at once: one at a time, a released port could come back for a second process,
    // whose start would then fail while its twin answered the readiness check in its stead.
    const free = await distinctFreePorts(APPS.reduce((n, app) => n + count(app), 0));
    const ports = Object.fromEntries(APPS.map((app) => [app, free.splice(0, count(app))])) as Record<AppName, number[]>;
    const direct = (app: AppName) => `http://127.0.0.1:${ports[app][0]}`;
    const peers = balanced ?? { USER_SERVICE_URL: direct('user-service'), ORDER_SERVICE_URL: direct('order-service'), PAYMENT_GATEWAY_URL: direct('gateway-sandbox') };
    this.common = {
      LOG_LEVEL: 'warn',
      REDIS_URL: opts.redisUrl,
      AUTH_REDIS_KEY_PREFIX: this.prefixes.auth,
      EVENTS_REDIS_KEY_PREFIX: this.prefixes.events,
      // The test client stands in for a load balancer that names each simulated client.
      TRUST_PROXY: '127.0.0.1',
      // As a deployment sets it: the services vouch for the calls they make for a user's request.
      PEER_SECRET: randomBytes(32).toString('base64url'),
      ...peers,
      ...opts.env,
    };
    for (const app of APPS) {
      ports[app].forEach((port, i) => {
        const name = count(app) === 1 ? app : `${app}#${i + 1}`;
        this.processes[app].push(new AppProcess(app, name, join(opts.dist, app, 'main.js'), port, this.envOf(app)));
      });
    }
    // The sandbox and user-service first: the others fetch the JWKS and call their peers.
    for (const group of [['gateway-sandbox', 'user-service'], ['order-service'], ['payment-service']] as AppName[][]) {
      await Promise.all(group.flatMap((app) => this.processes[app].map((p) => p.start(60_000))));
    }
  }

  /** The environment an instance of `app` is started with, `overrides` last (e.g. another schema for one more instance). */
  envOf(app: AppName, overrides: Record<string, string> = {}): Record<string, string> {
    const { opts } = this;
    if (app === 'gateway-sandbox') return { ...this.common, ...opts.appEnv?.[app], ...overrides };
    const service = app.split('-')[0] as ServiceName;
    const own: Record<string, string> = { DATABASE_URL: serviceDatabaseUrl(opts.mysqlAdminUrl, app), REDIS_KEY_PREFIX: this.prefixes[service] };
    if (app === 'user-service') own['JWT_SIGNING_KEYS'] = JSON.stringify([this.signingKey]);
    return { ...this.common, ...own, ...opts.appEnv?.[app], ...overrides };
  }

  get all(): AppProcess[] {
    return APPS.flatMap((a) => this.processes[a]);
  }

  topology(): Topology {
    const urls = (app: AppName) => this.processes[app].map((p) => p.url);
    return {
      user: urls('user-service'),
      order: urls('order-service'),
      payment: urls('payment-service'),
      sandbox: urls('gateway-sandbox')[0] as string,
      local: {
        redisUrl: this.opts.redisUrl,
        redisClusterNodes: this.opts.env?.['REDIS_CLUSTER_NODES'],
        mysqlAdminUrl: this.opts.mysqlAdminUrl,
        prefixes: this.prefixes,
        signingKey: this.signingKey,
      },
    };
  }

  /** Crashes nobody asked for, one line each. */
  crashes(): string[] {
    return this.all.flatMap((p) => p.unexpectedExits);
  }

  /**
   * SIGTERM to every process; answers what went wrong: a process that had crashed, or one
   * that did not exit 0 (the contract's graceful shutdown).
   */
  async stop(): Promise<string[]> {
    const problems = this.crashes();
    const codes = await Promise.all(
      this.all.map(async (p) => {
        if (!p.running) return undefined;
        const code = await Promise.race([p.stop(), new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 20_000).unref())]);
        if (code === 'timeout') await p.kill();
        return code === 0 ? undefined : `${p.name} exited with ${code} on SIGTERM:\n${p.output(20)}`;
      }),
    );
    await Promise.all(this.balancers.map((b) => b.stop()));
    return [...problems, ...codes.filter((c): c is string => c !== undefined)];
  }
}
