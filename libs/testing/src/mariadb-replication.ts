// Relative imports and packages only: the e2e suite's global setup loads this outside jest's module system.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { uniqueSuffix } from './ids';

/**
 * A MariaDB primary and one replica of it, throwaway `mariadbd` processes on loopback ports with
 * data directories of their own (`mariadb-install-db`), replicating by binlog and GTID
 * (`MASTER_USE_GTID=slave_pos`), as a MySQL 8.4 replica does by GTID in production. Root has an
 * empty password on both; the replica is read-only for everyone else. For tests that lag the
 * replica (`STOP SLAVE SQL_THREAD`) or kill it.
 */
export interface ReplicatedMariadb {
  primary: MariadbNode;
  replica: MariadbNode;
  /** Stops the replica applying what it receives: its lag grows from now. */
  stopApplying(): Promise<void>;
  /** Applies again, and waits until it holds everything the primary has committed. */
  resumeApplying(): Promise<void>;
  /** Waits until the replica holds everything the primary has committed so far. */
  caughtUp(timeoutMs?: number): Promise<void>;
  /** A new schema on the primary (replicated): its name and its URL on each, as root. */
  createDatabase(label: string): Promise<{ name: string; primaryUrl: string; replicaUrl: string }>;
  /** SIGSTOP / SIGCONT: the replica's sockets stay open and nothing answers, then it resumes. */
  freezeReplica(): void;
  thawReplica(): void;
  /** SIGKILL: the replica is gone at once, mid-whatever. */
  killReplica(): Promise<void>;
  stop(): Promise<void>;
}

export interface MariadbNode {
  port: number;
  /** `mysql://root@127.0.0.1:<port>`. */
  adminUrl: string;
  /** One statement as root, in `schema` if given; the rows, for a SELECT. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[], schema?: string): Promise<T[]>;
}

function binary(name: 'mariadbd' | 'mariadb-install-db'): string {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/bin']) if (existsSync(join(dir, name))) return join(dir, name);
  throw new Error(`replication tests need ${name} (Debian: apt-get install mariadb-server; .ci/run does this)`);
}

const asRoot = () => (process.getuid?.() === 0 ? ['--user=root'] : []);

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited ${code}:\n${out.slice(-2_000)}`))));
  });
}

/** A loopback port free a moment ago (bound and closed at once). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function node(port: number): MariadbNode {
  const adminUrl = `mysql://root@127.0.0.1:${port}`;
  return {
    port,
    adminUrl,
    async query<T>(sql: string, params: unknown[] = [], schema?: string): Promise<T[]> {
      const conn = await createConnection({ uri: schema ? `${adminUrl}/${schema}` : adminUrl, connectTimeout: 2_000 });
      try {
        const [rows] = await conn.query(sql, params);
        return (Array.isArray(rows) ? rows : []) as T[];
      } finally {
        await conn.end();
      }
    },
  };
}

async function answering(n: MariadbNode, child: ChildProcess, log: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await n.query('SELECT 1');
      return;
    } catch (err) {
      if (child.exitCode !== null || Date.now() > deadline) {
        const tail = existsSync(log) ? readFileSync(log, 'utf8').slice(-2_000) : '(no log)';
        throw new Error(`MariaDB on port ${n.port} did not answer (${(err as Error).message}):\n${tail}`, { cause: err });
      }
      await sleep(100);
    }
  }
}

export async function startReplicatedMariadb(): Promise<ReplicatedMariadb> {
  const dir = mkdtempSync(join(tmpdir(), 'mariadb-replication-'));
  const primaryPort = await freePort();
  let replicaPort = await freePort();
  while (replicaPort === primaryPort) replicaPort = await freePort();
  const children: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(children.map((c) => stopChild(c)));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // One at a time: two bootstraps at once can trip over each other's temporary tables.
    for (const name of ['primary', 'replica']) {
      const base = join(dir, name);
      mkdirSync(join(base, 'data'), { recursive: true });
      mkdirSync(join(base, 'tmp'), { recursive: true });
      await run(binary('mariadb-install-db'), [
        '--no-defaults',
        `--datadir=${join(base, 'data')}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        ...asRoot(),
      ]);
    }
    const start = async (name: string, port: number, serverId: number, extra: string[]) => {
      const base = join(dir, name);
      const log = join(base, 'error.log');
      // prettier-ignore
      const child = spawn(binary('mariadbd'), [
        '--no-defaults', `--datadir=${join(base, 'data')}`, `--port=${port}`, '--bind-address=127.0.0.1',
        `--socket=${join(base, 'mysqld.sock')}`, `--tmpdir=${join(base, 'tmp')}`, `--pid-file=${join(base, 'mysqld.pid')}`, `--server-id=${serverId}`,
        '--skip-name-resolve', '--innodb-buffer-pool-size=64M', '--max-connections=200', `--log-error=${log}`, ...extra, ...asRoot(),
      ], { stdio: 'ignore' });
      children.push(child);
      const n = node(port);
      await answering(n, child, log);
      return { n, child };
    };
    const [primary, replica] = await Promise.all([
      start('primary', primaryPort, 1, ['--log-bin=binlog', '--binlog-format=ROW']),
      start('replica', replicaPort, 2, ['--read-only', '--relay-log=relay', '--skip-log-bin']),
    ]);
    await primary.n.query("CREATE USER 'repl'@'%' IDENTIFIED BY 'repl'");
    await primary.n.query("GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%'");
    await replica.n.query(
      `CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${primaryPort}, MASTER_USER='repl', MASTER_PASSWORD='repl', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1`,
    );
    await replica.n.query('START SLAVE');

    const caughtUp = async (timeoutMs = 20_000) => {
      const [row] = await primary.n.query<{ pos: string }>('SELECT @@gtid_binlog_pos AS pos');
      const pos = row?.pos ?? '';
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        // MASTER_GTID_WAIT answers 0 once the replica has applied that position, -1 on its timeout.
        const [wait] = await replica.n.query<{ done: number }>('SELECT MASTER_GTID_WAIT(?, 1) AS done', [pos]);
        if (Number(wait?.done) === 0) return;
        if (Date.now() > deadline) throw new Error(`the replica did not reach ${pos} within ${timeoutMs} ms`);
      }
    };
    await caughtUp();
    return {
      primary: primary.n,
      replica: replica.n,
      stopApplying: async () => void (await replica.n.query('STOP SLAVE SQL_THREAD')),
      async resumeApplying() {
        await replica.n.query('START SLAVE SQL_THREAD');
        await caughtUp();
      },
      caughtUp,
      async createDatabase(label: string) {
        const name = `t_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${uniqueSuffix()}`;
        await primary.n.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
        return { name, primaryUrl: `${primary.n.adminUrl}/${name}`, replicaUrl: `${replica.n.adminUrl}/${name}` };
      },
      freezeReplica: () => void replica.child.kill('SIGSTOP'),
      thawReplica: () => void replica.child.kill('SIGCONT'),
      killReplica: () => stopChild(replica.child, 'SIGKILL'),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}
