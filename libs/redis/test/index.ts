// Test helpers for code built on the Redis layer (`@platform/redis/testing`): clients on the test
// Redis, and throwaway redis-server processes and clusters.
export * from './redis';
export * from './redis-cluster';
export { freePorts, redisCli, startRedisServer, type LocalRedisServer } from './redis-server';
export * from './redis-sentinel';
