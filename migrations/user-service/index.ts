import type { MigrationClass } from '@platform/db';
import { ReplicaHeartbeat1765000000000 } from './1765000000000-replica-heartbeat';
import { AccountsAndSessions1763800000000 } from './1763800000000-accounts-and-sessions';
import { SessionsRevokedIndex1764100000000 } from './1764100000000-sessions-revoked-index';
import { NormalisedEmails1764200000000 } from './1764200000000-normalised-emails';

/**
 * user-service's migrations, oldest first. Each file is `<timestamp>-<name>.ts` with
 * a working `down`; add new ones at the end of this list.
 */
export const migrations: MigrationClass[] = [AccountsAndSessions1763800000000, SessionsRevokedIndex1764100000000, NormalisedEmails1764200000000, ReplicaHeartbeat1765000000000];
