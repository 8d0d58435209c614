// The e2e harness's own pure logic (e2e/src/*.spec.ts): no platform, no MySQL or Redis.
const preset = require('../jest.preset.cjs');

module.exports = {
  ...preset,
  displayName: 'e2e-harness',
  rootDir: __dirname,
  testMatch: ['<rootDir>/src/**/*.spec.ts'],
  globalSetup: undefined,
  globalTeardown: undefined,
};
