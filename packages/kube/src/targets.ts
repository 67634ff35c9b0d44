/**
 * Which containers of a pod a sync runs against (pure). A pod yields a target only while it is
 * not terminating and the chosen container is running with a container ID: init containers
 * never count (the app's filesystem is not there yet), a waiting container (image pull,
 * CrashLoopBackOff) has nothing to sync with, and a pod with a deletion timestamp is going away.
 * Native sidecars (init containers with `restartPolicy: Always`) are selectable by name.
 */
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import type { ContainerTarget } from '@ksync/core';

/** The annotation kubectl reads for the container a command defaults to. */
export const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';

/** The container `-c` names, else the pod's default-container annotation, else its first. */
export function chooseContainer(pod: V1Pod, container: string | undefined): string | undefined {
  if (container !== undefined) return container;
  const annotated = pod.metadata?.annotations?.[DEFAULT_CONTAINER_ANNOTATION];
  if (annotated !== undefined && annotated !== '') return annotated;
  return pod.spec?.containers[0]?.name;
}

/** Why a pod gives no target right now, or the target. */
export type PodTarget =
  | { readonly ok: true; readonly target: ContainerTarget }
  | { readonly ok: false; readonly pod: string; readonly reason: string };

/** The target `pod` gives for `container` (see the module comment). */
export function planPodTarget(pod: V1Pod, container: string | undefined): PodTarget {
  const name = pod.metadata?.name ?? '';
  const wanted = chooseContainer(pod, container);
  if (pod.metadata?.deletionTimestamp !== undefined)
    return { ok: false, pod: name, reason: 'terminating' };
  if (wanted === undefined) return { ok: false, pod: name, reason: 'has no containers' };
  const status = findStatus(pod, wanted);
  if (status === undefined) {
    const declared =
      pod.spec?.containers.some((c) => c.name === wanted) === true ||
      pod.spec?.initContainers?.some((c) => c.name === wanted && c.restartPolicy === 'Always') ===
        true;
    return {
      ok: false,
      pod: name,
      reason: declared ? `container ${wanted} not started` : `has no container ${wanted}`,
    };
  }
  const uid = pod.metadata?.uid;
  const node = pod.spec?.nodeName;
  const namespace = pod.metadata?.namespace;
  if (status.state?.running === undefined || status.containerID === undefined)
    return { ok: false, pod: name, reason: `container ${wanted} not running` };
  if (uid === undefined || node === undefined || namespace === undefined)
    return { ok: false, pod: name, reason: 'not scheduled' };
  const runtimeClassName = pod.spec?.runtimeClassName;
  return {
    ok: true,
    target: {
      kind: 'container',
      namespace,
      pod: name,
      podUid: uid,
      container: wanted,
      containerId: status.containerID,
      nodeName: node,
      ...(runtimeClassName === undefined ? {} : { runtimeClassName }),
    },
  };
}

/** The running targets among `pods`, ordered by pod name. */
export function planTargets(pods: readonly V1Pod[], container: string | undefined): PodTarget[] {
  return pods
    .map((pod) => planPodTarget(pod, container))
    .sort((a, b) => podOf(a).localeCompare(podOf(b)));
}

function podOf(planned: PodTarget): string {
  return planned.ok ? planned.target.pod : planned.pod;
}

function findStatus(pod: V1Pod, container: string): V1ContainerStatus | undefined {
  return (
    pod.status?.containerStatuses?.find((s) => s.name === container) ??
    // Native sidecars report under initContainerStatuses; plain init containers have exited.
    pod.status?.initContainerStatuses?.find(
      (s) =>
        s.name === container &&
        pod.spec?.initContainers?.some((c) => c.name === container && c.restartPolicy === 'Always'),
    )
  );
}
