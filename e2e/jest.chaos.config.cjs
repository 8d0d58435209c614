// npm run test:chaos: faults injected into the real processes and their MariaDB and Redis,
// one file at a time (e2e/run.mjs passes --runInBand), each ending with the invariants.
const preset = require('../jest.preset.cjs');

module.exports = {
  ...preset,
  displayName: 'chaos',
  rootDir: __dirname,
  testMatch: ['<rootDir>/chaos/**/*.chaos.ts'],
  globalSetup: '<rootDir>/chaos/global-setup.ts',
  globalTeardown: '<rootDir>/chaos/global-teardown.ts',
  setupFilesAfterEnv: ['<rootDir>/src/openapi-setup.ts'],
  testTimeout: 180_000,
  reporters: ['default', '<rootDir>/../tools/jest-summary-reporter.cjs'],
};
