import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Throwaway `redis-server` processes on loopback ports, from the binaries on PATH
 * (Debian's redis-server package ships redis-server and, through redis-tools, redis-cli).
 * Nothing persists: no RDB, no AOF, and the working directory is a temporary one that
 * stop() removes. Used by the Redis Cluster test run and by the Redis benchmark.
 */
export interface LocalRedisServer {
  /** `redis://127.0.0.1:<port>`. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

export const REDIS_STARTUP_TIMEOUT_MS = 20_000;

export interface RedisProcess {
  port: number;
  child: ChildProcess;
  log(): string;
}

/** A standalone server of its own, e.g. so a benchmark's INFO counters see only its own commands. */
export async function startRedisServer(): Promise<LocalRedisServer> {
  requireRedisBinaries('redis-server');
  const dir = mkdtempSync(join(tmpdir(), 'redis-server-'));
  const [port] = (await freePorts(1)) as [number];
  const server = spawnRedis(dir, port, []);
  const stop = () => stopRedis([server], dir);
  await waitUntilAnswering([server]).catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  return { url: `redis://127.0.0.1:${port}`, port, stop };
}

/** Fails with what to install when a binary is missing, instead of a bare ENOENT later. */
export function requireRedisBinaries(purpose: string): void {
  for (const bin of ['redis-server', 'redis-cli']) {
    const probe = spawnSync(bin, ['--version'], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) {
      throw new Error(
        `${purpose} needs \`${bin}\` on PATH, but it could not be run (${probe.error?.message ?? `exit ${probe.status}`}). ` +
          'Install Redis (Debian: apt-get install redis-server, which also ships redis-cli; .ci/run does this).',
      );
    }
  }
}

export function spawnRedis(dir: string, port: number, extraArgs: string[]): RedisProcess {
  // prettier-ignore
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--daemonize', 'no',
    '--save', '', '--appendonly', 'no', '--dir', dir,
    // As production runs it: writes fail rather than evict when memory runs out.
    '--maxmemory-policy', 'noeviction',
    ...extraArgs,
  ];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // Keep the log's tail, so a server that dies on startup (port taken, bad flag) says why.
  let log = '';
  const keep = (chunk: Buffer) => (log = (log + chunk.toString()).slice(-2_000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('error', (err) => keep(Buffer.from(err.message)));
  return { port, child, log: () => log };
}

export function waitUntilAnswering(servers: RedisProcess[]): Promise<unknown> {
  return Promise.all(servers.map((server) => waitFor(() => answers(server), `redis-server on port ${server.port} to answer`)));
}

/** Answers whether the server takes commands; throws with its log when it has exited. */
function answers(server: RedisProcess): boolean {
  const { child, port } = server;
  if (child.exitCode !== null || child.signalCode !== null) {
    throw new Error(`redis-server on port ${port} exited during startup:\n${server.log()}`);
  }
  return redisCli(port, 'ping') === 'PONG';
}

export function redisCli(port: number, ...command: string[]): string {
  const result = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...command], { encoding: 'utf8', timeout: 2_000 });
  return result.status === 0 ? result.stdout.trim() : '';
}

export async function waitFor(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + REDIS_STARTUP_TIMEOUT_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Gave up waiting for ${what} after ${REDIS_STARTUP_TIMEOUT_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Free loopback ports. With `busOffset` (Redis Cluster's node-to-node bus listens on the
 * client port + 10000) the twin port must be free too; a pair whose twin is taken is skipped.
 */
export async function freePorts(count: number, busOffset?: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = await listenOnce(0);
    if (port === undefined || ports.includes(port)) continue;
    if (busOffset === undefined) ports.push(port);
    else if (port + busOffset <= 65_535 && (await listenOnce(port + busOffset)) !== undefined) ports.push(port);
  }
  return ports;
}

/** Binds 127.0.0.1:port, closes at once, and answers the bound port (undefined if taken). */
function listenOnce(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => {
      const bound = (server.address() as { port: number }).port;
      server.close(() => resolve(bound));
    });
  });
}

export async function stopRedis(servers: RedisProcess[], dir: string): Promise<void> {
  await Promise.all(servers.map((server) => stopProcess(server.child)));
  rmSync(dir, { recursive: true, force: true });
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
