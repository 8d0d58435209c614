import type { MigrationClass } from '@platform/db';
import { ReplicaHeartbeat1765000000000 } from './1765000000000-replica-heartbeat';
import { Payments1764000000000 } from './1764000000000-payments';

/**
 * payment-service's migrations, oldest first. Each file is `<timestamp>-<name>.ts` with
 * a working `down`; add new ones at the end of this list.
 */
export const migrations: MigrationClass[] = [Payments1764000000000, ReplicaHeartbeat1765000000000];
