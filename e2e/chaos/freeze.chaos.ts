import type { Client } from '../src/client';
import { infraFromEnv, signalServer } from '../src/infra';
import type { Platform } from '../src/platform';
import { paymentsThroughFault, readyPlatform } from './fault-load';
import { stopChaosPlatform } from './support';

/**
 * Frozen servers: Redis or MariaDB SIGSTOPped under a payment load, then SIGCONTinued. Their
 * sockets stay open and the kernel still completes new connections into the listen backlog, but
 * nothing answers: a client learns it only from its own deadline.
 */
const infra = infraFromEnv();

let current: { platform: Platform; client: Client } | undefined;
afterAll(() => stopChaosPlatform(current?.platform));

const SERVERS = { redis: 'Redis', mysql: 'MariaDB' } as const;

for (const server of ['redis', 'mysql'] as const) {
  for (const holdMs of [10_000, 40_000]) {
    const s = holdMs / 1_000;
    it(
      `when ${SERVERS[server]} is frozen (SIGSTOP) for ${s} s during payments, then requests get 503 within 2 s, none waits over 5 s, every instance is ready within 5 s of SIGCONT without a restart, and the invariants hold`,
      async () => {
        current = await readyPlatform(current);
        await paymentsThroughFault(current.platform, current.client, {
          scenario: `${SERVERS[server]} frozen ${s} s (SIGSTOP)`,
          begin: () => signalServer(infra, server, 'SIGSTOP'),
          end: () => signalServer(infra, server, 'SIGCONT'),
          holdMs,
          note: `${SERVERS[server]} SIGSTOPped ${s} s, then SIGCONT`,
        });
      },
      holdMs + 150_000,
    );
  }
}
