// npm run test:e2e / npm run test:chaos. Extra arguments go to jest.
//   node e2e/run.mjs          the contract walk: against E2E_*_URLS when given (once); otherwise
//                             on the built apps, first one instance of each service, then three,
//                             then three on a Redis Cluster (REDIS_CLUSTER_NODES)
//   node e2e/run.mjs chaos    the chaos suite, one file at a time (each starts its own platform)
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const [mode, ...rest] = process.argv.slice(2);
const args = mode === 'chaos' ? rest : process.argv.slice(2);
const jest = (config, env = {}, extra = []) => {
  const run = spawnSync(process.execPath, ['node_modules/jest/bin/jest.js', '-c', config, ...extra, ...args], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, ...env },
  });
  if (run.status !== 0) process.exit(run.status ?? 1);
};

if (mode === 'chaos') {
  jest('e2e/jest.chaos.config.cjs', {}, ['--runInBand']);
} else if (process.env.E2E_USER_URLS) {
  jest('e2e/jest.config.cjs');
} else {
  console.log('\n== e2e: one instance of each service');
  jest('e2e/jest.config.cjs', { E2E_INSTANCES: '1' });
  console.log('\n== e2e: three instances of each service, requests spread over them');
  // The docs in the browser are the same on every instance: checked in the first pass.
  jest('e2e/jest.config.cjs', { E2E_INSTANCES: '3' }, ['--testPathIgnorePatterns', '/docs/']);
  console.log('\n== e2e: three instances of each service on a 3-master Redis Cluster');
  jest('e2e/jest.config.cjs', { E2E_INSTANCES: '3', E2E_REDIS_CLUSTER: '1' }, ['--testPathIgnorePatterns', '/docs/']);
}
