/**
 * Kubernetes targets of a spec: reading the cluster the spec names (as kubectl resolves it),
 * and the endpoints of one container target. The remote endpoint dials by
 * port-forward to the agent pod on the target pod's node; each dial finds that pod again and
 * re-applies the kubeconfig's credentials, so a replaced agent pod and an expiring exec-plugin
 * token are both picked up by the next reconnect.
 */
import {
  dialAgent,
  findAgentPod,
  readAgentToken,
  readKubeTarget,
  type KubeTarget,
} from '@ksync/kube';
import { UserError, type ContainerTarget } from '@ksync/core';
import type { KubernetesTarget, SyncSpec } from '../spec.ts';
import type { EndpointHooks, SyncEndpoints } from '../sync-endpoints.ts';
import { openEndpointsVia } from '../sync-endpoints.ts';

/** The cluster a Kubernetes spec names; a `UserError` for an unknown context or kubeconfig. */
export function readSpecCluster(target: KubernetesTarget, env: NodeJS.ProcessEnv): KubeTarget {
  return readKubeTarget({
    env,
    namespace: target.namespace,
    ...(target.context === undefined ? {} : { context: target.context }),
    ...(target.kubeconfig === undefined ? {} : { kubeconfig: target.kubeconfig }),
  });
}

/** Options for `openTargetEndpoints`. */
export interface TargetEndpointsOptions {
  readonly spec: SyncSpec;
  readonly cluster: KubeTarget;
  readonly target: ContainerTarget;
  readonly hooks: EndpointHooks;
}

/** Both endpoints of one container target. */
export async function openTargetEndpoints(options: TargetEndpointsOptions): Promise<SyncEndpoints> {
  const { spec, cluster, target, hooks } = options;
  try {
    return await openEndpointsVia(spec, hooks, {
      // Only the HTTP request sees this URL; the bytes go wherever `dial` connects.
      url: 'ws://ksync-agent/',
      dial: async () => dialAgent(cluster, await findAgentPod(cluster, target.nodeName)),
      token: await readAgentToken(cluster),
      target,
    });
  } catch (error) {
    // A dial that failed in the cluster (no agent on the node, RBAC, unreachable) already says
    // what to do; the client's "cannot reach the agent" wording would only bury it.
    if (error instanceof UserError && error.cause instanceof UserError) throw error.cause;
    throw error;
  }
}
