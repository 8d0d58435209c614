// `npx jest` runs every project; `npx nx test <project>` runs one.
module.exports = {
  projects: [
    '<rootDir>/apps/*/jest.config.cjs',
    '<rootDir>/libs/*/jest.config.cjs',
    '<rootDir>/libs/redis/jest.cluster.config.cjs',
    '<rootDir>/tools/jest.config.cjs',
  ],
  // Read from the root config only when projects run together; each project's copy serves `nx test`.
  testTimeout: 30_000,
  // Most test files wait on MySQL, Redis and child processes rather than compute: on a small
  // machine more workers than cores finish sooner (2 cores: 3 workers took about two thirds of 1's time).
  maxWorkers: '150%',
  reporters: ['default', '<rootDir>/tools/jest-summary-reporter.cjs'],
};
