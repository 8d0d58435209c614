// npm run test:e2e: the contract walked over HTTP against the real processes (see e2e/run.mjs).
const preset = require('../jest.preset.cjs');

module.exports = {
  ...preset,
  displayName: 'e2e',
  rootDir: __dirname,
  testMatch: ['<rootDir>/contract/**/*.e2e.ts', '<rootDir>/docs/**/*.e2e.ts'],
  globalSetup: '<rootDir>/src/global-setup.ts',
  globalTeardown: '<rootDir>/src/global-teardown.ts',
  setupFilesAfterEnv: ['<rootDir>/src/openapi-setup.ts'],
  testTimeout: 60_000,
  reporters: ['default', '<rootDir>/../tools/jest-summary-reporter.cjs'],
};
