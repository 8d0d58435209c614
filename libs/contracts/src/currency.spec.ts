import { CURRENCY_CODES, Currency } from './currency';

describe('Currency', () => {
  it('when the list is read, then it has the codes in use and none withdrawn, invented or naming no money', () => {
    expect(CURRENCY_CODES).toEqual(expect.arrayContaining(['EUR', 'USD', 'JPY', 'GBP', 'CHF', 'SLE', 'ZWG']));
    for (const code of ['XYZ', 'HRK', 'SLL', 'ZWL', 'XTS', 'XXX']) expect(CURRENCY_CODES).not.toContain(code);
    expect(CURRENCY_CODES.every((code) => /^[A-Z]{3}$/.test(code))).toBe(true);
    expect(new Set(CURRENCY_CODES).size).toBe(CURRENCY_CODES.length);
  });

  it('when the schema is documented, then it lists the codes and says what a bad value must be', () => {
    expect(Currency.enum).toEqual([...CURRENCY_CODES]);
    expect(Currency['x-error-message']).toBe('must be an ISO 4217 currency code in current use');
  });
});
