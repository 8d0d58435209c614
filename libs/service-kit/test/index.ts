// Test helpers of the service kit that other projects' tests use too (`@platform/service-kit/testing`).
export * from './silent-peers';
export * from './tcp-proxy';
