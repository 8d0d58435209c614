import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * When an order became PAID. An order's versions are its status changes, and the only one a
 * client can miss between two others is PAID (version 2, before REFUNDED at 3): with this time a
 * live stream that resumes, or reads the order after both, sends that change as it was committed.
 * NULL for orders that never were PAID, and for those paid before this column (their streams
 * then skip the missed PAID, as before).
 */
export class OrderPaidAt1764300000000 implements MigrationInterface {
  name = 'OrderPaidAt1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE orders ADD COLUMN paid_at DATETIME(3) NULL AFTER updated_at');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE orders DROP COLUMN paid_at');
  }
}
