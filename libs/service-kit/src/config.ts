import { Type, type Static, type TObject, type TProperties } from '@sinclair/typebox';
import { config as loadDotenv } from 'dotenv';
import envSchema, { type EnvSchemaOpt as EnvSchemaOptions } from 'env-schema';

/**
 * Configuration comes from environment variables only, validated once at start.
 * Each service composes its schema from the fragments below, so a variable means
 * the same thing in every service that reads it (CONTRACT.md, "Processes and ports").
 */

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

/*
 * A patterned variable carries a `description` of what it allows: a bad value's message
 * shows it instead of the regular expression.
 */
const Url = (protocols: string[], def?: string) =>
  Type.String({
    pattern: `^(${protocols.join('|')})://[^\\s]+$`,
    description: `a ${protocols.map((p) => `${p}://`).join(' or ')} URL`,
    ...(def === undefined ? {} : { default: def }),
  });

/** A Redis key prefix (REDIS_KEY_PREFIX, AUTH_REDIS_KEY_PREFIX, EVENTS_REDIS_KEY_PREFIX). */
export const KeyPrefix = (def: string) =>
  Type.String({ pattern: '^[A-Za-z0-9._:-]{1,64}$', description: '1 to 64 of the characters A-Z a-z 0-9 . _ : -', default: def });

const LogLevel = Type.Union(
  ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
  { default: 'info' },
);

export const serverEnv = (port: number) => ({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: port }),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  LOG_LEVEL: LogLevel,
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 10_000 }),
  REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 30_000 }),
  /**
   * Which peers may name the client in X-Forwarded-For (the address that per-IP rate limits
   * count): `false` (none, the default), `true` (any), a hop count, or addresses and CIDRs.
   */
  TRUST_PROXY: Type.String({
    pattern: '^(true|false|\\d{1,2}|[0-9A-Fa-f.:/]+(,\\s*[0-9A-Fa-f.:/]+)*)$',
    description: 'false, true, a hop count, or comma-separated addresses and CIDRs',
    default: 'false',
  }),
});

/** TRUST_PROXY as Fastify's `trustProxy` option. */
export function trustProxyOption(value: string): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (value === 'true' || value === 'false') return value === 'true';
  if (!/^\d+$/.test(value)) return value.split(',').map((s) => s.trim());
  // A hop count: the nearest `hops` addresses are proxies (what proxy-addr does with a number).
  const hops = Number(value);
  return (_address, hop) => hop < hops;
}

/** Where MySQL and Redis are when nothing is set: `npm start`, `npm test` and every service agree. */
export const DEFAULT_MYSQL_ADMIN_URL = 'mysql://root@127.0.0.1:3306';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** The admin connection that creates the schemas and accounts (`npm run db:setup`, `npm start`, tests). */
export const mysqlAdminEnv = () => ({ MYSQL_ADMIN_URL: Url(['mysql'], DEFAULT_MYSQL_ADMIN_URL) });

export const mysqlEnv = (schema: string) => ({
  DATABASE_URL: Url(['mysql'], `mysql://${schema}:${schema}@127.0.0.1:3306/${schema}`),
  DB_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 500, default: 10 }),
  DB_CONNECT_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 1_000 }),
  DB_QUERY_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 1_000 }),
  DB_ACQUIRE_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 1_000 }),
  /**
   * Read replicas of the same schema, reached with the same account (ADR 0020): reads that may be
   * served from one go to a replica that lags at most DB_REPLICA_MAX_LAG_MS; unset, all go to DATABASE_URL.
   */
  DATABASE_REPLICA_URLS: Type.Optional(
    Type.String({ pattern: '^mysql://[^\\s,]+(,\\s*mysql://[^\\s,]+)*$', description: 'comma-separated mysql:// URLs' }),
  ),
  /** A replica further behind the primary than this is skipped, and read-your-writes holds for this long after a write. */
  DB_REPLICA_MAX_LAG_MS: Type.Integer({ minimum: 200, maximum: 60_000, default: 1_000 }),
});

const HostPorts = () => Type.String({ pattern: '^[^\\s,:]+:\\d+(,[^\\s,:]+:\\d+)*$', description: 'comma-separated host:port pairs' });

export const redisEnv = (prefix: string) => ({
  /** With REDIS_SENTINELS, only its credentials, database and scheme (rediss: TLS) count: Sentinel names the host. */
  REDIS_URL: Url(['redis', 'rediss'], DEFAULT_REDIS_URL),
  REDIS_CLUSTER_NODES: Type.Optional(HostPorts()),
  /** Sentinels to ask where the primary of REDIS_SENTINEL_NAME is, instead of REDIS_URL's host. */
  REDIS_SENTINELS: Type.Optional(HostPorts()),
  REDIS_SENTINEL_NAME: Type.String({ default: 'mymaster' }),
  /** The sentinels' own password (their requirepass), when they have one. */
  REDIS_SENTINEL_PASSWORD: Type.Optional(Type.String()),
  REDIS_KEY_PREFIX: KeyPrefix(prefix),
  REDIS_COMMAND_TIMEOUT_MS: Type.Integer({ minimum: 10, default: 500 }),
  REDIS_CONNECT_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 1_000 }),
});

export const rateLimitEnv = () => ({
  RATE_LIMIT_MAX: Type.Integer({ minimum: 1, default: 100 }),
  RATE_LIMIT_WINDOW_SECONDS: Type.Integer({ minimum: 1, default: 60 }),
});

export const revocationEnv = () => ({
  REVOCATION_FAIL_MODE: Type.Union([Type.Literal('open'), Type.Literal('closed')], { default: 'closed' }),
});

