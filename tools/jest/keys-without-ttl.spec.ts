import { Redis } from 'ioredis';
import { describeKeysWithoutTtl, keysWithoutTtl } from './keys-without-ttl';

const url = () => process.env['REDIS_URL'] as string;
const prefix = `t:ttl-scan:${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}:`;

describe('keysWithoutTtl (the end-of-run check)', () => {
  let redis: Redis;

  beforeAll(() => {
    redis = new Redis(url());
  });

  afterAll(async () => {
    await redis.quit();
  });

  it('when a key never expires, then it is listed; keys with a TTL and streams are not', async () => {
    const [forever, expiring, stream] = ['forever', 'expiring', 'stream'].map((k) => `${prefix}${k}`) as [string, string, string];
    try {
      await redis.set(forever, '1');
      await redis.set(expiring, '1', 'PX', 60_000);
      await redis.xadd(stream, '*', 'f', 'v');
      const found = (await keysWithoutTtl(url())).filter((k) => k.startsWith(prefix));
      expect(found).toEqual([forever]);
    } finally {
      // Deleted before the run's own check, which would otherwise (rightly) fail on it.
      await redis.del(forever, expiring, stream);
    }
  });

  it('when keys are found, then the message names them and says what to do', () => {
    const message = describeKeysWithoutTtl('the test Redis', ['a', 'b']);
    expect(message).toContain('2 key(s) on the test Redis');
    expect(message).toContain('  a\n  b');
    expect(message).toContain('set the TTL in the same command or script');
  });
});
