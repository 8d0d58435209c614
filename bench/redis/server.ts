import { startRedisServer } from '../../libs/redis/test/redis-server';

export interface BenchRedis {
  url: string;
  /** True when the server is the bench's own: its counters then see only the bench's commands. */
  private: boolean;
  stop(): Promise<void>;
}

/**
 * The Redis to measure on. By default a private redis-server on a free loopback port,
 * started and stopped here: no other client's commands can leak into the INFO counters
 * the exact figures come from, and nothing is left behind. BENCH_REDIS_URL picks an
 * existing server instead; it must be on 127.0.0.1, as the bench never leaves the machine.
 */
export async function benchRedis(): Promise<BenchRedis> {
  const given = process.env['BENCH_REDIS_URL'];
  if (given) {
    const host = new URL(given).hostname;
    if (host !== '127.0.0.1') throw new Error(`BENCH_REDIS_URL must point at 127.0.0.1, not ${host}: the bench only runs against a local Redis`);
    return { url: given, private: false, stop: async () => undefined };
  }
  const server = await startRedisServer();
  return { url: server.url, private: true, stop: () => server.stop() };
}
