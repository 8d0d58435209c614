import { authEnv } from '@platform/auth';
import { eventsEnv } from '@platform/events';
import { Type, type Static } from '@sinclair/typebox';
import { corsEnv, mysqlEnv, peerEnv, peerSecretEnv, peerTimeoutEnv, rateLimitEnv, redisEnv, revocationEnv, serverEnv } from '@platform/service-kit';

export const ConfigSchema = Type.Object({
  ...serverEnv(3002),
  ...mysqlEnv('order_service'),
  ...redisEnv('order:'),
  ...rateLimitEnv(),
  ...peerSecretEnv(),
  ...corsEnv(),
  ...revocationEnv(),
  ...authEnv(),
  ...eventsEnv(),
  ...peerEnv.USER_SERVICE_URL(),
  ...peerTimeoutEnv(),
});

export type Config = Static<typeof ConfigSchema>;
