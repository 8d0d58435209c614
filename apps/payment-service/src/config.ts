import { authEnv } from '@platform/auth';
import { eventsEnv } from '@platform/events';
import { Type, type Static } from '@sinclair/typebox';
import { mysqlEnv, peerEnv, peerTimeoutEnv, rateLimitEnv, redisEnv, revocationEnv, serverEnv } from '@platform/service-kit';

export const ConfigSchema = Type.Object({
  ...serverEnv(3003),
  ...mysqlEnv('payment_service'),
  ...redisEnv('payment:'),
  ...rateLimitEnv(),
  ...revocationEnv(),
  ...authEnv(),
  ...eventsEnv(),
  ...peerEnv.USER_SERVICE_URL(),
  ...peerEnv.ORDER_SERVICE_URL(),
  ...peerEnv.PAYMENT_GATEWAY_URL(),
  ...peerTimeoutEnv(),
  /** One attempt of a call to the provider. */
  GATEWAY_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 60_000, default: 5_000 }),
  /** Attempts of one provider call (same idempotency key) on no answer or a 5xx, the first included. */
  GATEWAY_MAX_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 10, default: 3 }),
  /**
   * A PROCESSING payment or PENDING refund untouched this long is settled by the recovery
   * sweep. Must exceed a request's whole provider budget (timeout × attempts plus back-off).
   */
  PAYMENT_STALE_AFTER_MS: Type.Integer({ minimum: 1_000, maximum: 86_400_000, default: 60_000 }),
  /** How often each instance runs the recovery sweep; 0 turns it off. */
  PAYMENT_RECOVERY_INTERVAL_MS: Type.Integer({ minimum: 0, maximum: 3_600_000, default: 30_000 }),
});

export type Config = Static<typeof ConfigSchema>;
