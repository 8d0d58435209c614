import { randomUUID } from 'node:crypto';
import { ChargeNotFound } from './errors';
import { Ledger, LEDGER_DEFAULTS } from './ledger';

const charge = (ledger: Ledger, orderId = randomUUID()) => ledger.charge({ amount: 1_000, currency: 'EUR', token: 'tok_visa', orderId }, null);

describe('Ledger', () => {
  it('when charges keep coming, then the ledger stops growing at LEDGER_DEFAULTS.maxCharges and the first is forgotten', () => {
    const ledger = new Ledger();
    const first = charge(ledger);
    for (let i = 0; i < LEDGER_DEFAULTS.maxCharges + 1_000; i++) charge(ledger);
    expect(ledger.size).toBe(LEDGER_DEFAULTS.maxCharges);
    expect(() => ledger.get(first.id)).toThrow(ChargeNotFound);
  });

  it('when it is full, then the oldest charge is forgotten with its refunds and its place in its order, and the newest stay', () => {
    const ledger = new Ledger({ maxCharges: 3 });
    const order = randomUUID();
    const oldest = charge(ledger, order);
    ledger.refund({ chargeId: oldest.id, amount: 100 });
    const second = charge(ledger, order);
    const others = [charge(ledger), charge(ledger)];

    expect(() => ledger.get(oldest.id)).toThrow(ChargeNotFound);
    expect(ledger.forOrder(order).map((c) => c.id)).toEqual([second.id]);
    expect([second, ...others].map((c) => ledger.get(c.id).id)).toEqual([second, ...others].map((c) => c.id));

    charge(ledger);
    expect(ledger.forOrder(order)).toEqual([]);
  });

  it('when a charge is refunded after newer charges came, then it is still the oldest to go', () => {
    const ledger = new Ledger({ maxCharges: 2 });
    const first = charge(ledger);
    const second = charge(ledger);
    ledger.refund({ chargeId: first.id });
    charge(ledger);
    expect(() => ledger.get(first.id)).toThrow(ChargeNotFound);
    expect(ledger.get(second.id).id).toBe(second.id);
  });
});
