import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { deleteLink, inNamespace, type NetLink } from './netns';
import { sleep } from './processes';

/**
 * A MariaDB (or MySQL) server and a Redis server of the chaos suite's own, in a scratch
 * directory, so that it can stop, kill and restart them for real without touching the
 * machine's shared servers. Processes are known by their pid files: the global setup starts
 * them, a test file (another module context) restarts them, the global teardown stops them.
 * Where the machine allows it they run in a network namespace of their own (netns.ts), so
 * that a test can also partition them from the services.
 */
export interface Infra {
  dir: string;
  /** Where both servers listen and the services connect: the namespace's address, or 127.0.0.1. */
  host: string;
  /** The namespace the servers run in; unset where none could be made (`noLink` says why). */
  link?: NetLink;
  noLink?: string;
  mysql: { port: number; adminUrl: string };
  redis: { port: number; url: string };
}

export function infraFromEnv(): Infra {
  const raw = process.env['CHAOS_INFRA'];
  if (!raw) throw new Error('CHAOS_INFRA is not set: run the chaos suite through npm run test:chaos');
  return JSON.parse(raw) as Infra;
}

const mysqlPidFile = (infra: Infra) => join(infra.dir, 'mysql', 'mysqld.pid');
const redisPidFile = (infra: Infra) => join(infra.dir, 'redis', 'redis.pid');
const mysqlSocket = (infra: Infra) => join(infra.dir, 'mysql', 'mysqld.sock');

function mariadbBinary(name: 'mariadbd' | 'mariadb-install-db'): string {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/bin']) if (existsSync(join(dir, name))) return join(dir, name);
  throw new Error(`the chaos suite needs ${name} (Debian: apt-get install mariadb-server; .ci/run does this)`);
}

/** The binary and arguments that run `command` where the servers live (in the namespace, if any). */
const where = (infra: Infra, command: string, args: string[]) => inNamespace(infra.link, command, args);

