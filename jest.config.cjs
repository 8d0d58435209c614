// `npx jest` runs every project; `npx nx test <project>` runs one.
module.exports = {
  projects: [
    '<rootDir>/apps/*/jest.config.cjs',
    '<rootDir>/libs/*/jest.config.cjs',
    '<rootDir>/tools/jest.config.cjs',
  ],
  reporters: ['default', '<rootDir>/tools/jest-summary-reporter.cjs'],
};
