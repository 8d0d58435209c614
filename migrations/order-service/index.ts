import type { MigrationClass } from '@platform/db';

/**
 * order-service's migrations, oldest first. Each file is `<timestamp>-<name>.ts` with
 * a working `down`; add new ones at the end of this list.
 */
export const migrations: MigrationClass[] = [];
