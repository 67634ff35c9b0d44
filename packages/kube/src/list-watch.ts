/**
 * A list-watch of one kind of object (pods by selector, ConfigMaps of a namespace, a CRD's
 * objects) that never stops by itself. client-node's informer (ListWatch) relists on 410 and
 * reconnects on its own request timeout, but any other error ends it for good (`cache.ts`
 * `doneHandler`: "do not auto-restart"), and informers have been seen to go quiet without an
 * error (kubernetes-client/javascript#596, #958). So:
 * - every ERROR is reported and the informer is replaced by a fresh one (a relist) after a
 *   backoff that doubles from `minBackoffMs` to `maxBackoffMs`, and is reset by a successful list;
 * - a watchdog replaces it too when nothing (no event, no reconnect) was heard for `silenceMs`;
 *   the informer's own watch request times out after 30 s of quiet and reconnects, which counts
 *   as a sign of life, so only a really stuck informer is replaced.
 * Every change hands the caller the full current list, so the caller works from a state, not from
 * a stream of events. A list that failed is only an error: the caller keeps its last objects.
 */
import { ListWatch, Watch } from '@kubernetes/client-node';
import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { kubeCall } from './call.ts';
import type { KubeTarget } from './config.ts';
import { toKubeError, type KubeAction } from './errors.ts';

/** What to list and watch, and where to report. */
export interface ListWatchOptions<T extends KubernetesObject> {
  readonly target: KubeTarget;
  /** The collection's URL path, e.g. `/api/v1/namespaces/ns/pods`. */
  readonly path: string;
  /** Lists the collection (with the same selectors); failures are mapped with `action`. */
  readonly list: () => Promise<KubernetesListObject<T>>;
  /** The watch as an RBAC request, for messages (`verb` is `watch`). */
  readonly action: KubeAction;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** Called with every object after each change (and after each successful relist). */
  readonly onObjects: (objects: readonly T[]) => void;
  /** Called with the error that stopped the watch (it restarts), and with undefined once back. */
  readonly onError: (error: Error | undefined) => void;
  /** Replace an informer after this long without a sign of life (default 180000 ms). */
  readonly silenceMs?: number;
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

/** A running list-watch. */
export interface ObjectWatch {
  /** Stops watching; no callback fires afterwards. */
  stop(): Promise<void>;
}

/** Starts listing and watching; see the module comment. */
export function watchObjects<T extends KubernetesObject>(
  options: ListWatchOptions<T>,
): ObjectWatch {
  const watcher = new ObjectWatcher(options);
  watcher.restart();
  return watcher;
}

class ObjectWatcher<T extends KubernetesObject> implements ObjectWatch {
  readonly #o: ListWatchOptions<T>;
  /** The current informer; replaced, never restarted, so a late callback of an old one is ignored. */
  #informer: ListWatch<T> | undefined;
  #stopped = false;
  #backoff: number;
  #lastHeard = Date.now();
  #failing = false;
  #restartTimer: NodeJS.Timeout | undefined;
  readonly #watchdog: NodeJS.Timeout;

  constructor(options: ListWatchOptions<T>) {
    this.#o = options;
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
    const { target, action } = this.#o;
    const list = (): Promise<KubernetesListObject<T>> =>
      kubeCall(target, { ...action, verb: 'list' }, this.#o.list);
    const informer = new ListWatch<T>(
      this.#o.path,
      new Watch(target.kc),
      list,
      false,
      this.#o.labelSelector,
      this.#o.fieldSelector,
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
      this.#o.onObjects(informer.list());
    };
    // The informer reports a failed list through `error` and then resolves `start` as if all
    // went well, with no objects: that must not read as "everything is gone" (for pods, every
    // sync would stop) nor clear the error.
    let listFailed = false;
    const failed = (error: unknown): void => {
      listFailed = true;
      if (!current()) return;
      this.#failing = true;
      this.#o.onError(toKubeError(error, action, target));
      this.#scheduleRestart();
    };
    for (const verb of ['add', 'update', 'delete'] as const) informer.on(verb, changed);
    informer.on('connect', () => {
      if (current()) this.#lastHeard = Date.now();
    });
    informer.on('error', failed);
    informer.start().then(() => {
      if (!listFailed) changed();
    }, failed);
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
