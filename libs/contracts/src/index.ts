export * from './order';
export * from './peer-reader';
