import type { MigrationClass } from '@platform/db';
import { ReplicaHeartbeat1765000000000 } from './1765000000000-replica-heartbeat';
import { Orders1763900000000 } from './1763900000000-orders';
import { OrderPaidAt1764300000000 } from './1764300000000-order-paid-at';

/**
 * order-service's migrations, oldest first. Each file is `<timestamp>-<name>.ts` with
 * a working `down`; add new ones at the end of this list.
 */
export const migrations: MigrationClass[] = [Orders1763900000000, OrderPaidAt1764300000000, ReplicaHeartbeat1765000000000];
