import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts, redisCli, requireRedisBinaries, spawnRedis, stopRedis, waitFor, waitUntilAnswering, type RedisProcess } from './redis-server';

export interface LocalRedisSentinel {
  /** REDIS_SENTINELS for this setup: `127.0.0.1:s1,127.0.0.1:s2,127.0.0.1:s3`. */
  sentinels: string;
  /** REDIS_SENTINEL_NAME. */
  name: string;
  /** The two data servers' ports (the first starts as the primary). */
  dataPorts: number[];
  /** The port of the data server the sentinels name primary now. */
  primaryPort(): number;
  /** SIGKILLs the current primary (no shutdown, no last save); answers its port. */
  killPrimary(): number;
  /** Waits until the sentinels name a primary other than `port`, and it answers as one; answers the new port. */
  waitForNewPrimary(port: number, timeoutMs?: number): Promise<number>;
  /** Starts a killed data server again (empty), as a replica of the current primary; resolves once it is in sync. */
  revive(port: number): Promise<void>;
  /** Every server's and sentinel's last log lines (elections, promotions, replication), each under its port. */
  logs(): string;
  stop(): Promise<void>;
}

const NAME = 'mymaster';

/**
 * A throwaway Sentinel setup on loopback ports (see redis-server.ts): one primary, one replica and
 * three sentinels (quorum 2), from Debian's binaries (`redis-server --sentinel`; the redis-sentinel
 * package is the same binary). The sentinels take a primary for down after `downAfterMs`.
 * Nothing persists: the data servers keep no RDB or AOF, so a killed primary comes back empty.
 */
export async function startRedisSentinel(opts: { downAfterMs?: number } = {}): Promise<LocalRedisSentinel> {
  requireRedisBinaries('The Redis Sentinel tests');
  const dir = mkdtempSync(join(tmpdir(), 'redis-sentinel-'));
  const ports = await freePorts(5);
  const [primary, replica, ...sentinelPorts] = ports as [number, number, number, number, number];
  const processes: RedisProcess[] = [];
  const stop = () => stopRedis(processes, dir);
  const data = new Map<number, RedisProcess>();
  try {
    data.set(primary, spawnRedis(dir, primary, ['--dbfilename', `dump-${primary}.rdb`]));
    data.set(replica, spawnRedis(dir, replica, ['--dbfilename', `dump-${replica}.rdb`, '--replicaof', '127.0.0.1', String(primary)]));
    processes.push(...data.values());
    await waitUntilAnswering([...data.values()]);
    await waitFor(() => redisCli(replica, 'info', 'replication').includes('master_link_status:up'), `the replica on ${replica} to sync`);
    for (const port of sentinelPorts) processes.push(spawnSentinel(dir, port, primary, opts.downAfterMs ?? 1_000));
    await waitUntilAnswering(processes.slice(2));
    // Each sentinel knows the replica and the other two before the setup counts as up.
    await waitFor(
      () => sentinelPorts.every((p) => /num-other-sentinels\s+2/.test(redisCli(p, 'sentinel', 'master', NAME).replace(/\n/g, ' ')) && redisCli(p, 'sentinel', 'replicas', NAME).includes(String(replica))),
      'the sentinels to find each other and the replica',
    );
  } catch (err) {
    await stop();
    throw err;
  }
  const primaryPort = () => Number(redisCli(sentinelPorts[0] as number, 'sentinel', 'get-master-addr-by-name', NAME).split('\n')[1]);
  return {
    sentinels: sentinelPorts.map((p) => `127.0.0.1:${p}`).join(','),
    name: NAME,
    dataPorts: [primary, replica],
    primaryPort,
    killPrimary() {
      const port = primaryPort();
      data.get(port)?.child.kill('SIGKILL');
      return port;
    },
    async waitForNewPrimary(port: number, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const now = sentinelPorts.map((p) => Number(redisCli(p, 'sentinel', 'get-master-addr-by-name', NAME).split('\n')[1]));
        const next = now[0] as number;
        if (next !== port && now.every((p) => p === next) && redisCli(next, 'role').startsWith('master')) return next;
        if (Date.now() > deadline) throw new Error(`no failover away from ${port} within ${timeoutMs} ms (sentinels name ${now.join(', ')})`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async revive(port: number) {
      const server = spawnRedis(dir, port, ['--dbfilename', `dump-${port}.rdb`, '--replicaof', '127.0.0.1', String(primaryPort())]);
      data.set(port, server);
      processes.push(server);
      await waitUntilAnswering([server]);
      await waitFor(() => redisCli(port, 'info', 'replication').includes('master_link_status:up'), `the revived replica on ${port} to sync`);
      await waitFor(() => redisCli(sentinelPorts[0] as number, 'sentinel', 'replicas', NAME).includes(String(port)), 'the sentinels to see the revived replica');
    },
    logs: () => processes.map((p) => `-- ${sentinelPorts.includes(p.port) ? 'sentinel' : 'redis-server'} ${p.port}\n${p.log()}`).join('\n'),
    stop,
  };
}

function spawnSentinel(dir: string, port: number, primary: number, downAfterMs: number): RedisProcess {
  const conf = join(dir, `sentinel-${port}.conf`);
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      'daemonize no',
      `dir ${dir}`,
      `sentinel monitor ${NAME} 127.0.0.1 ${primary} 2`,
      `sentinel down-after-milliseconds ${NAME} ${downAfterMs}`,
      // An election that splits the votes is tried again after twice this: keep it short.
      `sentinel failover-timeout ${NAME} 3000`,
      `sentinel parallel-syncs ${NAME} 1`,
      '',
    ].join('\n'),
  );
  const child = spawn('redis-server', [conf, '--sentinel'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (chunk: Buffer) => (log = (log + chunk.toString()).slice(-2_000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('error', (err) => keep(Buffer.from(err.message)));
  return { port, child, log: () => log };
}
