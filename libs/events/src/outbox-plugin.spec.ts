import type { RedisClient } from '@platform/redis';
import type { Streams } from './streams';
import { kitApp, testKeyPrefix, type TestDatabase } from '@platform/testing';
import type { DataSource } from 'typeorm';
import { problems, serviceApp } from '../test/app';
import { dataSource, outboxDatabase, published, readyRedis, sleep, unsentCount } from '../test/helpers';
import { eventStreams } from './config';
import { enqueue } from './outbox';
import { registerOutboxRelay } from './outbox-plugin';

let db: TestDatabase;
let ds: DataSource;
let redis: RedisClient;
const rejections: unknown[] = [];
const onRejection = (reason: unknown) => void rejections.push(reason);

beforeAll(async () => {
  db = await outboxDatabase('outboxplugin');
  ds = await dataSource(db.url);
  redis = await readyRedis();
  process.on('unhandledRejection', onRejection);
});
afterAll(async () => {
  process.off('unhandledRejection', onRejection);
  await ds.destroy();
  await redis.quit();
  await db.drop();
});

describe('registerOutboxRelay', () => {
  it('when the app closes while the relay publishes, then the pass completes before Redis and MySQL close, with nothing logged', async () => {
    const { app, logs } = await serviceApp(db.url);
    const prefix = testKeyPrefix('outboxplugin');
    const streams = eventStreams({ client: app.redis, prefix, registry: app.metrics, logger: app.log });
    let publishing = () => undefined as void;
    const inPublish = new Promise<void>((resolve) => (publishing = resolve));
    const stateAtPublish: string[] = [];
    const slow: Streams = {
      ...streams,
      async publishAll(stream, events, opts) {
        publishing();
        await sleep(300);
        stateAtPublish.push(`redis ${app.redis.status}, mysql ${app.db.isInitialized ? 'open' : 'closed'}`);
        return streams.publishAll(stream, events, opts);
      },
    };
    await registerOutboxRelay(app, { streams: slow, pollMs: 3_600_000 });
    await app.ready();

    await app.db.transaction((tx) => enqueue(tx, { stream: 'orders', payload: { n: 1 } }));
    app.outbox.nudge();
    await inPublish;
    await app.close();

    expect(stateAtPublish).toEqual(['redis ready, mysql open']);
    expect(await unsentCount(ds)).toBe(0);
    expect(await published(redis, prefix, 'orders')).toEqual([{ n: 1 }]);
    expect(problems(logs.lines)).toEqual([]);
    expect(rejections).toEqual([]);
  });

  it('when mysql and redis are not registered first, then registering the relay fails', async () => {
    const app = await kitApp('no-deps');
    try {
      await expect(registerOutboxRelay(app, { streams: eventStreams({ client: redis, prefix: 'unused:' }) })).rejects.toThrow(/mysql/);
    } finally {
      await app.close();
    }
  });
});
