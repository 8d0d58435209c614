export * from './build-app';
export * from './ids';
export * from './redis-cluster';
export { freePorts, startRedisServer, type LocalRedisServer } from './redis-server';
export * from './service-conformance';
export * from './tcp-proxy';
export * from './test-database';
export * from './service-process';
