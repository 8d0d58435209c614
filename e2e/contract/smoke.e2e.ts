import { Client } from '../src/client';
import { topologyFromEnv } from '../src/platform';

const client = new Client(topologyFromEnv());

it('pays an order end to end', async () => {
  const a = await client.signUp();
  const orderId = await client.newOrder(a.accessToken);
  const paid = await client.pay(a.accessToken, orderId);
  expect(paid.status).toBe(201);
});
