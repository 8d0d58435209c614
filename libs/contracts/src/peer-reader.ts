import type { Static, TSchema } from '@sinclair/typebox';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';

/**
 * Checks a peer's JSON against a shared wire shape, with the formats (`uuid`, `date-time`) the
 * services validate with. A tolerant reader: a member the schema does not declare (from a newer
 * peer) is dropped rather than refused, so adding a field does not break the services that read
 * it; every declared member is checked.
 */
const ajv = new Ajv({ allErrors: false, removeAdditional: true, strict: false });
addFormats(ajv);

/** The reader of one shape: the value, as that type, when it has the shape; undefined otherwise. */
export function peerReader<T extends TSchema>(schema: T): (json: unknown) => Static<T> | undefined {
  const check = ajv.compile<Static<T>>(schema);
  return (json) => (check(json) ? json : undefined);
}
