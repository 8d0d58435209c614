export * from './build-app';
export * from './ids';
export * from './service-conformance';
export * from './tcp-proxy';
export * from './test-database';
