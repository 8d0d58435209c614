export * from './config';
export * from './idempotency';
export * from './pipeline';
export * from './problems';
export * from './rate-limit';
export * from './peer';
