import { connect, type Socket } from 'node:net';
import type { Client } from '../src/client';
import { infraFromEnv } from '../src/infra';
import { cutLink, healLink, type NetLink } from '../src/netns';
import type { Platform } from '../src/platform';
import { sleep } from '../src/processes';
import { paymentsThroughFault, readyPlatform } from './fault-load';
import { report, stopChaosPlatform } from './support';

/**
 * Silent partitions between the services and both MariaDB and Redis: the suite's servers run in
 * a network namespace of their own (global-setup.ts) and the link to it is cut (netns.ts).
 * Where no namespace could be made, every scenario here is skipped, and its name says why.
 */
const infra = infraFromEnv();
const link = infra.link;
const withLink = (name: string, fn: (link: NetLink) => Promise<void>, timeoutMs: number) =>
  link ? it(name, () => fn(link), timeoutMs) : it.skip(`${name} [skipped: ${infra.noLink}]`, () => undefined);
if (!link) {
  process.stdout.write(`\nchaos: partition scenarios skipped: ${infra.noLink}\n`);
  report({ scenario: 'partitions (skipped)', requests: 0, faults: 0, doubleCharges: 0, lostEvents: 0, note: `not run: ${infra.noLink}` });
}

let current: { platform: Platform; client: Client } | undefined;
afterAll(() => stopChaosPlatform(current?.platform));

/** What a raw TCP socket hears within `ms`: data, an error, a close, or a completed connect. */
function listen(socket: Socket): { heard: string[] } {
  const heard: string[] = [];
  socket.on('data', (d) => heard.push(`data ${JSON.stringify(d.toString().slice(0, 40))}`));
  socket.on('error', (e: NodeJS.ErrnoException) => heard.push(`error ${e.code ?? e.message}`));
  socket.on('close', () => heard.push('close'));
  socket.on('connect', () => heard.push('connect'));
  return { heard };
}

withLink(
  'when the link is cut, then an established connection hears nothing (no reset, no error) and a new connect() hangs, and both go on once it heals',
  async (l) => {
    const redis = { host: infra.host, port: infra.redis.port };
    const established = connect(redis);
    const old = listen(established);
    await new Promise((resolve) => established.once('connect', resolve));
    established.write('PING\r\n');
    await sleep(200);
    expect(old.heard).toEqual(['connect', 'data "+PONG\\r\\n"']);
    old.heard.length = 0;
    const cutAt = Date.now();
    cutLink(l);
    let fresh: { heard: string[] } = { heard: [] };
    const sockets: Socket[] = [established];
    try {
      established.write('PING\r\n');
      const redisConnect = connect(redis);
      const mysqlConnect = connect({ host: infra.host, port: infra.mysql.port });
      sockets.push(redisConnect, mysqlConnect);
      fresh = listen(redisConnect);
      const mysql = listen(mysqlConnect);
      await sleep(4_000);
      // Silence: nothing at all, not even an error, on either side of the cut.
      expect({ established: old.heard, redisConnect: fresh.heard, mysqlConnect: mysql.heard }).toEqual({ established: [], redisConnect: [], mysqlConnect: [] });
    } finally {
      healLink(l);
    }
    const healedAt = Date.now();
    // The PING sent during the cut is answered by retransmission, and the pending connect completes.
    while ((!old.heard.length || !fresh.heard.includes('connect')) && Date.now() - healedAt < 15_000) await sleep(50);
    const resumedMs = Date.now() - healedAt;
    sockets.forEach((s) => s.destroy());
    expect({ established: old.heard, redisConnect: fresh.heard }).toEqual({ established: ['data "+PONG\\r\\n"'], redisConnect: ['connect'] });
    report({
      scenario: 'the cut itself (raw TCP to Redis and MariaDB)',
      requests: 0,
      faults: 1,
      doubleCharges: 0,
      lostEvents: 0,
      recoverySeconds: resumedMs / 1_000,
      note: `${((healedAt - cutAt) / 1_000).toFixed(1)} s cut: no data, error or close on an established connection, no answer to new connects; after the heal the PING was answered and the connect completed (recovery)`,
    });
  },
  60_000,
);

for (const holdMs of [5_000, 60_000]) {
  const s = holdMs / 1_000;
  withLink(
    `when the services are partitioned from MariaDB and Redis for ${s} s (packets dropped) during payments, then requests get 503 within 2 s, none waits over 5 s, every instance is ready within 5 s of the heal without a restart, and the invariants hold`,
    async (l) => {
      current = await readyPlatform(current);
      await paymentsThroughFault(current.platform, current.client, {
        scenario: `partition ${s} s (MariaDB and Redis unreachable, silent)`,
        begin: () => cutLink(l),
        end: () => healLink(l),
        holdMs,
        note: `the link to the servers' namespace down ${s} s`,
      });
    },
    holdMs + 150_000,
  );
}