/** PEER_SECRET: what the services share to vouch for the calls they make for a user's request (libs/request-pipeline peer.ts). */
export const peerSecretEnv = () => ({
  PEER_SECRET: Type.Optional(
    Type.String({
      pattern: '^[A-Za-z0-9._~+/=-]{32,}(,[A-Za-z0-9._~+/=-]{32,})*$',
      description: 'a secret of 32 or more characters (letters, digits and ._~+/=-), or several comma-separated during a rotation, the first sent',
    }),
  ),
});

export const peerEnv = {
  USER_SERVICE_URL: () => ({ USER_SERVICE_URL: Url(['http', 'https'], 'http://127.0.0.1:3001') }),
  ORDER_SERVICE_URL: () => ({ ORDER_SERVICE_URL: Url(['http', 'https'], 'http://127.0.0.1:3002') }),
  PAYMENT_GATEWAY_URL: () => ({ PAYMENT_GATEWAY_URL: Url(['http', 'https'], 'http://127.0.0.1:3009') }),
};

/**
 * The bounds of a call to another service (user-service's JWKS, order-service), each wait on
 * its own: a request that needs an unreachable peer answers 503 within about one of them
 * (CONTRACT.md, "When parts fail": 503 within 2 s).
 */
export const peerTimeoutEnv = () => ({
  /** Opening a connection to a peer. */
  PEER_CONNECT_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 60_000, default: 1_000 }),
  /** Waiting for a peer's response headers, and then for each piece of its body. */
  PEER_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 60_000, default: 1_000 }),
});

type AjvError = {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
  /** With ajv's `verbose`: the schema that holds the failing keyword. */
  parentSchema?: { description?: string; anyOf?: { const?: unknown }[] };
};

/** A URL's password never reaches stderr, even in a message about a bad value (every URL of a list). */
function withoutPassword(value: unknown): unknown {
  return typeof value === 'string' ? value.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s,]*):[^@\s,]*@/gi, '$1:***@') : value;
}

/** What a value may be, in words: the choices of a union of literals, a pattern's description, or ajv's message. */
function allowed(error: AjvError): string {
  const choices = error.parentSchema?.anyOf?.map((s) => s.const);
  if (error.keyword === 'anyOf' && choices?.every((c) => c !== undefined)) return `must be one of ${choices.join(', ')}`;
  if (error.keyword === 'pattern' && error.parentSchema?.description) return `must be ${error.parentSchema.description}`;
  return error.message ?? 'is invalid';
}

function describe(error: AjvError, env: Record<string, unknown>): string {
  if (error.keyword === 'required') {
    return `${String(error.params['missingProperty'])} is required but not set`;
  }
  const name = error.instancePath.replace(/^\//, '');
  return `${name} ${allowed(error)} (got ${JSON.stringify(withoutPassword(env[name]))})`;
}

/** A union of literals fails once per literal (`const`) and once as a whole (`anyOf`): only the whole is told. */
function told(errors: AjvError[]): AjvError[] {
  const unions = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  return errors.filter((e) => (e.keyword === 'const' ? !unions.has(e.instancePath) : true));
}

/**
 * What no single variable's schema can say: which Redis topology is meant, when variables of two are set.
 * Empty strings count as unset, as for the variables themselves (an unset optional is absent).
 */
function crossProblems(env: Record<string, unknown>): string[] {
  const set = (name: string) => typeof env[name] === 'string' && (env[name] as string) !== '';
  const problems: string[] = [];
  if (set('REDIS_SENTINELS') && set('REDIS_CLUSTER_NODES')) {
    problems.push('REDIS_SENTINELS and REDIS_CLUSTER_NODES are both set: set one (Sentinel or Cluster), not both');
  }
  if (set('REDIS_SENTINELS') && env['REDIS_SENTINEL_NAME'] !== undefined && !set('REDIS_SENTINEL_NAME')) {
    problems.push('REDIS_SENTINELS is set but REDIS_SENTINEL_NAME is empty: name the master group the sentinels watch (default mymaster)');
  }
  return problems;
}

/**
 * env-schema's own Ajv settings, plus `verbose`, so an error carries the schema that failed
 * (choices, descriptions). Options as an object are documented in env-schema's README; its
 * types know only the function form.
 */
const VERBOSE_AJV = { customOptions: { verbose: true } } as unknown as EnvSchemaOptions['ajv'];

/**
 * Validates `env` against `schema`, applying defaults and coercing strings to the
 * declared types. Throws a ConfigError whose message names every bad variable.
 */
export function loadConfig<P extends TProperties>(
  schema: TObject<P>,
  env: Record<string, string | undefined> = process.env,
  options: { dotenv?: boolean } = {},
): Static<TObject<P>> {
  // A local .env fills in what the environment leaves unset; it never overrides it.
  if (options.dotenv) loadDotenv({ processEnv: env as Record<string, string>, quiet: true });
  const data = { ...env };
  const cross = crossProblems(Object.fromEntries(Object.entries(data).filter(([name]) => name in schema.properties)));
  let config: Static<TObject<P>>;
  try {
    // env: false, or env-schema would read process.env beneath `env`, whatever the caller passed.
    config = envSchema<Static<TObject<P>>>({ schema, data, dotenv: false, env: false, ajv: VERBOSE_AJV });
  } catch (err) {
    const errors = (err as { errors?: AjvError[] }).errors;
    if (!errors) throw err;
    const problems = [...new Set(told(errors).map((e) => describe(e, data)))];
    throw new ConfigError([...problems, ...cross]);
  }
  if (cross.length > 0) throw new ConfigError(cross);
  return config;
}
