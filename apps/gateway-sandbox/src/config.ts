import { Type, type Static } from '@sinclair/typebox';
import { serverEnv } from '@platform/service-kit';

export const ConfigSchema = Type.Object({
  ...serverEnv(3009),
  GATEWAY_LATENCY_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 0 }),
  GATEWAY_FAILURE_RATE: Type.Number({ minimum: 0, maximum: 1, default: 0 }),
});

export type Config = Static<typeof ConfigSchema>;
