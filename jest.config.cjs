// `npx jest` runs every project; `npx nx test <project>` runs one.
module.exports = {
  projects: [
    '<rootDir>/apps/*/jest.config.cjs',
    '<rootDir>/libs/*/jest.config.cjs',
    '<rootDir>/libs/redis/jest.cluster.config.cjs',
    '<rootDir>/tools/jest.config.cjs',
    '<rootDir>/e2e/jest.unit.config.cjs',
  ],
  // Read from the root config only when projects run together; each project's copy serves `nx test`.
  testTimeout: 30_000,
  // Most test files wait on MySQL, Redis and child processes rather than compute: a worker per core
  // (jest's default is one fewer) finished in about half the time on a 2-core machine. More workers
  // than cores starved the tests that time how fast a dead dependency fails, and the processes others start.
  maxWorkers: '100%',
  reporters: ['default', '<rootDir>/tools/jest-summary-reporter.cjs'],
};
