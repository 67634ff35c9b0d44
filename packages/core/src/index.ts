export * from './change.ts';
export * from './endpoint.ts';
export * from './entry.ts';
export * from './errors.ts';
export * from './ignore.ts';
export * from './path.ts';
export * from './snapshot.ts';
export * from './store.ts';
