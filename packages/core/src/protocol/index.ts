export * from './framing.ts';
export * from './handshake.ts';
export * from './limits.ts';
export * from './messages.ts';
export * from './wire-error.ts';
