import { data as iso4217 } from 'currency-codes';
import { Type } from '@sinclair/typebox';

/**
 * ISO 4217 codes in current use: List One of the standard as shipped by `currency-codes`
 * (pinned; a new release follows each amendment of the list). Node's
 * `Intl.supportedValuesOf('currency')` was not taken: it is whatever the ICU built into the running
 * Node knows, so it changes with the Node version, and Node 20's still has withdrawn codes (HRK,
 * SLL, ZWL, CUC). List One also holds two codes that name no money, left out here: XTS (reserved
 * for testing) and XXX (a transaction with no currency).
 */
const NOT_MONEY = new Set(['XTS', 'XXX']);

export const CURRENCY_CODES: readonly string[] = Object.freeze(iso4217.map((c) => c.code).filter((code) => !NOT_MONEY.has(code)));

/**
 * A currency a client names (an order's, a charge's). An enum, so the OpenAPI documents list the
 * codes; `x-error-message` keeps the 400 from reading "must be equal to one of the allowed values".
 */
export const Currency = Type.String({
  enum: [...CURRENCY_CODES],
  description: 'An ISO 4217 currency code in current use, upper case.',
  examples: ['EUR'],
  'x-error-message': 'must be an ISO 4217 currency code in current use',
});
