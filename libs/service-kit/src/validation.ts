import Ajv, { type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

/**
 * Bodies are validated as sent: no type coercion ("100" is not a number) and no
 * silent removal of undeclared properties (they are a 400, not mass assignment),
 * whether or not the route's schema remembered to say `additionalProperties: false`.
 * Query strings, params and headers arrive as text, so there numbers are coerced.
 */
const BASE: Options = Object.freeze({
  allErrors: true,
  // Each error carries its schema, so a schema's `x-error-message` can say what it means (error-handler.ts).
  verbose: true,
  removeAdditional: false,
  useDefaults: true,
  strict: false,
});

function makeAjv(coerceTypes: Options['coerceTypes']): Ajv {
  const ajv = new Ajv({ ...BASE, coerceTypes });
  addFormats(ajv);
  return ajv;
}

type Schema = { [key: string]: unknown };

/**
 * A copy of a body schema in which every object that does not say otherwise rejects
 * undeclared properties, so a route cannot forget `additionalProperties: false`.
 * Members of `allOf` stay open: each sees only part of the properties.
 */
export function closeObjects(schema: unknown, insideAllOf = false): unknown {
  if (Array.isArray(schema)) return schema.map((s) => closeObjects(s, insideAllOf));
  if (typeof schema !== 'object' || schema === null) return schema;
  const copy: Schema = {};
  for (const [key, value] of Object.entries(schema as Schema)) {
    copy[key] = key === 'allOf' ? closeObjects(value, true) : key === 'const' || key === 'default' || key === 'enum' ? value : closeObjects(value);
  }
  const isObject = copy['type'] === 'object' || copy['properties'] !== undefined;
  if (isObject && !insideAllOf && copy['additionalProperties'] === undefined && copy['patternProperties'] === undefined) {
    copy['additionalProperties'] = false;
  }
  return copy;
}

export function createValidatorCompiler(): FastifySchemaCompiler<unknown> {
  const strict = makeAjv(false);
  const coercing = makeAjv('array');
  return ({ schema, httpPart }) =>
    httpPart === 'body' ? strict.compile(closeObjects(schema) as object) : coercing.compile(schema as object);
}
