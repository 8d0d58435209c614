import type { Reads } from '@platform/db';
import type { FastifyBaseLogger } from 'fastify';
import type { DataSource } from 'typeorm';
import type { PaymentGateway } from '../gateway/gateway';
import { chargeOrders } from './charge';
import type { OrderClient } from './order-client';
import type { PaymentsRepository } from './payments-repository';
import { recoverySweep } from './recovery';
import { refundPayments } from './refund';
import { chargeSettlement } from './settlement';
import { paymentReads } from './views';

export interface PaymentsOptions {
  ds: () => DataSource;
  /** Where the user's reads of their payments go (a replica where safe); every other read is the primary's. */
  reads: Reads;
  repository: PaymentsRepository;
  gateway: PaymentGateway;
  orders: OrderClient;
  nudgeOutbox: () => void;
  log: FastifyBaseLogger;
  /**
   * A PROCESSING payment untouched for this long has no request answering for it any more
   * (longer than a request's whole provider budget); the recovery sweep settles it.
   */
  staleAfterMs: number;
}

/**
 * payment-service's use cases over one set of dependencies: charge (charge.ts), refund
 * (refund.ts), the reads (views.ts) and the recovery sweep (recovery.ts), which share the
 * settling of a charge's outcome under the payment row's fence (settlement.ts).
 */
export function createPayments(opts: PaymentsOptions) {
  const { ds, repository, gateway, nudgeOutbox, log, staleAfterMs } = opts;
  const settlement = chargeSettlement({ repository, gateway, nudgeOutbox, log, staleAfterMs });
  const refunds = refundPayments({ ds, repository, gateway, nudgeOutbox, log });
  const charges = chargeOrders({ repository, gateway, orders: opts.orders, settlement });
  const reads = paymentReads(repository, opts.reads);
  const recovery = recoverySweep({ repository, settlement, refunds, log, staleAfterMs });

  return Object.freeze({
    pay: charges.pay,
    refund: refunds.refund,
    get: reads.get,
    list: reads.list,
    recover: recovery.recover,
  });
}

export type Payments = ReturnType<typeof createPayments>;
