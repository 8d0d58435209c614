// Runs every service's migrations: `node scripts/migrate-all.mjs up|revert|revert-all [--built]`.
// With --built it runs dist/apps/<service>/migrate.js (after `npm run build`), else the sources via tsx.
// Each service migrates its own schema with its own account, from <SERVICE>_DATABASE_URL when set
// (service-env.mjs); `npx nx run <service>:migrate` migrates one service from its DATABASE_URL.
import { spawnSync } from 'node:child_process';
import { serviceEnv, warnIgnored } from './service-env.mjs';

const SERVICES = ['user-service', 'order-service', 'payment-service'];
const args = process.argv.slice(2);
const built = args.includes('--built');
const direction = args.find((a) => !a.startsWith('--')) ?? 'up';

warnIgnored('migrate', ['DATABASE_URL']);

for (const service of SERVICES) {
  const [cmd, ...rest] = built
    ? [process.execPath, `dist/apps/${service}/migrate.js`]
    : [process.execPath, 'node_modules/tsx/dist/cli.mjs', `apps/${service}/src/migrate.ts`];
  const run = spawnSync(cmd, [...rest, direction], { stdio: 'inherit', env: serviceEnv(service) });
  if (run.status !== 0) process.exit(run.status ?? 1);
}
