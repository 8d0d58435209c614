import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type, type TObject } from '@sinclair/typebox';
import { ConfigError, loadConfig, mysqlEnv, peerEnv, rateLimitEnv, redisEnv, revocationEnv, serverEnv } from './config';

/** A service's schema as the apps compose it, from every shared fragment. */
const ServiceSchema = Type.Object({
  ...serverEnv(3002),
  ...mysqlEnv('order_service'),
  ...redisEnv('order'),
  ...rateLimitEnv(),
  ...revocationEnv(),
  ...peerEnv.USER_SERVICE_URL(),
  ...peerEnv.ORDER_SERVICE_URL(),
  ...peerEnv.PAYMENT_GATEWAY_URL(),
});

function configError(env: Record<string, string>, schema: TObject = ServiceSchema): ConfigError {
  try {
    loadConfig(schema, env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('when nothing is set, then every variable takes its documented default', () => {
    expect(loadConfig(ServiceSchema, {})).toEqual({
      PORT: 3002,
      HOST: '0.0.0.0',
      LOG_LEVEL: 'info',
      SHUTDOWN_TIMEOUT_MS: 10_000,
      TRUST_PROXY: 'false',
      REQUEST_TIMEOUT_MS: 30_000,
      DATABASE_URL: 'mysql://order_service:order_service@127.0.0.1:3306/order_service',
      DB_POOL_SIZE: 10,
      DB_CONNECT_TIMEOUT_MS: 1_000,
      DB_QUERY_TIMEOUT_MS: 1_000,
      DB_ACQUIRE_TIMEOUT_MS: 1_000,
      DB_REPLICA_MAX_LAG_MS: 1_000,
      REDIS_URL: 'redis://127.0.0.1:6379',
      REDIS_KEY_PREFIX: 'order',
      REDIS_SENTINEL_NAME: 'mymaster',
      REDIS_COMMAND_TIMEOUT_MS: 500,
      REDIS_CONNECT_TIMEOUT_MS: 1_000,
      RATE_LIMIT_MAX: 100,
      RATE_LIMIT_WINDOW_SECONDS: 60,
      REVOCATION_FAIL_MODE: 'closed',
      USER_SERVICE_URL: 'http://127.0.0.1:3001',
      ORDER_SERVICE_URL: 'http://127.0.0.1:3002',
      PAYMENT_GATEWAY_URL: 'http://127.0.0.1:3009',
    });
  });

  it('when sentinels are set, then they and the master group name are read; with cluster nodes too, or with an empty name, a ConfigError names both variables', () => {
    const config = loadConfig(ServiceSchema, { REDIS_SENTINELS: 's1:26379,s2:26379', REDIS_SENTINEL_NAME: 'orders', REDIS_SENTINEL_PASSWORD: 'pw' });
    expect(config).toMatchObject({ REDIS_SENTINELS: 's1:26379,s2:26379', REDIS_SENTINEL_NAME: 'orders', REDIS_SENTINEL_PASSWORD: 'pw' });
    expect(configError({ REDIS_SENTINELS: 's1:26379', REDIS_CLUSTER_NODES: 'n1:7000' }).problems).toEqual([
      'REDIS_SENTINELS and REDIS_CLUSTER_NODES are both set: set one (Sentinel or Cluster), not both',
    ]);
    expect(configError({ REDIS_SENTINELS: 's1:26379', REDIS_SENTINEL_NAME: '' }).problems).toEqual([
      'REDIS_SENTINELS is set but REDIS_SENTINEL_NAME is empty: name the master group the sentinels watch (default mymaster)',
    ]);
    expect(configError({ REDIS_SENTINELS: 's1', REDIS_CLUSTER_NODES: 'n1:7000' }).problems).toEqual([
      'REDIS_SENTINELS must be comma-separated host:port pairs (got "s1")',
      'REDIS_SENTINELS and REDIS_CLUSTER_NODES are both set: set one (Sentinel or Cluster), not both',
    ]);
  });

  it('when integers arrive as strings, then they are coerced to numbers', () => {
    const config = loadConfig(ServiceSchema, { PORT: '3100', RATE_LIMIT_MAX: '5', DB_POOL_SIZE: '20' });
    expect(config.PORT).toBe(3100);
    expect(config.RATE_LIMIT_MAX).toBe(5);
    expect(config.DB_POOL_SIZE).toBe(20);
  });

  it('when valid values are set, then they replace the defaults', () => {
    const config = loadConfig(ServiceSchema, {
      HOST: '127.0.0.1',
      LOG_LEVEL: 'debug',
      REVOCATION_FAIL_MODE: 'open',
      REDIS_URL: 'rediss://cache.example:6380',
      REDIS_CLUSTER_NODES: 'node-a:7000,node-b:7001',
      DATABASE_URL: 'mysql://u:p@db.example:3307/orders',
      USER_SERVICE_URL: 'https://users.example',
    });
    expect(config).toMatchObject({
      HOST: '127.0.0.1',
      LOG_LEVEL: 'debug',
      REVOCATION_FAIL_MODE: 'open',
      REDIS_URL: 'rediss://cache.example:6380',
      REDIS_CLUSTER_NODES: 'node-a:7000,node-b:7001',
      DATABASE_URL: 'mysql://u:p@db.example:3307/orders',
      USER_SERVICE_URL: 'https://users.example',
    });
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['PORT', '3.5'],
    ['PORT', ''],
    ['REVOCATION_FAIL_MODE', 'maybe'],
    ['DATABASE_URL', 'http://x'],
    ['REDIS_URL', 'mysql://127.0.0.1:6379'],
    ['REDIS_CLUSTER_NODES', 'node-a:7000,node-b'],
    ['LOG_LEVEL', 'loud'],
    ['USER_SERVICE_URL', 'ftp://users.example'],
    ['RATE_LIMIT_MAX', '0'],
    ['DB_POOL_SIZE', '501'],
    ['DATABASE_REPLICA_URLS', 'mysql://r1:3306/o,http://r2/o'],
    ['DATABASE_REPLICA_URLS', 'mysql://r1:3306/o,'],
    ['DB_REPLICA_MAX_LAG_MS', '100'],
  ])('when %s=%j, then a ConfigError names that variable', (name, value) => {
    const err = configError({ [name]: value });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('ConfigError');
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(new RegExp(`^${name} `));
    expect(err.message).toContain(name);
  });

  it.each([
    ['LOG_LEVEL', 'loud', 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "loud")'],
    ['REVOCATION_FAIL_MODE', 'maybe', 'REVOCATION_FAIL_MODE must be one of open, closed (got "maybe")'],
    ['DATABASE_URL', 'http://x', 'DATABASE_URL must be a mysql:// URL (got "http://x")'],
    ['REDIS_URL', 'mysql://127.0.0.1:6379', 'REDIS_URL must be a redis:// or rediss:// URL (got "mysql://127.0.0.1:6379")'],
    ['REDIS_CLUSTER_NODES', 'node-a:7000,node-b', 'REDIS_CLUSTER_NODES must be comma-separated host:port pairs (got "node-a:7000,node-b")'],
    ['REDIS_KEY_PREFIX', 'a b', 'REDIS_KEY_PREFIX must be 1 to 64 of the characters A-Z a-z 0-9 . _ : - (got "a b")'],
    ['TRUST_PROXY', 'maybe', 'TRUST_PROXY must be false, true, a hop count, or comma-separated addresses and CIDRs (got "maybe")'],
    ['PORT', '70000', 'PORT must be <= 65535 (got "70000")'],
  ])('when %s=%j, then the message says what is allowed', (name, value, message) => {
    expect(configError({ [name]: value }).problems).toEqual([message]);
  });

  it("when a bad URL carries a password, then the message names the variable but masks the password", () => {
    const err = configError({ DATABASE_URL: 'postgres://order_service:s3cret-pw@db:5432/order_service' });
    expect(err.message).toMatch(/DATABASE_URL must be a mysql:\/\/ URL/);
    expect(err.message).toContain('order_service:***@db');
    expect(err.message).not.toContain('s3cret-pw');
  });

  it('when replicas are listed, then the list is taken as written, and a bad one masks every password in its message', () => {
    const urls = 'mysql://o:pw1@replica-1:3306/order_service, mysql://o:pw2@replica-2:3306/order_service';
    expect(loadConfig(ServiceSchema, { DATABASE_REPLICA_URLS: urls, DB_REPLICA_MAX_LAG_MS: '2500' })).toMatchObject({
      DATABASE_REPLICA_URLS: urls,
      DB_REPLICA_MAX_LAG_MS: 2_500,
    });
    const err = configError({ DATABASE_REPLICA_URLS: 'mysql://o:pw1@replica-1/o,redis://o:pw2@replica-2/o' });
    expect(err.problems).toEqual(['DATABASE_REPLICA_URLS must be comma-separated mysql:// URLs (got "mysql://o:***@replica-1/o,redis://o:***@replica-2/o")']);
  });

  it('when several variables are bad, then every one of them is named', () => {
    const err = configError({ PORT: 'abc', REVOCATION_FAIL_MODE: 'maybe', DATABASE_URL: 'http://x', HOST: '127.0.0.1' });
    expect(err.problems).toHaveLength(3);
    for (const name of ['PORT', 'REVOCATION_FAIL_MODE', 'DATABASE_URL']) {
      expect(err.problems.some((p) => p.startsWith(`${name} `))).toBe(true);
      expect(err.message).toContain(name);
    }
    expect(err.message).not.toContain('HOST');
  });

  it('when a required variable is missing, then the error says it is not set', () => {
    const schema = Type.Object({ ...serverEnv(3000), JWT_ISSUER: Type.String({ minLength: 1 }) });
    const err = configError({ PORT: '3000' }, schema);
    expect(err.problems).toEqual(['JWT_ISSUER is required but not set']);
  });

  it('when an env object is given, then process.env is not read beneath it', () => {
    const before = process.env['PORT'];
    process.env['PORT'] = '1234';
    try {
      expect(loadConfig(ServiceSchema, {}).PORT).toBe(3002);
    } finally {
      if (before === undefined) delete process.env['PORT'];
      else process.env['PORT'] = before;
    }
  });

  it('when the env holds variables the schema does not declare, then they are left out and the env is not changed', () => {
    const env = { PORT: '3100', UNRELATED_SECRET: 'x' };
    const config = loadConfig(ServiceSchema, env);
    expect(config).not.toHaveProperty('UNRELATED_SECRET');
    expect(env).toEqual({ PORT: '3100', UNRELATED_SECRET: 'x' });
  });

  describe('with a .env file in the working directory', () => {
    const cwd = process.cwd();
    let dir: string;

    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'kit-config-'));
      process.chdir(dir);
    });

    afterEach(() => {
      process.chdir(cwd);
      rmSync(dir, { recursive: true, force: true });
    });

    const writeDotenv = (text: string) => writeFileSync(join(dir, '.env'), text);

    it('when dotenv is on, then the file fills what the environment leaves unset and never overrides it', () => {
      writeDotenv('PORT=4100\nHOST=127.0.0.2\nLOG_LEVEL=debug\n');
      const env: Record<string, string> = { PORT: '5000', LOG_LEVEL: 'warn' };
      const config = loadConfig(ServiceSchema, env, { dotenv: true });
      expect(config).toMatchObject({ PORT: 5000, LOG_LEVEL: 'warn', HOST: '127.0.0.2' });
    });

    it('when dotenv is off, then the file is ignored', () => {
      writeDotenv('HOST=127.0.0.2\n');
      expect(loadConfig(ServiceSchema, {}).HOST).toBe('0.0.0.0');
    });

    it('when the file holds a bad value, then the ConfigError names that variable', () => {
      writeDotenv('PORT=abc\n');
      expect(() => loadConfig(ServiceSchema, {}, { dotenv: true })).toThrow(/PORT/);
    });

    it('when dotenv is on and there is no file, then the defaults apply', () => {
      expect(loadConfig(ServiceSchema, {}, { dotenv: true }).PORT).toBe(3002);
    });
  });
});
