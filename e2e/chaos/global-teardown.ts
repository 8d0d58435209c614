import { existsSync, readFileSync, rmSync } from 'node:fs';
import { stopInfra, type Infra } from '../src/infra';
import type { Figures } from './support';

const seconds = (s: number | undefined) => (s === undefined ? '–' : s.toFixed(s < 10 ? 2 : 1));

/** Prints the figures of every scenario, then stops the suite's MariaDB and Redis and removes their namespace. */
export default async function globalTeardown(): Promise<void> {
  const holder = globalThis as { __chaosInfra__?: Infra };
  const infra = holder.__chaosInfra__;
  if (!infra) return;
  const file = process.env['CHAOS_FIGURES'] ?? '';
  const figures = existsSync(file)
    ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Figures)
    : [];
  const rows = figures.map((f) =>
    [
      f.scenario,
      f.requests,
      f.faults,
      f.doubleCharges,
      f.lostEvents,
      seconds(f.recoverySeconds),
      seconds(f.timeTo503Seconds),
      seconds(f.longestRequestSeconds),
      seconds(f.readyAfterHealSeconds),
      f.note ?? '',
    ].join(' | '),
  );
  const total = (k: 'requests' | 'faults' | 'doubleCharges' | 'lostEvents') => figures.reduce((s, f) => s + f[k], 0);
  process.stdout.write(
    [
      '',
      'chaos figures (seconds; time to 503: the slowest answer to a request made during the fault; ready after heal: the last instance)',
      '| scenario | requests | faults | double charges | lost events | recovery s | time to 503 (p100) s | longest request s | ready after heal s | note |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      ...rows.map((r) => `| ${r} |`),
      `| all | ${total('requests')} | ${total('faults')} | ${total('doubleCharges')} | ${total('lostEvents')} | | | | | |`,
      '',
    ].join('\n'),
  );
  await stopInfra(infra);
  rmSync(process.env['CHAOS_DIST'] ?? '', { recursive: true, force: true });
}
