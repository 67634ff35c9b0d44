/**
 * A watch on the pods of one namespace, by label selector or by name, that never stops by
 * itself: a `watchObjects` list-watch (restarted on error, with a silence watchdog) of the
 * namespace's pods.
 */
import { CoreV1Api } from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import { watchObjects, type ListWatchOptions, type ObjectWatch } from './list-watch.ts';

/** What to watch and where to report; the restart and watchdog settings are `watchObjects`'s. */
export interface PodWatchOptions extends Pick<
  ListWatchOptions<V1Pod>,
  'target' | 'onError' | 'silenceMs' | 'minBackoffMs' | 'maxBackoffMs'
> {
  readonly namespace: string;
  /** A label selector (`app=demo`); or */
  readonly selector?: string;
  /** one pod by name. */
  readonly pod?: string;
  /** Called with every pod matching, after each change. */
  readonly onPods: (pods: readonly V1Pod[]) => void;
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
