module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'request-pipeline',
  rootDir: __dirname,
};
