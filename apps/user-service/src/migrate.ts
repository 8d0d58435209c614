import { runMigrationCli } from '@platform/db';
import { migrations } from '@platform/migrations/user-service';
import { configOrExit } from '@platform/service-kit';
import { definition } from './app';

void runMigrationCli({ service: definition.service, config: configOrExit(definition.configSchema), migrations }).then(
  (code) => {
    process.exitCode = code;
  },
);
