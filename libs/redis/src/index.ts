export * from './client';
export * from './redis-plugin';
