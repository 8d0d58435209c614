// Named, not `export *`: an ES module importing this file (the README's example, run by tsx) sees only names it can find.
export {
  bearerToken,
  createPlatformClient,
  createSandboxClient,
  type Fetch,
  type OrderPaths,
  type PaymentPaths,
  type PlatformClient,
  type PlatformClientOptions,
  type SandboxPaths,
  type TokenSource,
  type UserPaths,
} from './platform-client';
export type * as order from './generated/order';
export type * as payment from './generated/payment';
export type * as sandbox from './generated/sandbox';
export type * as user from './generated/user';
