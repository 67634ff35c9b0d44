export * from './config.ts';
export * from './errors.ts';
export * from './install/install.ts';
export * from './install/manifests.ts';
export * from './install/render.ts';
export * from './install/rollout.ts';
export * from './agent-locator.ts';
export * from './port-forward.ts';
