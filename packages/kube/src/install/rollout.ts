/**
 * Waiting for the agent DaemonSet to run its current template, Ready, on every node it should
 * (the same condition as `kubectl rollout status daemonset`), and saying which node is not when
 * the wait times out.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import type { CoreV1Event, V1DaemonSet, V1Pod } from '@kubernetes/client-node';
import { UserError } from '@ksync/core';
import { kubeCall } from '../call.ts';
import type { KubeTarget } from '../config.ts';
import { AGENT_NAME, AGENT_SELECTOR, NAMESPACE } from './manifests.ts';

/** How far the rollout is. */
export interface RolloutProgress {
  /** Nodes whose agent runs the current template and is Ready. */
  readonly ready: number;
  /** Nodes that should run an agent. */
  readonly desired: number;
}

/** The rollout did not finish in time; names the node and its agent's last events. */
export class RolloutTimeoutError extends UserError {
  /** The last events of the agent pod on that node (or of the DaemonSet), oldest first. */
  readonly events: readonly string[];
  constructor(message: string, events: readonly string[]) {
    super(message);
    this.events = events;
  }
}

/** Options for `waitForRollout`. */
export interface RolloutOptions {
  readonly target: KubeTarget;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
  readonly onProgress: (progress: RolloutProgress) => void;
  /** Poll interval (default 1000 ms). */
  readonly intervalMs?: number;
}

/** Resolves when the rollout is complete; a `RolloutTimeoutError` after `timeoutMs`. */
export async function waitForRollout(opts: RolloutOptions): Promise<RolloutProgress> {
  const apps = opts.target.kc.makeApiClient(AppsV1Api);
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const ds = await kubeCall(
      opts.target,
      { verb: 'get', resource: 'daemonsets.apps', namespace: NAMESPACE, name: AGENT_NAME },
      () => apps.readNamespacedDaemonSet({ name: AGENT_NAME, namespace: NAMESPACE }),
    );
    const progress = rolloutProgress(ds);
    opts.onProgress(progress);
    if (progress.desired > 0 && progress.ready === progress.desired && isObserved(ds)) {
      return progress;
    }
    if (Date.now() >= deadline) throw await describeStuckRollout(opts.target, ds, opts.timeoutMs);
    await sleep(opts.intervalMs ?? 1000, undefined, { signal: opts.signal });
  }
}

/** Ready nodes on the current template, out of the desired ones. */
export function rolloutProgress(ds: V1DaemonSet): RolloutProgress {
  const status = ds.status;
  const desired = status?.desiredNumberScheduled ?? 0;
  // numberAvailable counts Ready pods of any template; only updated ones count while rolling.
  const ready = Math.min(status?.updatedNumberScheduled ?? 0, status?.numberAvailable ?? 0);
  return { ready: isObserved(ds) ? ready : 0, desired };
}

function isObserved(ds: V1DaemonSet): boolean {
  return (ds.status?.observedGeneration ?? 0) >= (ds.metadata?.generation ?? 1);
}

/** Whether a pod's Ready condition is True. */
export function isPodReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
}

async function describeStuckRollout(
  target: KubeTarget,
  ds: V1DaemonSet,
  timeoutMs: number,
): Promise<RolloutTimeoutError> {
  const core = target.kc.makeApiClient(CoreV1Api);
  const pods = await kubeCall(
    target,
    { verb: 'list', resource: 'pods', namespace: NAMESPACE },
    () => core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: AGENT_SELECTOR }),
  );
  const generation = String(ds.metadata?.generation ?? '');
  const stuck = pods.items.find(
    (p) => !isPodReady(p) || p.metadata?.labels?.['pod-template-generation'] !== generation,
  );
  const after = `after ${Math.round(timeoutMs / 1000)} s`;
  if (stuck === undefined) {
    const { ready, desired } = rolloutProgress(ds);
    return new RolloutTimeoutError(
      `the ksync agent is ready on ${ready} of ${desired} nodes ${after}; ` +
        `see 'kubectl -n ${NAMESPACE} describe daemonset ${AGENT_NAME}'`,
      await lastEvents(target, AGENT_NAME),
    );
  }
  const podName = stuck.metadata?.name ?? '';
  const node = stuck.spec?.nodeName ?? '(not scheduled)';
  return new RolloutTimeoutError(
    `the ksync agent on node ${node} is not ready ${after} (pod ${podName}); see ` +
      `'kubectl -n ${NAMESPACE} describe pod ${podName}' and retry with a longer --timeout`,
    await lastEvents(target, podName),
  );
}

/** The last five events of an object in ksync-system, as `reason: message` lines. */
async function lastEvents(target: KubeTarget, name: string): Promise<string[]> {
  const core = target.kc.makeApiClient(CoreV1Api);
  const list = await kubeCall(
    target,
    { verb: 'list', resource: 'events', namespace: NAMESPACE },
    () =>
      core.listNamespacedEvent({
        namespace: NAMESPACE,
        fieldSelector: `involvedObject.name=${name}`,
      }),
  );
  return list.items
    .sort((a, b) => eventTime(a) - eventTime(b))
    .slice(-5)
    .map((e) => `${e.reason ?? 'Event'}: ${(e.message ?? '').trim()}`);
}

function eventTime(e: CoreV1Event): number {
  const t = e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp;
  return t === undefined ? 0 : new Date(t).getTime();
}
