export * from './auth-plugin';
export * from './config';
export * from './key-source';
export * from './verifier';
export * from './guard';
