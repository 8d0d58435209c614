import { newId } from '@platform/db';
import { keySpace, type RedisClient } from '@platform/redis';
import { type StreamEvent, type Streams } from './streams';
import type { App } from '@platform/service-kit';
import { createTestDatabase, eventually, testKeyPrefix, type TestDatabase } from '@platform/testing';
import { problems, serviceApp } from '../test/app';
import { readyRedis, sleep } from '../test/helpers';
import { eventStreams } from './config';
import { registerEventConsumer } from './consumer';
import { newEvent, PaymentEvent, STREAMS, type PaymentFailed } from './contracts';

let db: TestDatabase;
let redis: RedisClient;
let prefix: string;
let streams: Streams;
let app: App | undefined;

beforeAll(async () => {
  db = await createTestDatabase('consumer');
  redis = await readyRedis();
});
afterAll(async () => {
  await redis.quit();
  await db.drop();
});
beforeEach(() => {
  prefix = testKeyPrefix('consumer');
  streams = eventStreams({ client: redis, prefix });
});
afterEach(async () => {
  await app?.close();
  app = undefined;
});

const failed = () => newEvent<PaymentFailed>({ type: 'payment.failed', paymentId: newId(), orderId: newId(), userId: newId(), failureCode: 'CARD_DECLINED' });
const pending = async (group: string) => Number(((await redis.xpending(keySpace(prefix).stream(STREAMS.payments).stream, group)) as unknown[])[0]);

/** A gate the handler waits at until the test opens it. */
function gate(): { wait: () => Promise<void>; open: () => void } {
  let open = () => undefined as void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { wait: () => opened, open };
}

describe('registerEventConsumer', () => {
  it('when entries wait for the handler, then event_consumer_lag reports them in /metrics, and 0 once handled', async () => {
    const built = await serviceApp(db.url);
    const service = (app = built.app);
    const held = gate();
    const consumer = await registerEventConsumer(service, {
      streams: eventStreams({ client: service.redis, prefix, registry: service.metrics }),
      stream: STREAMS.payments,
      group: 'lagging',
      blockMs: 100,
      handler: held.wait,
    });
    await service.ready();
    await consumer.ready;
    for (let i = 0; i < 3; i++) await streams.publish(STREAMS.payments, failed());
    const lagLine = async () => (await service.inject({ method: 'GET', url: '/metrics' })).body.match(/^event_consumer_lag\{stream="payments",group="lagging"[^}]*\} (\d+)$/m)?.[1];
    try {
      expect(await eventually(async () => (await lagLine()) === '3', 5_000, 50)).toBe(true);
    } finally {
      held.open();
    }
    expect(await eventually(async () => (await lagLine()) === '0', 5_000, 50)).toBe(true);
    expect(consumer.stats()).toMatchObject({ handled: 3, failed: 0 });
  });

  it('when a schema is given, then entries it does not describe are acked without reaching the handler', async () => {
    ({ app } = await serviceApp(db.url));
    const handled: StreamEvent<PaymentEvent>[] = [];
    const consumer = await registerEventConsumer(app, {
      streams,
      stream: STREAMS.payments,
      group: 'strict',
      schema: PaymentEvent,
      blockMs: 100,
      handler: async (event) => void handled.push(event),
    });
    await app.ready();
    await Promise.all(app.eventConsumers.map((c) => c.ready));
    const known = failed();
    await streams.publish(STREAMS.payments, { ...failed(), type: 'payment.disputed' });
    await streams.publish(STREAMS.payments, { ...failed(), extra: true });
    await streams.publish(STREAMS.payments, known);
    expect(await eventually(async () => consumer.stats()?.handled === 3, 5_000, 20)).toBe(true);
    expect(handled.map((e) => e.data)).toEqual([known]);
    expect(await pending('strict')).toBe(0);
  });

  it('when the app closes while the handler runs, then it finishes with MySQL, is acked, and nothing is logged', async () => {
    const built = await serviceApp(db.url);
    const service = (app = built.app);
    let started = () => undefined as void;
    const inHandler = new Promise<void>((resolve) => (started = resolve));
    const results: unknown[] = [];
    const consumer = await registerEventConsumer(service, {
      streams,
      stream: STREAMS.payments,
      group: 'closing',
      blockMs: 100,
      handler: async () => {
        started();
        await sleep(300);
        results.push(await service.db.query('SELECT 1 AS one'));
      },
    });
    await service.ready();
    await consumer.ready;
    await streams.publish(STREAMS.payments, failed());
    await inHandler;
    await service.close();
    app = undefined;
    expect(results).toEqual([[{ one: 1 }]]);
    expect(await pending('closing')).toBe(0);
    expect(problems(built.logs.lines)).toEqual([]);
  });
});
