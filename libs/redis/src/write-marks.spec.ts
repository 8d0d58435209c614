import { closeAll, deadRedis, testKeys, testRedis } from '../test/redis';
import type { RedisClient } from './client';
import { createWriteMarks } from './write-marks';

let a: RedisClient;
let b: RedisClient;
beforeAll(async () => {
  [a, b] = await Promise.all([testRedis(), testRedis()]);
});
afterAll(() => closeAll(a, b));

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('write marks', () => {
  it('when a user is marked on one instance, then another sees the mark until its TTL ends, and other users are not marked', async () => {
    const keys = testKeys('wrote');
    const [one, two] = [a, b].map((client) => createWriteMarks({ client, keys, ttlMs: 300 }));
    await one?.mark('u1');
    expect(await two?.marked('u1')).toBe(true);
    expect(await two?.marked('u2')).toBe(false);
    expect(await a.pttl(keys.wrote('u1'))).toBeGreaterThan(0);
    await sleep(400);
    expect(await two?.marked('u1')).toBe(false);
  });

  it('when a mark is set again, then its TTL starts again', async () => {
    const keys = testKeys('wrote');
    const marks = createWriteMarks({ client: a, keys, ttlMs: 400 });
    await marks.mark('u1');
    await sleep(250);
    await marks.mark('u1');
    await sleep(250);
    expect(await marks.marked('u1')).toBe(true);
  });

  it('when Redis does not answer, then marking and asking reject (the reader then goes to the primary)', async () => {
    const dead = deadRedis();
    const marks = createWriteMarks({ client: dead, keys: testKeys('wrote'), ttlMs: 1_000 });
    await expect(marks.mark('u1')).rejects.toThrow();
    await expect(marks.marked('u1')).rejects.toThrow();
    dead.disconnect();
  });

  it('when the TTL is not a positive number of ms, then creating the marks throws', () => {
    expect(() => createWriteMarks({ client: a, keys: testKeys('wrote'), ttlMs: 0 })).toThrow(RangeError);
  });
});
