// Bundles each app (its code and the workspace libs) into dist/apps/<app>/; npm packages
// stay external and load from node_modules. Usage: node scripts/build.mjs [app ...]
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';

const APPS = ['user-service', 'order-service', 'payment-service', 'gateway-sandbox'];
const wanted = process.argv.slice(2);
const unknown = wanted.filter((a) => !APPS.includes(a));
if (unknown.length > 0) {
  console.error(`unknown app: ${unknown.join(', ')} (one of ${APPS.join(', ')})`);
  process.exit(2);
}

await Promise.all(
  (wanted.length > 0 ? wanted : APPS).map(async (app) => {
    const outdir = `dist/apps/${app}`;
    await rm(outdir, { recursive: true, force: true });
    const entryPoints = ['main', 'migrate']
      .map((name) => `apps/${app}/src/${name}.ts`)
      .filter((file) => existsSync(file));
    await build({
      entryPoints,
      outdir,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      packages: 'external',
      tsconfig: 'tsconfig.base.json',
      sourcemap: true,
      logLevel: 'warning',
    });
    console.log(`built ${outdir}`);
  }),
);