export function initMysql(infra: Infra): void {
  const data = join(infra.dir, 'mysql', 'data');
  mkdirSync(data, { recursive: true });
  const args = ['--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=normal', '--skip-test-db'];
  if (process.getuid?.() === 0) args.push('--user=root');
  const init = spawnSync(mariadbBinary('mariadb-install-db'), args, { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`mariadb-install-db failed:\n${init.stdout}${init.stderr}`);
}

/** Starts the server on its port (detached: it outlives nothing but the suite) and waits until it takes connections. */
export async function startMysql(infra: Infra): Promise<void> {
  const base = join(infra.dir, 'mysql');
  // prettier-ignore
  const args = [
    '--no-defaults', `--datadir=${join(base, 'data')}`, `--port=${infra.mysql.port}`, `--bind-address=${infra.host}`,
    `--socket=${mysqlSocket(infra)}`, `--pid-file=${mysqlPidFile(infra)}`, '--skip-log-bin', '--skip-name-resolve',
    '--innodb-buffer-pool-size=128M', '--max-connections=500', `--log-error=${join(base, 'error.log')}`,
  ];
  if (process.getuid?.() === 0) args.push('--user=root');
  rmSync(mysqlPidFile(infra), { force: true });
  spawn(...where(infra, mariadbBinary('mariadbd'), args), { detached: true, stdio: 'ignore' }).unref();
  await waitFor(`MariaDB on port ${infra.mysql.port}`, () => mysqlAnswers(infra) && existsSync(mysqlPidFile(infra)), join(base, 'error.log'));
}

/**
 * Lets root in from the root namespace's end of the link (the server only knows root on
 * localhost, 127.0.0.1 and ::1). Through the socket, which does not depend on the network.
 */
export function allowRootFromHost(infra: Infra): void {
  if (!infra.link) return;
  const account = `'root'@'${infra.link.hostAddr}'`;
  const sql = `CREATE USER IF NOT EXISTS ${account}; GRANT ALL PRIVILEGES ON *.* TO ${account} WITH GRANT OPTION;`;
  const run = spawnSync('mariadb', [`--socket=${mysqlSocket(infra)}`, '-uroot', '-e', sql], { encoding: 'utf8', timeout: 10_000 });
  if (run.status !== 0) throw new Error(`granting root from ${infra.link.hostAddr} failed:\n${run.stdout}${run.stderr}`);
}

/** SIGTERM (a clean shutdown) or SIGKILL (a crash); resolves once the process is gone. */
export async function stopMysql(infra: Infra, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  await stopByPidFile(mysqlPidFile(infra), signal);
}

export async function startRedis(infra: Infra): Promise<void> {
  const base = join(infra.dir, 'redis');
  mkdirSync(base, { recursive: true });
  // As the machine's CI Redis runs: nothing kept on disk, so a restart is also a loss of every key.
  // prettier-ignore
  const args = [
    '--port', String(infra.redis.port), '--bind', infra.host, '--daemonize', 'yes', '--pidfile', redisPidFile(infra),
    '--save', '', '--appendonly', 'no', '--dir', base, '--logfile', join(base, 'redis.log'),
    '--maxmemory-policy', 'noeviction',
    // The namespace's address is not loopback, which protected mode would refuse; only this machine reaches it.
    ...(infra.link ? ['--protected-mode', 'no'] : []),
  ];
  const started = spawnSync(...where(infra, 'redis-server', args), { encoding: 'utf8' });
  if (started.status !== 0) throw new Error(`redis-server failed to start:\n${started.stdout}${started.stderr}`);
  await waitFor(`Redis on port ${infra.redis.port}`, () => redisCli(infra, 'ping') === 'PONG', join(base, 'redis.log'));
}

export async function stopRedis(infra: Infra, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  await stopByPidFile(redisPidFile(infra), signal);
}

/** Both servers stopped (thawed first, should a test have left one frozen), the namespace removed, the directory deleted. */
export async function stopInfra(infra: Infra): Promise<void> {
  for (const server of ['mysql', 'redis'] as const) {
    try {
      signalServer(infra, server, 'SIGCONT');
    } catch {
      // not running
    }
  }
  await stopMysql(infra);
  await stopRedis(infra);
  if (infra.link) deleteLink(infra.link);
  rmSync(infra.dir, { recursive: true, force: true });
}

export function redisCli(infra: Infra, ...command: string[]): string {
  const out = spawnSync('redis-cli', ['-h', infra.host, '-p', String(infra.redis.port), ...command], { encoding: 'utf8', timeout: 5_000 });
  return out.status === 0 ? out.stdout.trim() : '';
}

/**
 * SIGSTOP freezes the server (its sockets stay open and the kernel keeps accepting
 * connections into the backlog, but nothing answers); SIGCONT resumes it.
 */
export function signalServer(infra: Infra, server: 'mysql' | 'redis', signal: 'SIGSTOP' | 'SIGCONT'): void {
  const file = server === 'mysql' ? mysqlPidFile(infra) : redisPidFile(infra);
  process.kill(Number(readFileSync(file, 'utf8').trim()), signal);
}

/** Over the socket: the server is up, whatever the network between it and the services does. */
function mysqlAnswers(infra: Infra): boolean {
  const probe = spawnSync('mariadb-admin', [`--socket=${mysqlSocket(infra)}`, '-uroot', 'ping'], { encoding: 'utf8', timeout: 5_000 });
  return probe.status === 0;
}

async function waitFor(what: string, check: () => boolean, log: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      const tail = existsSync(log) ? readFileSync(log, 'utf8').slice(-2_000) : '(no log)';
      throw new Error(`${what} did not answer within ${timeoutMs} ms:\n${tail}`);
    }
    await sleep(100);
  }
}

async function stopByPidFile(file: string, signal: NodeJS.Signals): Promise<void> {
  if (!existsSync(file)) return;
  const pid = Number(readFileSync(file, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return;
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(pid, signal);
  const deadline = Date.now() + 60_000;
  while (alive()) {
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL');
      break;
    }
    await sleep(50);
  }
  rmSync(file, { force: true });
}
