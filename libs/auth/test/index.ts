export * from './jwks-server';
export * from './tokens';
export * from './bad-tokens';
