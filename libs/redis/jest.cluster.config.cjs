// The Redis suite again, against a real 3-master Redis Cluster that this project's global
// setup starts from redis-server on loopback ports (see tools/jest/redis-cluster-setup.ts).
// `npx jest` runs it beside the standalone `redis` project; alone: `npx jest --selectProjects redis-cluster`.
const path = require('node:path');

const tools = path.join(__dirname, '../../tools/jest');

module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'redis-cluster',
  rootDir: __dirname,
  // The event streams (libs/events) run on the cluster too: their keys must fit its slots.
  roots: ['<rootDir>', '<rootDir>/../events/src'],
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/../events/src/streams.spec.ts', '<rootDir>/../events/src/stream-bounds.spec.ts'],
  // The Sentinel spec starts its own primary, replica and sentinels: once, in the standalone project, is enough.
  testPathIgnorePatterns: ['/node_modules/', 'sentinel\\.spec\\.ts$'],
  // Its own global setup and teardown: they start and stop the cluster and check its keys.
  // The preset's (MySQL, REDIS_URL) still run for the other projects of the run; this one
  // needs neither, since its tests reach Redis through testRedis() and so the cluster.
  globalSetup: path.join(tools, 'redis-cluster-setup.ts'),
  globalTeardown: path.join(tools, 'redis-cluster-teardown.ts'),
  setupFiles: [path.join(tools, 'redis-cluster-env.ts')],
};
