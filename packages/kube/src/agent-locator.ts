/**
 * How to reach the ksync agent on a node: its Ready pod (by label and `spec.nodeName`), the token
 * from its Secret, and a port-forward stream to it. A user needs only the Role `init` installs.
 */
import type { Duplex } from 'node:stream';
import { CoreV1Api } from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import { UserError } from '@ksync/core';
import { kubeCall } from './call.ts';
import type { KubeTarget } from './config.ts';
import {
  AGENT_PORT,
  AGENT_SELECTOR,
  NAMESPACE,
  TOKEN_KEY,
  TOKEN_SECRET,
} from './install/manifests.ts';
import { isPodReady } from './install/rollout.ts';
import { dialPortForward } from './port-forward.ts';

/** The Ready agent pod on `node`; a `UserError` naming the fix when there is none. */
export async function findAgentPod(target: KubeTarget, node: string): Promise<V1Pod> {
  const core = target.kc.makeApiClient(CoreV1Api);
  const pods = await kubeCall(
    target,
    { verb: 'list', resource: 'pods', namespace: NAMESPACE },
    () =>
      core.listNamespacedPod({
        namespace: NAMESPACE,
        labelSelector: AGENT_SELECTOR,
        fieldSelector: `spec.nodeName=${node}`,
      }),
  );
  const ready = pods.items.find(
    (p) => isPodReady(p) && p.metadata?.deletionTimestamp === undefined,
  );
  if (ready !== undefined) return ready;
  throw new UserError(
    pods.items.length === 0
      ? `no ksync agent on node ${node}: run 'ksync init' (or 'ksync doctor' to see why)`
      : `the ksync agent on node ${node} is not ready: run 'ksync doctor' to see why`,
  );
}

/** The agent's token, read from its Secret. */
export async function readAgentToken(target: KubeTarget): Promise<string> {
  const core = target.kc.makeApiClient(CoreV1Api);
  const secret = await kubeCall(
    target,
    { verb: 'get', resource: 'secrets', namespace: NAMESPACE, name: TOKEN_SECRET },
    () => core.readNamespacedSecret({ name: TOKEN_SECRET, namespace: NAMESPACE }),
  );
  const value = secret.data?.[TOKEN_KEY];
  if (value === undefined) {
    throw new UserError(
      `secret ${NAMESPACE}/${TOKEN_SECRET} has no ${TOKEN_KEY}: run 'ksync init'`,
    );
  }
  return Buffer.from(value, 'base64').toString('utf8');
}

/** Opens a port-forward stream to the agent pod `pod` (from `findAgentPod`). */
export function dialAgent(target: KubeTarget, pod: V1Pod): Promise<Duplex> {
  return dialPortForward({
    target,
    namespace: NAMESPACE,
    pod: pod.metadata?.name ?? '',
    port: AGENT_PORT,
  });
}
