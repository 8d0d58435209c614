export * from './build-app';
export * from './event-stream-reader';
export * from './ids';
export * from './mariadb-replication';
export * from './mysql-queries';
// Redis processes live with the Redis layer, whose own tests use them; exported here with the other helpers.
export { freePorts, startRedisCluster, startRedisServer, type LocalRedisCluster, type LocalRedisServer } from '@platform/redis/testing';
export * from './service-conformance';
// Lives with the service kit, whose own tests use it; exported here with the other helpers.
export { closedPort, startDroppingPeer, startPeerProcess, startSilentServer, TcpProxy, type DroppingPeer, type PeerProcess, type SilentServer } from '@platform/service-kit/testing';
export * from './test-database';
export * from './service-process';
