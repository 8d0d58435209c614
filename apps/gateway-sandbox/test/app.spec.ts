import type { App } from '@platform/service-kit';
import { describeServiceConformance } from '@platform/testing';
import { build } from './helper';

let app: App;
beforeAll(async () => {
  app = await build();
});
afterAll(() => app.close());

describeServiceConformance({ service: 'gateway-sandbox', checks: [], app: () => app });
