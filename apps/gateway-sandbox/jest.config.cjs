module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'gateway-sandbox',
  rootDir: __dirname,
};
