export * from './data-source';
export * from './failure';
export * from './migrate';
export * from './migrate-cli';
export * from './mysql-plugin';
export * from './setup';
export * from './uuid';
