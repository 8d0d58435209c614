export * from './platform-client';
export type * as order from './generated/order';
export type * as payment from './generated/payment';
export type * as sandbox from './generated/sandbox';
export type * as user from './generated/user';
