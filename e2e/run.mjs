// npm run test:e2e / npm run test:chaos. Extra arguments go to jest.
//   node e2e/run.mjs          the contract walk: against E2E_*_URLS when given (once); otherwise
//                             on the built apps, first one instance of each service, then three,
//                             then three on a Redis Cluster (REDIS_CLUSTER_NODES), then three
//                             reading from a MySQL read replica (DATABASE_REPLICA_URLS)
//   node e2e/run.mjs chaos    the chaos suite, one file at a time (each starts its own platform)
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const [mode, ...rest] = process.argv.slice(2);
const args = mode === 'chaos' ? rest : process.argv.slice(2);
const LOGS = join(root, 'e2e', 'artifacts', 'logs');
const jest = (config, env = {}, extra = []) => {
  // The contract passes' teardown leaves the processes' logs here; the chaos suite prints its own.
  const logs = config === 'e2e/jest.config.cjs';
  if (logs) rmSync(LOGS, { recursive: true, force: true });
  const run = spawnSync(process.execPath, ['node_modules/jest/bin/jest.js', '-c', config, ...extra, ...args], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, ...env },
  });
  if (run.status !== 0) {
    if (logs) printLogs();
    process.exit(run.status ?? 1);
  }
};

/** The failed pass's process logs (written by the global teardown to e2e/artifacts/logs), their last lines each. */
function printLogs() {
  if (!existsSync(LOGS)) return;
  for (const file of readdirSync(LOGS).sort()) {
    const lines = readFileSync(join(LOGS, file), 'utf8').split('\n').filter(Boolean);
    console.log(`\n== ${file}: the last ${Math.min(lines.length, 40)} of ${lines.length} lines logged (e2e/artifacts/logs)`);
    console.log(lines.slice(-40).join('\n'));
  }
}

// The apps are built once here, unless the suite targets running instances; each pass copies
// the build (buildApps in e2e/src/platform.ts).
if (mode === 'chaos' || !process.env.E2E_USER_URLS) {
  const build = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
  process.env.E2E_APPS_BUILT = '1';
}

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
  console.log('\n== e2e: three instances of each service reading from a MySQL read replica (MariaDB, GTID)');
  jest('e2e/jest.config.cjs', { E2E_INSTANCES: '3', E2E_MYSQL_REPLICA: '1' }, ['--testPathIgnorePatterns', '/docs/']);
}
