import { randomFillSync } from 'node:crypto';

/**
 * The seed's rows, written straight into SQL text: hex literals for the BINARY(16) ids,
 * quoted UTC datetimes, no placeholders. Building a few thousand rows of text is far
 * cheaper than binding eight parameters per row, and every value here is the bench's own.
 */

/** The user whose pages are measured: 2,000 orders, about a third of them PAID. */
export const MEASURED_USER = 'b0000000-0000-4000-8000-0000000bea7c';
export const MEASURED_ORDERS = 2_000;
/** Everyone else; at 1M orders, about 50 each. */
const OTHER_USERS = 20_000;

const hexOf = (uuid: string) => uuid.replace(/-/g, '');
const MEASURED_HEX = hexOf(MEASURED_USER);
const userHex = (i: number): string => `b0000000000040008000${i.toString(16).padStart(12, '0')}`;

/**
 * A UUIDv7 for a given millisecond: 48 bits of time, version 7, 74 random bits, variant
 * 10 (RFC 9562 §5.7). Ids made for ascending times ascend, as the service's own do.
 */
export function uuidV7At(ms: number, random: Buffer = randomFillSync(Buffer.alloc(10))): Buffer {
  const id = Buffer.alloc(16);
  id.writeUIntBE(ms, 0, 6);
  random.copy(id, 6, 0, 10);
  id[6] = 0x70 | ((id[6] as number) & 0x0f);
  id[8] = 0x80 | ((id[8] as number) & 0x3f);
  return id;
}

/** About a third PAID, as for the measured user, for everyone. */
function status(r: number): string {
  if (r < 0.34) return 'PAID';
  if (r < 0.84) return 'PENDING';
  return r < 0.96 ? 'CANCELLED' : 'REFUNDED';
}

const int = (min: number, max: number) => min + Math.floor(Math.random() * (max - min + 1));
const datetime = (ms: number) => new Date(ms).toISOString().slice(0, 23).replace('T', ' ');

export interface ChunkSql {
  orders: string;
  items: string;
  itemCount: number;
}

/**
 * One multi-row INSERT for the orders at these times (ascending) and one for their 1 to 3
 * items each. `measured[i]` says whether order i is the measured user's.
 */
export function chunkSql(times: Float64Array, measured: Uint8Array): ChunkSql {
  const random = randomFillSync(Buffer.alloc(10 * times.length));
  const orders: string[] = [];
  const items: string[] = [];
  for (let i = 0; i < times.length; i++) {
    const ms = times[i] as number;
    const id = `0x${uuidV7At(ms, random.subarray(i * 10, i * 10 + 10)).toString('hex')}`;
    const user = measured[i] ? MEASURED_HEX : userHex(int(0, OTHER_USERS - 1));
    let total = 0;
    for (let line = 1, lines = int(1, 3); line <= lines; line++) {
      const sku = int(1, 5_000);
      const [price, quantity] = [int(100, 100_000), int(1, 5)];
      total += price * quantity;
      items.push(`(${id},${line},'SKU-${sku}','Item ${sku}',${price},${quantity},${price * quantity})`);
    }
    const at = `'${datetime(ms)}'`;
    orders.push(`(${id},0x${user},'${status(Math.random())}','EUR',${total},1,${at},${at})`);
  }
  return {
    orders: `INSERT INTO orders (id, user_id, status, currency, total_amount, version, created_at, updated_at) VALUES ${orders.join(',')}`,
    items: `INSERT INTO order_items (order_id, line_no, sku, name, unit_price, quantity, line_total) VALUES ${items.join(',')}`,
    itemCount: items.length,
  };
}
