export * from './config';
export * from './consumer';
export * from './contracts';
export * from './outbox';
export * from './outbox-plugin';
export * from './outbox-relay';
export * from './streams';
export * from './service-events';
