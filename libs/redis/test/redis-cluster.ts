import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REDIS_STARTUP_TIMEOUT_MS, freePorts, redisCli, requireRedisBinaries, spawnRedis, stopRedis, waitFor, waitUntilAnswering } from './redis-server';

export interface LocalRedisCluster {
  /** REDIS_CLUSTER_NODES for this cluster: `127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3`. */
  nodes: string;
  /** The masters' ports, for tests that talk to each node on its own. */
  ports: number[];
  /** Stops every node and deletes the cluster's temporary directory. */
  stop(): Promise<void>;
}

const MASTERS = 3;
/** Redis Cluster's node-to-node bus listens on the client port plus this offset. */
const BUS_OFFSET = 10_000;

/**
 * Starts a throwaway 3-master Redis Cluster on loopback ports (see redis-server.ts), so
 * the Redis suite can run again against a real cluster: cross-slot mistakes, MOVED
 * redirects and per-node scripts show up there and nowhere else. The node config files
 * live in the temporary directory that stop() removes.
 */
export async function startRedisCluster(): Promise<LocalRedisCluster> {
  requireRedisBinaries('The Redis Cluster tests (leave them out with `npx jest --ignoreProjects redis-cluster`)');
  const dir = mkdtempSync(join(tmpdir(), 'redis-cluster-'));
  const ports = await freePorts(MASTERS, BUS_OFFSET);
  const clusterArgs = (port: number) => ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '5000'];
  const servers = ports.map((port) => spawnRedis(dir, port, clusterArgs(port)));
  const stop = () => stopRedis(servers, dir);
  try {
    await waitUntilAnswering(servers);
    createCluster(ports);
    await Promise.all(ports.map((port) => waitFor(() => redisCli(port, 'cluster', 'info').includes('cluster_state:ok'), `cluster_state:ok on port ${port}`)));
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes: ports.map((p) => `127.0.0.1:${p}`).join(','), ports, stop };
}

function createCluster(ports: number[]): void {
  const result = spawnSync(
    'redis-cli',
    ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'],
    { encoding: 'utf8', timeout: REDIS_STARTUP_TIMEOUT_MS },
  );
  if (result.status !== 0) {
    throw new Error(`redis-cli --cluster create failed (exit ${result.status}): ${result.stderr || result.stdout}`);
  }
}
