/** The heartbeat row each instance writes, to measure its read replicas' lag (libs/db replicas.ts, ADR 0020). */
export { ReplicaHeartbeat1765000000000 } from '@platform/db';
