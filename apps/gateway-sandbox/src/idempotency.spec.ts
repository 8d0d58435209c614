import { HttpProblem } from '@platform/service-kit';
import { fingerprint, IdempotencyKeys } from './idempotency';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A work function that counts its runs. */
function counted<T>(answer: () => T) {
  const work = async () => {
    work.runs++;
    return answer();
  };
  work.runs = 0;
  return work;
}

describe('IdempotencyKeys', () => {
  it('when a key has expired, then the next request with it runs again', async () => {
    const keys = new IdempotencyKeys({ ttlMs: 30, maxEntries: 10 });
    const work = counted(() => 'ok');
    await keys.run('s', 'k', 'p', work);
    expect((await keys.run('s', 'k', 'p', work)).ran).toBe(false);
    await sleep(40);
    expect((await keys.run('s', 'k', 'p', work)).ran).toBe(true);
    expect(work.runs).toBe(2);
  });

  it('when the map is full, then the oldest key is dropped and the newest still replay', async () => {
    const keys = new IdempotencyKeys({ ttlMs: 60_000, maxEntries: 3 });
    const work = counted(() => 'ok');
    for (const key of ['a', 'b', 'c', 'd']) await keys.run('s', key, 'p', work);
    expect(keys.size).toBe(3);
    expect((await keys.run('s', 'd', 'p', work)).ran).toBe(false);
    expect((await keys.run('s', 'a', 'p', work)).ran).toBe(true);
  });

  it('when work throws a 4xx problem, then it is kept; a 5xx problem or any other error is not', async () => {
    const keys = new IdempotencyKeys();
    const outcomes = await Promise.all(
      [new HttpProblem({ status: 409, code: 'C', detail: 'd' }), new HttpProblem({ status: 502, code: 'G', detail: 'd' }), new Error('bug')].map((e, i) =>
        keys.run('s', `k${i}`, 'p', async () => {
          throw e;
        }),
      ),
    );
    expect(outcomes.map((o) => o.kept)).toEqual([true, false, false]);
    expect(keys.size).toBe(1);
  });

  it('when the same key is used in two scopes, then each runs its own work', async () => {
    const keys = new IdempotencyKeys();
    expect((await keys.run('charge', 'k', 'p1', async () => 1)).ran).toBe(true);
    expect((await keys.run('refund', 'k', 'p2', async () => 2)).ran).toBe(true);
  });
});

describe('fingerprint', () => {
  it('when two bodies differ only in member order, then they have one fingerprint; when a value differs, not', () => {
    expect(fingerprint({ a: 1, b: 'x' })).toBe(fingerprint({ b: 'x', a: 1 }));
    expect(fingerprint({ a: 1, b: 'x' })).not.toBe(fingerprint({ a: 2, b: 'x' }));
    expect(fingerprint({ a: 1 })).not.toBe(fingerprint({ a: 1, b: undefined, c: 1 }));
  });
});
