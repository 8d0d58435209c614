export * from './config';
export * from './key-source';
export * from './verifier';
