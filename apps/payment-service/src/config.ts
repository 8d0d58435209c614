import { authEnv } from '@platform/auth';
import { eventsEnv } from '@platform/events';
import { Type, type Static } from '@sinclair/typebox';
import { corsEnv, mysqlEnv, peerEnv, peerSecretEnv, peerTimeoutEnv, rateLimitEnv, redisEnv, revocationEnv, serverEnv } from '@platform/service-kit';

export const ConfigSchema = Type.Object({
  ...serverEnv(3003),
  ...mysqlEnv('payment_service'),
  ...redisEnv('payment:'),
  ...rateLimitEnv(),
  ...peerSecretEnv(),
  ...corsEnv(),
  ...revocationEnv(),
  ...authEnv(),
  ...eventsEnv(),
  ...peerEnv.USER_SERVICE_URL(),
  ...peerEnv.ORDER_SERVICE_URL(),
  ...peerEnv.PAYMENT_GATEWAY_URL(),
  ...peerTimeoutEnv(),
  /*
   * An unreachable provider holds a payment for two attempts and a lookup, each ended by one of
   * the two timeouts below (undici checks them on half-second ticks: 750 ms ends within 0.5-1 s,
   * 1000 ms within 1-1.5 s), plus the back-off: with the defaults about 3.2 s at most, under the
   * 5 s a dependency may take (CONTRACT.md, "When parts fail"). Raise one, lower another.
   */
  /** Opening a connection to the provider. */
  GATEWAY_CONNECT_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 60_000, default: 750 }),
  /** Per attempt: waiting for the provider's response headers, and then for each piece of its body. */
  GATEWAY_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 60_000, default: 750 }),
  /** Attempts of one provider call (same idempotency key) on no answer or a 5xx, the first included. */
  GATEWAY_MAX_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 10, default: 2 }),
  /**
   * A PROCESSING payment or PENDING refund untouched this long is settled by the recovery
   * sweep. Must exceed a request's whole wait on the provider (the attempts and the lookup above).
   */
  PAYMENT_STALE_AFTER_MS: Type.Integer({ minimum: 1_000, maximum: 86_400_000, default: 60_000 }),
  /** How often each instance runs the recovery sweep; 0 turns it off. */
  PAYMENT_RECOVERY_INTERVAL_MS: Type.Integer({ minimum: 0, maximum: 3_600_000, default: 30_000 }),
});

export type Config = Static<typeof ConfigSchema>;
