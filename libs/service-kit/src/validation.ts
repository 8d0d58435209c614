import Ajv, { type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

/**
 * Bodies are validated as sent: no type coercion ("100" is not a number) and no
 * silent removal of undeclared properties (they are a 400, not mass assignment).
 * Query strings, params and headers arrive as text, so there numbers are coerced.
 */
const BASE: Options = Object.freeze({
  allErrors: true,
  removeAdditional: false,
  useDefaults: true,
  strict: false,
});

function makeAjv(coerceTypes: Options['coerceTypes']): Ajv {
  const ajv = new Ajv({ ...BASE, coerceTypes });
  addFormats(ajv);
  return ajv;
}

export function createValidatorCompiler(): FastifySchemaCompiler<unknown> {
  const strict = makeAjv(false);
  const coercing = makeAjv('array');
  return ({ schema, httpPart }) => (httpPart === 'body' ? strict : coercing).compile(schema as object);
}
