import { ORDER_STATUSES, type OrderStatus } from '@platform/contracts';
import { binaryToUuid, uuidToBinary } from '@platform/db';
import { createHash } from 'node:crypto';
import { InvalidCursor } from './errors';

/**
 * The list's cursor: opaque to clients, base64url of
 * `version (1) | last order id (16) | status filter (1) | owner tag (8)`.
 *
 * The query under it always filters by the signed-in user, so no cursor can reach another
 * user's orders. The owner tag (the first 8 bytes of SHA-256 of the user id) and the
 * status byte make a cursor used by another user or with another filter an InvalidCursor
 * instead of a page that quietly means something else. Neither is a secret: forging one gains
 * nothing a client cannot already ask for.
 */
const VERSION = 1;
const LENGTH = 1 + 16 + 1 + 8;

export interface Cursor {
  beforeId: string;
  status?: OrderStatus;
}

function ownerTag(userId: string): Buffer {
  return createHash('sha256').update(userId).digest().subarray(0, 8);
}

export function encodeCursor(userId: string, { beforeId, status }: Cursor): string {
  const statusByte = status ? ORDER_STATUSES.indexOf(status) + 1 : 0;
  return Buffer.concat([Buffer.from([VERSION]), uuidToBinary(beforeId), Buffer.from([statusByte]), ownerTag(userId)]).toString('base64url');
}

/** The cursor's position; InvalidCursor unless it came from this user's list with this status filter. */
export function decodeCursor(userId: string, raw: string, status: OrderStatus | undefined): Cursor {
  const bytes = /^[A-Za-z0-9_-]+$/.test(raw) ? Buffer.from(raw, 'base64url') : Buffer.alloc(0);
  if (bytes.length !== LENGTH || bytes[0] !== VERSION) throw new InvalidCursor('must be a nextCursor from a previous page');
  if (!bytes.subarray(18).equals(ownerTag(userId))) throw new InvalidCursor('belongs to another list');
  const statusByte = bytes[17] ?? 0;
  const cursorStatus = statusByte === 0 ? undefined : ORDER_STATUSES[statusByte - 1];
  if (statusByte > ORDER_STATUSES.length || cursorStatus !== status) throw new InvalidCursor('was made with another status filter');
  return { beforeId: binaryToUuid(bytes.subarray(1, 17)), status };
}
