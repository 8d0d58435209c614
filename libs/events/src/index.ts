export * from './config';
export * from './contracts';
