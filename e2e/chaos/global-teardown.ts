import { existsSync, readFileSync, rmSync } from 'node:fs';
import { stopInfra, type Infra } from '../src/infra';
import type { Figures } from './support';

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
    `| ${f.scenario} | ${f.requests} | ${f.faults} | ${f.doubleCharges} | ${f.lostEvents} | ${f.recoverySeconds?.toFixed(1) ?? '–'} | ${f.note ?? ''} |`,
  );
  const total = (k: 'requests' | 'faults' | 'doubleCharges' | 'lostEvents') => figures.reduce((s, f) => s + f[k], 0);
  process.stdout.write(
    [
      '',
      'chaos figures',
      '| scenario | requests | faults | double charges | lost events | recovery s | note |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      ...rows,
      `| all | ${total('requests')} | ${total('faults')} | ${total('doubleCharges')} | ${total('lostEvents')} | | |`,
      '',
    ].join('\n'),
  );
  await stopInfra(infra);
  rmSync(process.env['CHAOS_DIST'] ?? '', { recursive: true, force: true });
}
