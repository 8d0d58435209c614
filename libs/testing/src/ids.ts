import { randomBytes } from 'node:crypto';

/** A short random token for names that must not collide between test files or runs. */
export function uniqueSuffix(): string {
  return `${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
}
