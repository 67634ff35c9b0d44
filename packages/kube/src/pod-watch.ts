/**
 * A watch on the pods of one namespace, by label selector or by name, that never stops by
 * itself: a `watchObjects` list-watch (restarted on error, with a silence watchdog) of the
 * namespace's pods.
 */
import { CoreV1Api } from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import type { KubeTarget } from './config.ts';
import { watchObjects, type ObjectWatch } from './list-watch.ts';

/** What to watch and where to report. */
export interface PodWatchOptions {
  readonly target: KubeTarget;
  readonly namespace: string;
  /** A label selector (`app=demo`); or */
  readonly selector?: string;
  /** one pod by name. */
  readonly pod?: string;
  /** Called with every pod matching, after each change. */
  readonly onPods: (pods: readonly V1Pod[]) => void;
  /** Called with the error that stopped the watch (it restarts), and with undefined once back. */
  readonly onError: (error: Error | undefined) => void;
  /** Replace an informer after this long without a sign of life (default 180000 ms). */
  readonly silenceMs?: number;
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

/** A running pod watch. */
export type PodWatch = ObjectWatch;

/** Starts watching; see the module comment. */
export function watchPods(options: PodWatchOptions): PodWatch {
  const { target, namespace, selector, pod } = options;
  const core = target.kc.makeApiClient(CoreV1Api);
  const fieldSelector = pod === undefined ? undefined : `metadata.name=${pod}`;
  return watchObjects<V1Pod>({
    target,
    path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
    action: { verb: 'watch', resource: 'pods', namespace },
    list: () =>
      core.listNamespacedPod({
        namespace,
        ...(selector === undefined ? {} : { labelSelector: selector }),
        ...(fieldSelector === undefined ? {} : { fieldSelector }),
      }),
    ...(selector === undefined ? {} : { labelSelector: selector }),
    ...(fieldSelector === undefined ? {} : { fieldSelector }),
    onObjects: options.onPods,
    onError: options.onError,
    ...(options.silenceMs === undefined ? {} : { silenceMs: options.silenceMs }),
    ...(options.minBackoffMs === undefined ? {} : { minBackoffMs: options.minBackoffMs }),
    ...(options.maxBackoffMs === undefined ? {} : { maxBackoffMs: options.maxBackoffMs }),
  });
}
