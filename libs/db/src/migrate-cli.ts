import { createDataSource, initializeDataSource, type MigrationClass } from './data-source';
import { migrate, type MigrationDirection } from './migrate';

export interface MigrationCliOptions {
  service: string;
  config: { DATABASE_URL: string; DB_CONNECT_TIMEOUT_MS: number };
  migrations: MigrationClass[];
  argv?: string[];
}

const DIRECTIONS: Record<string, MigrationDirection> = { up: 'up', revert: 'revert', 'revert-all': 'revert-all' };

/** `migrate.js [up|revert|revert-all]` for one service, with its own account and schema. */
export async function runMigrationCli(opts: MigrationCliOptions): Promise<number> {
  const arg = (opts.argv ?? process.argv.slice(2))[0] ?? 'up';
  const direction = DIRECTIONS[arg];
  if (!direction) {
    process.stderr.write(`${opts.service}: unknown migration command "${arg}" (use up, revert or revert-all)\n`);
    return 2;
  }
  const ds = createDataSource({
    url: opts.config.DATABASE_URL,
    poolSize: 1,
    connectTimeoutMs: opts.config.DB_CONNECT_TIMEOUT_MS,
    migrations: opts.migrations,
  });
  try {
    await initializeDataSource(ds, {});
    const names = await migrate(ds, direction);
    const verb = direction === 'up' ? 'applied' : 'reverted';
    process.stdout.write(
      names.length === 0
        ? `${opts.service}: nothing to ${direction === 'up' ? 'apply' : 'revert'}\n`
        : names.map((n) => `${opts.service}: ${verb} ${n}\n`).join(''),
    );
    return 0;
  } catch (err) {
    process.stderr.write(`${opts.service}: migration failed: ${(err as Error).message}\n`);
    return 1;
  } finally {
    if (ds.isInitialized) await ds.destroy();
  }
}
