export * from './client.ts';
export * from './errors.ts';
export * from './log.ts';
export * from './server.ts';
export * from './streams.ts';
export * from './token.ts';
export * from './agent-info.ts';
export * from './dial.ts';
