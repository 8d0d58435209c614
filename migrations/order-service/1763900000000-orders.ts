import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Orders, their items, and the outbox of events order-service publishes. Ids are UUIDv7
 * in BINARY(16); money is BIGINT minor units; times are UTC DATETIME(3). Written for
 * MySQL 8.4 and MariaDB 10.11 alike.
 */
export class Orders1763900000000 implements MigrationInterface {
  name = 'Orders1763900000000';

  async up(q: QueryRunner): Promise<void> {
    // A UUIDv7 starts with its creation time in milliseconds, and created_at is taken from
    // it, so ordering by id is ordering by (created_at, id). Paging therefore needs only
    // `user_id = ? AND id < ?` on (user_id, id): a range scan that reads the page and
    // stops, at the millionth order as at the first. (A row constructor such as
    // `(created_at, id) < (?, ?)` is not range-scanned by MariaDB.) The status variant
    // serves the filtered list the same way. `version` grows with every change; status
    // changes are conditional updates (`WHERE status = 'PENDING'`), so two transitions
    // racing from one state cannot both win.
    await q.query(`CREATE TABLE orders (
      id BINARY(16) NOT NULL,
      user_id BINARY(16) NOT NULL,
      status ENUM('PENDING', 'PAID', 'CANCELLED', 'REFUNDED') CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      currency CHAR(3) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      total_amount BIGINT NOT NULL,
      version INT UNSIGNED NOT NULL DEFAULT 1,
      created_at DATETIME(3) NOT NULL,
      updated_at DATETIME(3) NOT NULL,
      PRIMARY KEY (id),
      KEY ix_orders_user (user_id, id),
      KEY ix_orders_user_status (user_id, status, id),
      CONSTRAINT ck_orders_total CHECK (total_amount > 0)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    // Items are written once, with the order, in one multi-row INSERT, and read by order.
    // Names keep every character exactly (utf8mb4_bin), emoji included.
    await q.query(`CREATE TABLE order_items (
      order_id BINARY(16) NOT NULL,
      line_no SMALLINT UNSIGNED NOT NULL,
      sku VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      name VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
      unit_price BIGINT NOT NULL,
      quantity INT NOT NULL,
      line_total BIGINT NOT NULL,
      PRIMARY KEY (order_id, line_no),
      CONSTRAINT fk_order_items_order FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE,
      CONSTRAINT ck_order_items_amounts CHECK (unit_price > 0 AND quantity > 0 AND line_total = unit_price * quantity)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    // Events written in the same transaction as the change they report, relayed to a Redis
    // Stream by @platform/events. `dedupe_key` makes a redelivered trigger enqueue once.
    await q.query(`CREATE TABLE outbox (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
      stream VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      dedupe_key VARCHAR(191) CHARACTER SET ascii COLLATE ascii_bin NULL,
      payload MEDIUMTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
      created_at DATETIME(3) NOT NULL,
      sent_at DATETIME(3) NULL,
      PRIMARY KEY (id),
      UNIQUE KEY uq_outbox_dedupe (dedupe_key),
      KEY ix_outbox_unsent (sent_at, id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE outbox');
    await q.query('DROP TABLE order_items');
    await q.query('DROP TABLE orders');
  }
}
