import { problemMapping } from '@platform/service-kit';
import { isLedgerError } from '../errors';

/**
 * The ledger's refusals on the wire (README.md, Routes): applied by the provider routes, and by
 * the sandbox to what it keeps for an Idempotency-Key, so a replay is the same answer.
 */
export const ledgerProblems = problemMapping(isLedgerError, {
  ChargeNotFound: (e) => ({ status: 404, code: 'CHARGE_NOT_FOUND', detail: e.message }),
  ChargeNotRefundable: (e) => ({ status: 409, code: 'CHARGE_NOT_REFUNDABLE', detail: e.message }),
  RefundExceedsCharge: (e) => ({ status: 409, code: 'REFUND_EXCEEDS_CHARGE', detail: e.message, extensions: { refundable: e.refundable } }),
});
