// Test helpers for code built on the Redis layer (`@platform/redis/testing`).
export * from './redis';
