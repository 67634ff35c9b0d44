/**
 * The one wrapper around client-node requests: runs one and maps whatever it throws through
 * `toKubeError`, so no raw client-node exception leaves this package.
 */
import { toKubeError, type KubeAction } from './errors.ts';
import type { KubeTarget } from './config.ts';

/** Runs `request`; a failure becomes a not-found, forbidden, unreachable or other `UserError`. */
export async function kubeCall<T>(
  target: KubeTarget,
  action: KubeAction,
  request: () => Promise<T>,
): Promise<T> {
  try {
    return await request();
  } catch (error) {
    throw toKubeError(error, action, target);
  }
}
