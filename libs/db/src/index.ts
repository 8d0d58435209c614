export * from './data-source';
export * from './failure';
export * from './migrate';
export * from './migrate-cli';
export * from './mysql-plugin';
export * from './replicas';
export * from './setup';
export * from './uuid';
