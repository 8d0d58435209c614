/* eslint-disable @nx/enforce-module-boundaries -- a workspace test: it reads every app's own config schema. */
import type { TSchema } from '@sinclair/typebox';
import { ConfigSchema as gatewayConfig } from '../apps/gateway-sandbox/src/config';
import { ConfigSchema as orderConfig } from '../apps/order-service/src/config';
import { ConfigSchema as paymentConfig } from '../apps/payment-service/src/config';
import { ConfigSchema as userConfig } from '../apps/user-service/src/config';

/**
 * A bad value's message says what is allowed (service-kit's loadConfig): a patterned variable
 * needs a description to show instead of its regular expression, and a choice must be a union
 * of literals, whose message lists them.
 */
describe.each([
  ['user-service', userConfig],
  ['order-service', orderConfig],
  ['payment-service', paymentConfig],
  ['gateway-sandbox', gatewayConfig],
])('the %s configuration', (_service, schema) => {
  const variables = Object.entries(schema.properties as Record<string, TSchema>);

  it.each(variables.filter(([, s]) => s['pattern']).map(([name, s]) => [name, s]))('when %s has a pattern, then it has a description', (_name, s) => {
    expect(s['description']).toEqual(expect.any(String));
  });

  it.each(variables.filter(([, s]) => s['anyOf']).map(([name, s]) => [name, s]))('when %s is a choice, then every choice is a literal', (_name, s) => {
    expect((s['anyOf'] as TSchema[]).every((choice) => choice['const'] !== undefined)).toBe(true);
  });
});
