import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Payments, their refunds, and the outbox of events payment-service publishes. Ids are
 * UUIDv7 in BINARY(16); money is BIGINT minor units; times are UTC DATETIME(3). The
 * promises that money depends on are constraints here, so they hold with Redis flushed or
 * down and with any number of instances. Written for MySQL 8.4 and MariaDB 10.11 alike.
 */
export class Payments1764000000000 implements MigrationInterface {
  name = 'Payments1764000000000';

  async up(q: QueryRunner): Promise<void> {
    // - uq_payments_user_key: one payment per (user, Idempotency-Key); a retry whose Redis
    //   record is gone finds the first attempt here instead of charging again.
    // - uq_payments_live_order: at most one payment per order that is not FAILED.
    //   `live_order_id` is the order id while the payment is PROCESSING (at the provider),
    //   SUCCEEDED or (partly) refunded, and NULL once FAILED; NULLs do not collide, so
    //   failed attempts may pile up but a second live one is refused by the index.
    // - Refunds reserve their amount (`refund_pending_amount`) before the provider is
    //   asked and move it to `refunded_amount` once it answered, so the CHECK keeps every
    //   refund, settled or in flight, within the payment.
    // - `fence` is the per-order lock's fencing token of the request that answers for the
    //   row; a finalising write names its fence, so a holder whose lock ran out and was
    //   taken over cannot overwrite the new holder's outcome.
    await q.query(`CREATE TABLE payments (
      id BINARY(16) NOT NULL,
      order_id BINARY(16) NOT NULL,
      user_id BINARY(16) NOT NULL,
      idempotency_key VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      request_hash BINARY(32) NOT NULL,
      amount BIGINT NOT NULL,
      currency CHAR(3) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      status ENUM('PROCESSING', 'SUCCEEDED', 'FAILED', 'PARTIALLY_REFUNDED', 'REFUNDED') CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      failure_code VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
      refunded_amount BIGINT NOT NULL DEFAULT 0,
      refund_pending_amount BIGINT NOT NULL DEFAULT 0,
      provider_charge_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
      fence BIGINT UNSIGNED NOT NULL,
      version INT UNSIGNED NOT NULL DEFAULT 1,
      created_at DATETIME(3) NOT NULL,
      updated_at DATETIME(3) NOT NULL,
      live_order_id BINARY(16) GENERATED ALWAYS AS (IF(status = 'FAILED', NULL, order_id)) STORED,
      PRIMARY KEY (id),
      UNIQUE KEY uq_payments_user_key (user_id, idempotency_key),
      UNIQUE KEY uq_payments_live_order (live_order_id),
      KEY ix_payments_order (order_id, id),
      KEY ix_payments_status (status, updated_at),
      CONSTRAINT ck_payments_amount CHECK (amount > 0),
      CONSTRAINT ck_payments_refunds CHECK (refunded_amount >= 0 AND refund_pending_amount >= 0 AND refunded_amount + refund_pending_amount <= amount),
      CONSTRAINT ck_payments_refunded CHECK (status <> 'REFUNDED' OR refunded_amount = amount),
      CONSTRAINT ck_payments_failed CHECK ((status = 'FAILED') = (failure_code IS NOT NULL))
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    // A refund is PENDING from the moment its amount is reserved until the provider
    // answered; the provider's idempotency key is the refund's id, so a PENDING refund is
    // safely sent again after a crash. Keys are scoped per user like payments'.
    await q.query(`CREATE TABLE refunds (
      id BINARY(16) NOT NULL,
      payment_id BINARY(16) NOT NULL,
      user_id BINARY(16) NOT NULL,
      idempotency_key VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      request_hash BINARY(32) NOT NULL,
      amount BIGINT NOT NULL,
      status ENUM('PENDING', 'SUCCEEDED', 'FAILED') CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      reason VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      provider_refund_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
      created_at DATETIME(3) NOT NULL,
      updated_at DATETIME(3) NOT NULL,
      PRIMARY KEY (id),
      UNIQUE KEY uq_refunds_user_key (user_id, idempotency_key),
      KEY ix_refunds_payment (payment_id, id),
      KEY ix_refunds_status (status, updated_at),
      CONSTRAINT fk_refunds_payment FOREIGN KEY (payment_id) REFERENCES payments (id),
      CONSTRAINT ck_refunds_amount CHECK (amount > 0)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    // Events written in the same transaction as the change they report, relayed to a Redis
    // Stream by @platform/events (the same table as order-service's).
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
    await q.query('DROP TABLE refunds');
    await q.query('DROP TABLE payments');
  }
}
