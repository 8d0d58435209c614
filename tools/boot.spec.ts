import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { TcpProxy, createTestDatabase, eventually, freePorts, testKeyPrefix, type TestDatabase } from '@platform/testing';

/**
 * The built processes, as `npm start` and the Docker image run them: each boots against
 * the real MySQL (its own account and schema) and Redis, answers the contract's common
 * routes over real HTTP, and exits 0 on SIGTERM.
 */
const root = join(__dirname, '..');
const APPS = ['user-service', 'order-service', 'payment-service', 'gateway-sandbox'] as const;
type AppName = (typeof APPS)[number];

interface Running {
  child: ChildProcess;
  url: string;
  output: string[];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function serviceDatabaseUrl(app: AppName): string | undefined {
  if (app === 'gateway-sandbox') return undefined;
  const account = app.replace('-', '_');
  const url = new URL(process.env['MYSQL_ADMIN_URL'] as string);
  url.username = account;
  url.password = account;
  url.pathname = `/${account}`;
  return url.toString();
}

function run(script: string, env: Record<string, string>): Running {
  const child = spawn(process.execPath, [script], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout?.on('data', (d: Buffer) => output.push(...d.toString().split('\n').filter(Boolean)));
  child.stderr?.on('data', (d: Buffer) => output.push(...d.toString().split('\n').filter(Boolean)));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, url: `http://127.0.0.1:${env['PORT']}`, output, exit };
}

async function isReady(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/health/ready`)).status === 200;
  } catch {
    return false;
  }
}

const running = new Map<AppName, Running>();

beforeAll(async () => {
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'pipe' });
  execFileSync(process.execPath, ['scripts/migrate-all.mjs', 'up', '--built'], { cwd: root, stdio: 'pipe' });
  for (const app of APPS) {
    const env: Record<string, string> = { PORT: String((await freePorts(1))[0]), HOST: '127.0.0.1', LOG_LEVEL: 'info' };
    const db = serviceDatabaseUrl(app);
    if (db) Object.assign(env, { DATABASE_URL: db, REDIS_KEY_PREFIX: testKeyPrefix(app) });
    running.set(app, run(`dist/apps/${app}/main.js`, env));
  }
  for (const [app, r] of running) {
    if (!(await eventually(() => isReady(r.url), 20_000))) {
      throw new Error(`${app} did not become ready:\n${r.output.join('\n')}`);
    }
  }
}, 90_000);

afterAll(async () => {
  for (const r of running.values()) if (r.child.exitCode === null) r.child.kill('SIGKILL');
});

describe.each(APPS)('built %s', (app) => {
  const r = () => running.get(app) as Running;

  it('when asked over HTTP, then health, docs and metrics answer', async () => {
    expect((await fetch(`${r().url}/health/live`)).status).toBe(200);
    const docs = await fetch(`${r().url}/docs/json`);
    expect(docs.status).toBe(200);
    expect(((await docs.json()) as { info: { title: string } }).info.title).toBe(app);
    const metrics = await fetch(`${r().url}/metrics`);
    expect(await metrics.text()).toMatch(/process_cpu_seconds_total/);
  });

  it('when a POST has malformed JSON, then 400 problem+json with the caller request id, also in the log', async () => {
    const res = await fetch(`${r().url}/v1/anything`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': `boot-${app}` },
      body: '{"oops"',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.headers.get('x-request-id')).toBe(`boot-${app}`);
    expect(await res.json()).toMatchObject({ code: 'MALFORMED_JSON', requestId: `boot-${app}` });
    expect(await eventually(async () => r().output.some((l) => l.includes(`"requestId":"boot-${app}"`)), 2_000)).toBe(true);
  });

  it('when an unknown route is asked, then 404 problem+json', async () => {
    const res = await fetch(`${r().url}/v1/unknown`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 'NOT_FOUND', status: 404 });
  });

  it('when sent SIGTERM, then it exits 0', async () => {
    r().child.kill('SIGTERM');
    await expect(r().exit).resolves.toEqual({ code: 0, signal: null });
    expect(r().output.join('\n')).toMatch(/shutting down/);
  });
});

describe('a process with a bad configuration', () => {
  it('when PORT is not a number, then it exits 1 naming PORT', async () => {
    const bad = run('dist/apps/order-service/main.js', { PORT: 'abc' });
    await expect(bad.exit).resolves.toEqual({ code: 1, signal: null });
    expect(bad.output.join('\n')).toMatch(/PORT must be integer/);
  });
});

describe('the Nx targets that run a service', () => {
  const nx = (target: string, env: Record<string, string>) =>
    spawnSync(process.execPath, [require.resolve('nx/bin/nx', { paths: [root] }), ...target.split(' ')], {
      cwd: root,
      env: { ...process.env, NX_DAEMON: 'false', NX_TUI: 'false', ...env },
      encoding: 'utf8',
      timeout: 90_000,
    });

  it.each(['run order-service:start', 'serve order-service'])('when `nx %s` meets a bad configuration, then it exits non-zero naming the variable', (target) => {
    const res = nx(target, { PORT: 'abc' });
    expect(res.status).not.toBe(0);
    expect(res.status).not.toBeNull();
    expect(`${res.stdout}${res.stderr}`).toMatch(/PORT must be integer/);
  }, 90_000);

  it('when `nx serve` finds its port taken, then it exits non-zero instead of waiting for a change', async () => {
    const [port] = (await freePorts(1)) as [number];
    const holder = createServer().listen(port, '127.0.0.1');
    await once(holder, 'listening');
    try {
      const res = nx('serve order-service', { PORT: String(port), HOST: '127.0.0.1' });
      expect(res.status).not.toBe(0);
      expect(res.status).not.toBeNull();
      expect(`${res.stdout}${res.stderr}`).toContain(`order-service cannot listen on 127.0.0.1:${port}: EADDRINUSE`);
    } finally {
      holder.close();
    }
  }, 90_000);
});

/** npm start runs its four processes on their default ports. */
function defaultPortsFree(): boolean {
  const probe = `const net=require('net');let n=0;for(const p of [3001,3002,3003,3009]){const s=net.createServer();
    s.once('error',()=>process.exit(1));s.listen(p,'0.0.0.0',()=>s.close(()=>{if(++n===4)process.exit(0)}))}`;
  return spawnSync(process.execPath, ['-e', probe]).status === 0;
}

/** Rows of a test schema's table, read with the admin account. */
async function rows(db: TestDatabase, sql: string): Promise<Record<string, unknown>[]> {
  const conn = await createConnection({ uri: db.url });
  try {
    return (await conn.query(sql))[0] as Record<string, unknown>[];
  } finally {
    await conn.end();
  }
}

describe('npm start, on a terminal, with each service\'s database elsewhere', () => {
  const usable = defaultPortsFree();
  const services = ['user', 'order', 'payment'] as const;
  let proxy: TcpProxy;
  const dbs = {} as Record<(typeof services)[number], TestDatabase>;
  let env: Record<string, string>;

  beforeAll(async () => {
    // Another address than the default 127.0.0.1:3306, and schemas of this test's own.
    proxy = await TcpProxy.forUrl(process.env['MYSQL_ADMIN_URL'] as string).start();
    env = { LOG_LEVEL: 'info', REDIS_KEY_PREFIX: testKeyPrefix('start') };
    for (const service of services) {
      dbs[service] = await createTestDatabase(`start_${service}`);
      env[`${service.toUpperCase()}_SERVICE_DATABASE_URL`] = proxy.rewrite(dbs[service].url);
    }
  });

  afterAll(async () => {
    await proxy.stop();
    await Promise.all(Object.values(dbs).map((db) => db.drop()));
  });

  (usable ? it : it.skip)(
    `when started${usable ? '' : ' (skipped: a default port is busy)'}, then it migrates those schemas, serves from them with one readable line per request, and all four exit 0 on Ctrl-C`,
    async () => {
      // `script` gives npm start a pseudo-terminal, as a newcomer's shell does; Ctrl-C is typed into it.
      const start = spawn('script', ['-qec', 'npm start', '/dev/null'], { cwd: root, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
      const output: string[] = [];
      // eslint-disable-next-line no-control-regex -- the terminal's colour codes are taken out before reading
      start.stdout.on('data', (d: Buffer) => output.push(...d.toString().replace(/\x1b\[[0-9;]*m/g, '').split(/\r?\n/).filter(Boolean)));
      const exit = new Promise<number | null>((resolve) => start.on('exit', (code) => resolve(code)));
      try {
        for (const port of [3001, 3002, 3003, 3009]) {
          expect(await eventually(() => isReady(`http://127.0.0.1:${port}`), 60_000)).toBe(true);
        }
        const email = `start-${testKeyPrefix('u').replace(/\W/g, '')}@example.com`;
        const res = await fetch('http://127.0.0.1:3001/v1/auth/register', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email, password: 'correct horse battery', name: 'Start' }),
        });
        expect(res.status).toBe(201);
        expect(await rows(dbs.user, `SELECT email FROM users WHERE email = '${email}'`)).toEqual([{ email }]);
        for (const service of services) {
          expect((await rows(dbs[service], 'SELECT COUNT(*) AS n FROM schema_migrations'))[0]?.['n']).toBeGreaterThan(0);
        }
        expect(await eventually(async () => output.some((l) => /^\[user +\] \[[\d:.]+\] INFO: POST \/v1\/auth\/register 201 [\d.]+ ms/.test(l)), 5_000)).toBe(true);
        expect(output.filter((l) => l.includes('incoming request') || /\] \{"level"/.test(l))).toEqual([]);

        start.stdin.write('\x03');
        // npm answers a Ctrl-C with 130, as an interrupted command does; the processes end gracefully.
        expect([0, 130]).toContain(await exit);
        expect(output.filter((l) => l.endsWith('exited with code 0'))).toHaveLength(4);
      } finally {
        if (start.exitCode === null) start.kill('SIGKILL');
      }
    },
    150_000,
  );

  it('when npm run migrate and migrate:revert run with the same settings, then they apply and revert the migrations of those schemas', async () => {
    // Not spawnSync: the proxy runs in this process and must go on forwarding meanwhile.
    const npm = (script: string) =>
      new Promise<{ status: number | null; stderr: string }>((resolve) => {
        const child = spawn('npm', ['run', '--silent', script], { cwd: root, env: { ...process.env, ...env } });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('exit', (status) => resolve({ status, stderr }));
      });
    const applied = () => Promise.all(services.map(async (s) => Number((await rows(dbs[s], 'SELECT COUNT(*) AS n FROM schema_migrations'))[0]?.['n'])));
    const up = await npm('migrate');
    expect(`${up.status} ${up.stderr}`).toBe('0 ');
    const before = await applied();
    expect(before.every((n) => n > 0)).toBe(true);
    const revert = await npm('migrate:revert');
    expect(`${revert.status} ${revert.stderr}`).toBe('0 ');
    expect(await applied()).toEqual(before.map((n) => n - 1));
  }, 90_000);
});
