import { binaryToUuid, moneyOf, uuidToBinary, type OneTripTransactions } from '@platform/db';
import { enqueueAfterOneRowChanged, type OutboxEntry } from '@platform/events';
import type { DataSource, EntityManager } from 'typeorm';

export type StoredPaymentStatus = 'PROCESSING' | 'SUCCEEDED' | 'FAILED' | 'PARTIALLY_REFUNDED' | 'REFUNDED';

export interface Payment {
  id: string;
  orderId: string;
  userId: string;
  idempotencyKey: string;
  requestHash: Buffer;
  amount: number;
  currency: string;
  status: StoredPaymentStatus;
  failureCode: string | null;
  refundedAmount: number;
  refundPendingAmount: number;
  providerChargeId: string | null;
  fence: number;
  /** Grows with every update of the row: the payment's ETag. */
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

export type RefundStatus = 'PENDING' | 'SUCCEEDED' | 'FAILED';

export interface Refund {
  id: string;
  paymentId: string;
  userId: string;
  idempotencyKey: string;
  requestHash: Buffer;
  amount: number;
  status: RefundStatus;
  reason: string;
  providerRefundId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

interface PaymentRow {
  id: Buffer;
  order_id: Buffer;
  user_id: Buffer;
  idempotency_key: string;
  request_hash: Buffer;
  amount: string | number;
  currency: string;
  status: StoredPaymentStatus;
  failure_code: string | null;
  refunded_amount: string | number;
  refund_pending_amount: string | number;
  provider_charge_id: string | null;
  fence: string | number;
  version: number;
  created_at: Date;
  updated_at: Date;
}

interface RefundRow {
  id: Buffer;
  payment_id: Buffer;
  user_id: Buffer;
  idempotency_key: string;
  request_hash: Buffer;
  amount: string | number;
  status: RefundStatus;
  reason: string;
  provider_refund_id: string | null;
  created_at: Date;
  updated_at: Date;
}

export type Db = DataSource | EntityManager;

const PAYMENT_COLUMNS =
  'id, order_id, user_id, idempotency_key, request_hash, amount, currency, status, failure_code, refunded_amount, refund_pending_amount, provider_charge_id, fence, version, created_at, updated_at';
const REFUND_COLUMNS = 'id, payment_id, user_id, idempotency_key, request_hash, amount, status, reason, provider_refund_id, created_at, updated_at';

function toPayment(row: PaymentRow): Payment {
  return {
    id: binaryToUuid(row.id),
    orderId: binaryToUuid(row.order_id),
    userId: binaryToUuid(row.user_id),
    idempotencyKey: row.idempotency_key,
    requestHash: row.request_hash,
    amount: moneyOf(row.amount),
    currency: row.currency,
    status: row.status,
    failureCode: row.failure_code,
    refundedAmount: moneyOf(row.refunded_amount),
    refundPendingAmount: moneyOf(row.refund_pending_amount),
    providerChargeId: row.provider_charge_id,
    fence: Number(row.fence),
    version: Number(row.version),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toRefund(row: RefundRow): Refund {
  return {
    id: binaryToUuid(row.id),
    paymentId: binaryToUuid(row.payment_id),
    userId: binaryToUuid(row.user_id),
    idempotencyKey: row.idempotency_key,
    requestHash: row.request_hash,
    amount: moneyOf(row.amount),
    status: row.status,
    reason: row.reason,
    providerRefundId: row.provider_refund_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** What TypeORM's query() answers for INSERT and UPDATE over mysql2. */
type ResultHeader = { affectedRows: number };

/** MySQL's duplicate-key error, with the index it hit. */
export function duplicateKeyOf(err: unknown): string | undefined {
  const e = err as { code?: string; driverError?: { code?: string }; message?: string; sqlMessage?: string };
  const code = e.code ?? e.driverError?.code;
  if (code !== 'ER_DUP_ENTRY') return undefined;
  const message = e.sqlMessage ?? e.message ?? '';
  return /for key '(?:[^.']+\.)?([^']+)'/.exec(message)?.[1] ?? '';
}

/** The fence of a payment as inserted: its inserting request holds it. Each takeover adds one (`takeOver`). */
export const FIRST_FENCE = 1;

export type PaymentOutcome =
  | { status: 'SUCCEEDED'; providerChargeId: string }
  | { status: 'FAILED'; failureCode: string; providerChargeId: string | null };

/**
 * Payments and refunds in MySQL. `ds` is read per query: the pool may connect after start.
 * `oneTrip` sends a settling transaction in one round trip (ADR 0022).
 */
export function paymentsRepository(ds: () => DataSource, oneTrip: OneTripTransactions) {
  async function onePayment(db: Db, where: string, params: unknown[], lock = false): Promise<Payment | undefined> {
    const rows = (await db.query(`SELECT ${PAYMENT_COLUMNS} FROM payments WHERE ${where}${lock ? ' FOR UPDATE' : ''}`, params)) as PaymentRow[];
    return rows[0] ? toPayment(rows[0]) : undefined;
  }

  return Object.freeze({
    /**
     * A new PROCESSING payment. Throws the duplicate-key error of `uq_payments_live_order`
     * when the order already has a live payment, and of `uq_payments_user_key` when the
     * user already used this key.
     */
    async insertProcessing(p: Pick<Payment, 'id' | 'orderId' | 'userId' | 'idempotencyKey' | 'requestHash' | 'amount' | 'currency' | 'fence' | 'createdAt'>): Promise<void> {
      await ds().query(
        `INSERT INTO payments (id, order_id, user_id, idempotency_key, request_hash, amount, currency, status, fence, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'PROCESSING', ?, ?, ?)`,
        [uuidToBinary(p.id), uuidToBinary(p.orderId), uuidToBinary(p.userId), p.idempotencyKey, p.requestHash, p.amount, p.currency, p.fence, p.createdAt, p.createdAt],
      );
    },

    findById(id: string, db: Db = ds(), lock = false): Promise<Payment | undefined> {
      return onePayment(db, 'id = ?', [uuidToBinary(id)], lock);
    },

    findByKey(userId: string, key: string, db: Db = ds()): Promise<Payment | undefined> {
      return onePayment(db, 'user_id = ? AND idempotency_key = ?', [uuidToBinary(userId), key]);
    },

    /**
     * What a refused INSERT must know, in one statement: the user's payment under this key, if
     * any, and the order's live payment (not FAILED: uq_payments_live_order), if any (the same row
     * may come twice). Each half reads one row
     * by its unique index, on MySQL and MariaDB alike, whatever the optimizer makes of an OR.
     */
    async findForCharge(userId: string, key: string, orderId: string, db: Db = ds()): Promise<{ byKey?: Payment; live?: Payment }> {
      const user = uuidToBinary(userId);
      const order = uuidToBinary(orderId);
      const rows = (await db.query(
        `SELECT ${PAYMENT_COLUMNS} FROM payments WHERE user_id = ? AND idempotency_key = ?
         UNION ALL SELECT ${PAYMENT_COLUMNS} FROM payments WHERE live_order_id = ?`,
        [user, key, order],
      )) as PaymentRow[];
      const found: { byKey?: Payment; live?: Payment } = {};
      for (const row of rows) {
        const p = toPayment(row);
        if (row.user_id.equals(user) && row.idempotency_key === key) found.byKey = p;
        if (row.order_id.equals(order) && p.status !== 'FAILED') found.live = p;
      }
      return found;
    },

    async listForOrder(userId: string, orderId: string, db: Db = ds()): Promise<Payment[]> {
      const rows = (await db.query(`SELECT ${PAYMENT_COLUMNS} FROM payments WHERE order_id = ? AND user_id = ? ORDER BY id`, [
        uuidToBinary(orderId),
        uuidToBinary(userId),
      ])) as PaymentRow[];
      return rows.map(toPayment);
    },

    /** PROCESSING payments last touched before `before`, oldest first: the ones no request answers for any more. */
    async stale(before: Date, limit: number, db: Db = ds()): Promise<Payment[]> {
      const rows = (await db.query(`SELECT ${PAYMENT_COLUMNS} FROM payments WHERE status = 'PROCESSING' AND updated_at < ? ORDER BY updated_at LIMIT ?`, [
        before,
        limit,
      ])) as PaymentRow[];
      return rows.map(toPayment);
    },

    /**
     * Takes over PROCESSING payment `p` from the holder of the fence it was read with: the row then
     * carries `p.fence + 1`, the caller's from now on, and the answer is the payment as held (that
     * fence and version); undefined when another took it over first or it is no longer PROCESSING.
     * Of several takeovers from one fence exactly one succeeds (the UPDATE compares and sets in one
     * step); the former holder's finishing write, which names its own fence, then changes nothing.
     * `touch`: the row counts as touched now (a request answers for it again), so it is not stale
     * for a while.
     */
    async takeOver(p: Payment, touch: boolean, db: Db = ds()): Promise<Payment | undefined> {
      const at = new Date();
      const { affectedRows } = (await db.query(
        `UPDATE payments SET fence = fence + 1, version = version + 1${touch ? ', updated_at = ?' : ''} WHERE id = ? AND status = 'PROCESSING' AND fence = ?`,
        touch ? [at, uuidToBinary(p.id), p.fence] : [uuidToBinary(p.id), p.fence],
      )) as ResultHeader;
      if (affectedRows !== 1) return undefined;
      return { ...p, fence: p.fence + 1, version: p.version + 1, updatedAt: touch ? at : p.updatedAt };
    },

    /**
     * Records the provider's final answer at `at`, if the row is still PROCESSING and no newer
     * fence took it over; the row then carries this fence. `event` goes to the outbox in the same
     * transaction, only when the answer was recorded: one round trip for both (the event's
     * insert is conditional on the UPDATE's count, so no read comes between them).
     */
    async finish(id: string, fence: number, outcome: PaymentOutcome, at: Date, event?: OutboxEntry): Promise<boolean> {
      const failureCode = outcome.status === 'FAILED' ? outcome.failureCode : null;
      const [recorded] = await oneTrip.run([
        {
          sql: `UPDATE payments SET status = ?, failure_code = ?, provider_charge_id = ?, fence = ?, version = version + 1, updated_at = ?
         WHERE id = ? AND status = 'PROCESSING' AND fence <= ?`,
          values: [outcome.status, failureCode, outcome.providerChargeId, fence, at, uuidToBinary(id), fence],
        },
        ...(event ? [enqueueAfterOneRowChanged(event)] : []),
      ]);
      return recorded === 1;
    },

    /** The provider said it did nothing: the attempt leaves no trace, so a retry with its key runs afresh. */
    async discard(id: string, fence: number, db: Db = ds()): Promise<boolean> {
      const { affectedRows } = (await db.query("DELETE FROM payments WHERE id = ? AND status = 'PROCESSING' AND fence <= ?", [
        uuidToBinary(id),
        fence,
      ])) as ResultHeader;
      return affectedRows === 1;
    },

    /** Sets aside `amount` of the payment for a refund in flight; the CHECK refuses more than is left. */
    async reserveRefund(paymentId: string, amount: number, db: Db): Promise<void> {
      await db.query('UPDATE payments SET refund_pending_amount = refund_pending_amount + ?, version = version + 1, updated_at = ? WHERE id = ?', [
        amount,
        new Date(),
        uuidToBinary(paymentId),
      ]);
    },

    /** Moves a reserved amount to refunded (settled) or back (failed), with the status that follows. */
    async settleRefund(paymentId: string, amount: number, settled: boolean, db: Db): Promise<void> {
      await db.query(
        `UPDATE payments SET
           refund_pending_amount = refund_pending_amount - ?,
           refunded_amount = refunded_amount + ?,
           status = CASE WHEN refunded_amount = amount THEN 'REFUNDED' WHEN refunded_amount > 0 THEN 'PARTIALLY_REFUNDED' ELSE status END,
           version = version + 1, updated_at = ?
         WHERE id = ?`,
        [amount, settled ? amount : 0, new Date(), uuidToBinary(paymentId)],
      );
    },

    async insertRefund(r: Omit<Refund, 'providerRefundId' | 'updatedAt' | 'status'>, db: Db): Promise<void> {
      await db.query(
        `INSERT INTO refunds (id, payment_id, user_id, idempotency_key, request_hash, amount, status, reason, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, 'PENDING', ?, ?, ?)`,
        [uuidToBinary(r.id), uuidToBinary(r.paymentId), uuidToBinary(r.userId), r.idempotencyKey, r.requestHash, r.amount, r.reason, r.createdAt, r.createdAt],
      );
    },

    async findRefund(id: string, db: Db = ds(), lock = false): Promise<Refund | undefined> {
      const rows = (await db.query(`SELECT ${REFUND_COLUMNS} FROM refunds WHERE id = ?${lock ? ' FOR UPDATE' : ''}`, [uuidToBinary(id)])) as RefundRow[];
      return rows[0] ? toRefund(rows[0]) : undefined;
    },

    async findRefundByKey(userId: string, key: string, db: Db = ds()): Promise<Refund | undefined> {
      const rows = (await db.query(`SELECT ${REFUND_COLUMNS} FROM refunds WHERE user_id = ? AND idempotency_key = ?`, [uuidToBinary(userId), key])) as RefundRow[];
      return rows[0] ? toRefund(rows[0]) : undefined;
    },

    /** PENDING refunds last touched before `before`: sent again by the recovery sweep. */
    async stalePendingRefunds(before: Date, limit: number, db: Db = ds()): Promise<Refund[]> {
      const rows = (await db.query(`SELECT ${REFUND_COLUMNS} FROM refunds WHERE status = 'PENDING' AND updated_at < ? ORDER BY updated_at LIMIT ?`, [
        before,
        limit,
      ])) as RefundRow[];
      return rows.map(toRefund);
    },

    /** PENDING -> SUCCEEDED or FAILED, once. */
    async finishRefund(id: string, status: 'SUCCEEDED' | 'FAILED', providerRefundId: string | null, db: Db): Promise<boolean> {
      const { affectedRows } = (await db.query(
        "UPDATE refunds SET status = ?, provider_refund_id = ?, updated_at = ? WHERE id = ? AND status = 'PENDING'",
        [status, providerRefundId, new Date(), uuidToBinary(id)],
      )) as ResultHeader;
      return affectedRows === 1;
    },

    /** Marks a PENDING refund as just tried, so the sweep leaves it alone for a while. */
    async touchRefund(id: string, db: Db = ds()): Promise<void> {
      await db.query("UPDATE refunds SET updated_at = ? WHERE id = ? AND status = 'PENDING'", [new Date(), uuidToBinary(id)]);
    },
  });
}

export type PaymentsRepository = ReturnType<typeof paymentsRepository>;
