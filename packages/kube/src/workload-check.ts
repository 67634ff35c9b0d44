/**
 * `ksync create`'s checks of where a Kubernetes spec points, collected rather than thrown so that
 * every problem shows in one line: the namespace exists (when the user may read namespaces at
 * all), and pods there may be listed with the selector. No matching pod is fine.
 */
import { CoreV1Api } from '@kubernetes/client-node';
import { UserError } from '@ksync/core';
import { kubeCall } from './call.ts';
import type { KubeTarget } from './config.ts';
import { KubeForbiddenError, KubeNotFoundError } from './errors.ts';

/** Where the workloads are. */
export interface WorkloadPlace {
  readonly namespace: string;
  readonly selector?: string;
}

/** The problems with `place` on `cluster`; empty when syncing there can start. */
export async function checkWorkloadPlace(
  cluster: KubeTarget,
  place: WorkloadPlace,
): Promise<string[]> {
  const core = cluster.kc.makeApiClient(CoreV1Api);
  const { namespace, selector } = place;
  try {
    await kubeCall(cluster, { verb: 'get', resource: 'namespaces', name: namespace }, () =>
      core.readNamespace({ name: namespace }),
    );
  } catch (error) {
    if (error instanceof KubeNotFoundError) {
      return [
        `namespace "${namespace}" not found in context "${cluster.context}"; list them with: kubectl get namespaces`,
      ];
    }
    // Without permission to read namespaces, the pod list below is the check.
    if (!(error instanceof KubeForbiddenError)) throw error;
  }
  try {
    await kubeCall(cluster, { verb: 'list', resource: 'pods', namespace }, () =>
      core.listNamespacedPod({
        namespace,
        limit: 1,
        ...(selector === undefined ? {} : { labelSelector: selector }),
      }),
    );
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    return [error.message];
  }
  return [];
}
