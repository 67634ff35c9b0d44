/**
 * Reload hooks: what runs in a container after a batch of changes landed there. All three go
 * through the Kubernetes exec API in the target container:
 * - `exec:CMD` runs `sh -c CMD`;
 * - `signal:NAME` runs `kill -s NAME 1`, the container's main process;
 * - `restart` runs `kill -s TERM 1`; the kubelet restarts the container, and the pod watch sees
 *   the new container ID and re-syncs it with a rebased ancestor. (A main process that ignores
 *   TERM, as PID 1 does for signals it has no handler for, is not restarted; the outcome says so
 *   only through the container's restart count, which the hook does not wait for.)
 * The outcome is one line, for the log and `get -o wide`.
 */
import { errorMessage, type ContainerTarget } from '@ksync/core';
import type { KubeTarget } from '@ksync/kube';
import type { ReloadHook } from '../spec.ts';
import type { RunnerLog } from './sync-runner.ts';

/** Options for `runReloadHook`. */
export interface ReloadOptions {
  readonly cluster: KubeTarget;
  readonly target: ContainerTarget;
  readonly hook: ReloadHook;
  readonly log: RunnerLog;
}

/** The command a hook runs in the container. */
export function reloadCommand(hook: ReloadHook): string[] {
  switch (hook.kind) {
    case 'exec':
      return ['sh', '-c', hook.command];
    case 'signal':
      return ['kill', '-s', hook.signal, '1'];
    case 'restart':
      return ['kill', '-s', 'TERM', '1'];
  }
}

/** Runs the hook and returns its outcome in words; never throws. */
export async function runReloadHook(options: ReloadOptions): Promise<string> {
  const { cluster, target, hook, log } = options;
  const command = reloadCommand(hook);
  const where = `${target.pod}/${target.container}`;
  const at = new Date().toISOString();
  try {
    const { execInContainer } = await import('@ksync/kube');
    const result = await execInContainer({
      target: cluster,
      namespace: target.namespace,
      pod: target.pod,
      container: target.container,
      command,
    });
    const outcome =
      result.exitCode === 0
        ? `${hookName(hook)} ok at ${at}`
        : `${hookName(hook)} exited ${result.exitCode} at ${at}: ${lastLine(result.output)}`;
    log(result.exitCode === 0 ? 'info' : 'warn', `reload in ${where}: ${outcome}`);
    return outcome;
  } catch (error) {
    // A restart may cut its own exec short: the container it ran in is gone.
    const outcome = `${hookName(hook)} failed at ${at}: ${errorMessage(error)}`;
    log('warn', `reload in ${where}: ${outcome}`);
    return outcome;
  }
}

function hookName(hook: ReloadHook): string {
  switch (hook.kind) {
    case 'exec':
      return `exec:${hook.command}`;
    case 'signal':
      return `signal:${hook.signal}`;
    case 'restart':
      return 'restart';
  }
}

function lastLine(output: string): string {
  return output.trim().split('\n').pop() ?? '';
}
