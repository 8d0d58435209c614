export * from './currency';
export * from './order';
export * from './peer-reader';
