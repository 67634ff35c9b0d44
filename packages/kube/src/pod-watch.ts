/**
 * A watch on the pods of one namespace, by label selector or by name, that never stops by
 * itself. client-node's informer (ListWatch) relists on 410 and reconnects on its own request
 * timeout, but any other error ends it for good (`cache.ts` `doneHandler`: "do not
 * auto-restart"), and informers have been seen to go quiet without an error
 * (kubernetes-client/javascript#596, #958). So:
 * - every ERROR is reported and the informer is replaced by a fresh one (a relist) after a
 *   backoff that doubles from `minBackoffMs` to `maxBackoffMs`, and is reset by a successful list;
 * - a watchdog replaces it too when nothing (no event, no reconnect) was heard for `silenceMs`;
 *   the informer's own watch request times out after 30 s of quiet and reconnects, which counts
 *   as a sign of life, so only a really stuck informer is replaced.
 * Every change hands the caller the full current list, so the caller plans from a state, not from
 * a stream of events. A list that failed is only an error: the caller keeps its last pods.
 */
import { CoreV1Api, ListWatch, Watch } from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import { kubeCall } from './call.ts';
import type { KubeTarget } from './config.ts';
import { toKubeError, type KubeAction } from './errors.ts';

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
export interface PodWatch {
  /** Stops watching; no callback fires afterwards. */
  stop(): Promise<void>;
}

/** Starts watching; see the module comment. */
export function watchPods(options: PodWatchOptions): PodWatch {
  const watcher = new PodWatcher(options);
  watcher.restart();
  return watcher;
}

class PodWatcher implements PodWatch {
  readonly #o: PodWatchOptions;
  readonly #action: KubeAction;
  /** The current informer; replaced, never restarted, so a late callback of an old one is ignored. */
  #informer: ListWatch<V1Pod> | undefined;
  #stopped = false;
  #backoff: number;
  #lastHeard = Date.now();
  #failing = false;
  #restartTimer: NodeJS.Timeout | undefined;
  readonly #watchdog: NodeJS.Timeout;

  constructor(options: PodWatchOptions) {
    this.#o = options;
    this.#action = { verb: 'watch', resource: 'pods', namespace: options.namespace };
    this.#backoff = options.minBackoffMs ?? 1000;
    const silenceMs = options.silenceMs ?? 180_000;
    this.#watchdog = setInterval(
      () => {
        if (this.#restartTimer === undefined && Date.now() - this.#lastHeard > silenceMs)
          this.restart();
      },
      Math.min(silenceMs, 30_000),
    );
    this.#watchdog.unref();
  }

  /** Replaces the informer with a fresh one (a full relist). */
  restart(): void {
    if (this.#stopped) return;
    void this.#retire();
    const { target, namespace, selector, pod } = this.#o;
    const core = target.kc.makeApiClient(CoreV1Api);
    const fieldSelector = pod === undefined ? undefined : `metadata.name=${pod}`;
    const list = (): ReturnType<CoreV1Api['listNamespacedPod']> =>
      kubeCall(target, { ...this.#action, verb: 'list' }, () =>
        core.listNamespacedPod({
          namespace,
          ...(selector === undefined ? {} : { labelSelector: selector }),
          ...(fieldSelector === undefined ? {} : { fieldSelector }),
        }),
      );
    const informer = new ListWatch<V1Pod>(
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
      new Watch(target.kc),
      list,
      false,
      selector,
      fieldSelector,
    );
    this.#informer = informer;
    this.#lastHeard = Date.now();
    const current = (): boolean => this.#informer === informer && !this.#stopped;
    const changed = (): void => {
      if (!current()) return;
      this.#lastHeard = Date.now();
      if (this.#failing) {
        this.#failing = false;
        this.#o.onError(undefined);
      }
      this.#backoff = this.#o.minBackoffMs ?? 1000;
      this.#o.onPods(informer.list());
    };
    for (const verb of ['add', 'update', 'delete'] as const) informer.on(verb, changed);
    informer.on('connect', () => {
      if (current()) this.#lastHeard = Date.now();
    });
    // The informer reports a failed list through `error` and then resolves `start` as if all
    // went well, with no pods: that must not read as "every pod is gone" (which would stop every
    // sync) nor clear the error.
    let failed = false;
    informer.on('error', (error: unknown) => {
      failed = true;
      if (!current()) return;
      this.#failing = true;
      this.#o.onError(toKubeError(error, this.#action, target));
      this.#scheduleRestart();
    });
    const started = (): void => {
      if (!failed) changed();
    };
    informer.start().then(started, (error: unknown) => {
      if (!current()) return;
      this.#failing = true;
      this.#o.onError(toKubeError(error, this.#action, target));
      this.#scheduleRestart();
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#watchdog);
    clearTimeout(this.#restartTimer);
    await this.#retire();
  }

  #scheduleRestart(): void {
    if (this.#stopped || this.#restartTimer !== undefined) return;
    const delay = this.#backoff;
    this.#backoff = Math.min(this.#backoff * 2, this.#o.maxBackoffMs ?? 30_000);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      this.restart();
    }, delay);
  }

  async #retire(): Promise<void> {
    const old = this.#informer;
    this.#informer = undefined;
    await old?.stop().catch(() => undefined);
  }
}
