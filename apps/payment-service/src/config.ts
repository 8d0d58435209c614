import { authEnv } from '@platform/auth';
import { Type, type Static } from '@sinclair/typebox';
import { mysqlEnv, peerEnv, rateLimitEnv, redisEnv, revocationEnv, serverEnv } from '@platform/service-kit';

export const ConfigSchema = Type.Object({
  ...serverEnv(3003),
  ...mysqlEnv('payment_service'),
  ...redisEnv('payment:'),
  ...rateLimitEnv(),
  ...revocationEnv(),
  ...authEnv(),
  ...peerEnv.USER_SERVICE_URL(),
  ...peerEnv.ORDER_SERVICE_URL(),
  ...peerEnv.PAYMENT_GATEWAY_URL(),
});

export type Config = Static<typeof ConfigSchema>;
