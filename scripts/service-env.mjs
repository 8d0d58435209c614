// The environment npm start and npm run migrate give each service's process. One MySQL URL
// cannot serve three schemas, so a DATABASE_URL set for the whole command is not passed on;
// each service's database comes from <SERVICE>_DATABASE_URL (USER_SERVICE_DATABASE_URL, ...),
// from the environment or .env, and is the service's own default when unset. PORT is per
// process as well: each keeps its default port.
import { config as loadDotenv } from 'dotenv';

const fromDotenv = {};
loadDotenv({ processEnv: fromDotenv, quiet: true });

export function serviceEnv(app) {
  const env = { ...fromDotenv, ...process.env };
  delete env.PORT;
  delete env.DATABASE_URL;
  const own = env[`${app.toUpperCase().replaceAll('-', '_')}_DATABASE_URL`];
  if (own) env.DATABASE_URL = own;
  return env;
}

/** Names the whole-command settings `names` that serviceEnv leaves out, so nobody wonders why they did nothing. */
export function warnIgnored(command, names) {
  for (const name of names) {
    if (process.env[name]) {
      const instead = name === 'DATABASE_URL' ? '; set USER_SERVICE_DATABASE_URL, ORDER_SERVICE_DATABASE_URL or PAYMENT_SERVICE_DATABASE_URL' : '';
      console.warn(`${command}: ignoring ${name}, which would be the same for every service${instead}`);
    }
  }
}
