import { v7 as uuidv7 } from 'uuid';

/**
 * Ids are UUIDv7 (time-ordered, so new rows append to the primary key's B-tree) kept in
 * BINARY(16): less than half the bytes of the text form, in every index that holds them.
 */
export function newId(): string {
  return uuidv7();
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

export function uuidToBinary(id: string): Buffer {
  if (!isUuid(id)) throw new TypeError('not a UUID');
  return Buffer.from(id.replace(/-/g, ''), 'hex');
}

export function binaryToUuid(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The creation time a UUIDv7 carries in its first 48 bits, in milliseconds since the epoch. */
export function uuidTime(id: string): number {
  if (!isUuid(id) || id[14] !== '7') throw new TypeError('not a UUIDv7');
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}
