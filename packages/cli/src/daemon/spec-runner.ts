/**
 * Runs one Kubernetes spec inside the watch: a pod watch by namespace and selector (or pod name),
 * and one `SyncRunner` per running container target, each syncing the local directory with that
 * container and keeping its own ancestor and conflicts under the spec
 * (`syncs/<spec>/targets/<pod>/<container>`).
 *
 * Local is the hub. Every target's session syncs local <-> its container, so a local edit reaches
 * every container, and an edit in one container lands locally and from there, through the other
 * sessions' local watchers, reaches the others. Two containers that change a file differently
 * meet in the second session as a true conflict, which keeps both versions (two-way) or blocks.
 *
 * A container that is new to a target (a restart: same pod and container, new container ID) or a
 * target that is new to a spec that already synced (a replacement pod, a scale-up) starts from a
 * rebased ancestor: the previous ancestor (its own, or else one from another target of the spec)
 * rebased onto what the new container holds (`Session.rebaseOntoRemote`). Local is therefore
 * never reverted to the image, local deletions stay, files only the image has come down, and the
 * image's copies of synced files produce no conflict records; the container's own versions (on
 * volumes that survived a restart, or written since it started) stay edits or conflicts that
 * keep both. A spec's very first target has no ancestor to start from and syncs as any first
 * sync does.
 *
 * Reconnecting: the watch restarts itself (pod-watch.ts); each target's `SyncRunner` re-dials
 * a dropped connection (the one owner of reconnecting). A container that went away is not
 * retried: the pod watch reports its replacement, and the target is replaced.
 */
import { readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  SerialQueue,
  errorMessage,
  type ContainerTarget,
  type RebaseVolumes,
  type Snapshot,
} from '@ksync/core';
import { openSessionStore } from '@ksync/fs';
import type { KubeTarget, PodTarget, PodWatch, PodWatchOptions } from '@ksync/kube';
import { describeTarget, type KubernetesTarget, type SyncSpec } from '../spec.ts';
import { hookApply, type RemoteEndpoint } from '../sync-endpoints.ts';
import { openTargetEndpoints, readSpecCluster } from '../targets/kubernetes.ts';
import { SYNC_STATES, type SyncState, type SyncView, type TargetView } from '../view.ts';
import { SyncRunner, buildView, type DurableState, type RunnerDeps } from './sync-runner.ts';
import { runReloadHook } from './reload.ts';

/** A live target: its container and its runner. */
interface LiveTarget {
  readonly target: ContainerTarget;
  readonly runner: SyncRunner;
}

/** The state key of a target under its spec. */
export function targetKey(spec: string, pod: string, container: string): string {
  return join(spec, 'targets', pod, container);
}

/** The runner of one Kubernetes spec; see the module comment. */
export class SpecRunner {
  spec: SyncSpec;
  readonly #deps: RunnerDeps & { readonly env: NodeJS.ProcessEnv };
  readonly #kube: KubernetesTarget;
  #cluster: KubeTarget | undefined;
  #watch: PodWatch | undefined;
  /** Live targets by `pod/container`; changed only inside `#queue`. */
  readonly #targets = new Map<string, LiveTarget>();
  /**
   * The outcome of the last reload hook per `pod/container`, kept across the target's restarts
   * (a `restart` hook replaces the very runner that ran it).
   */
  readonly #reloads = new Map<string, string>();
  /** Pods that match but give no target, with why. */
  #idle: PodTarget[] = [];
  #error: string | undefined;
  /** The latest spec-level failure (the pod watch, the cluster), kept after recovery. */
  #lastError: string | undefined;
  #stopped = false;
  /** The last ancestor of a target that went away, to seed the next new one. */
  #seed: Snapshot | undefined;
  readonly #queue = new SerialQueue();
  readonly #listeners = new Set<(view: SyncView) => void>();

  constructor(spec: SyncSpec, deps: RunnerDeps & { readonly env: NodeJS.ProcessEnv }) {
    if (spec.target.kind !== 'kubernetes') throw new Error('SpecRunner needs a Kubernetes spec');
    this.spec = spec;
    this.#kube = spec.target;
    this.#deps = deps;
  }

  /** Reads the cluster and starts the pod watch. */
  start(): void {
    try {
      this.#cluster = readSpecCluster(this.#kube, this.#deps.env);
    } catch (error) {
      this.#error = errorMessage(error);
      this.#deps.log('warn', `${this.spec.name}: ${this.#error}`);
      this.#report();
      return;
    }
    const cluster = this.#cluster;
    void import('@ksync/kube').then(({ watchPods }) => {
      if (this.#stopped) return;
      this.#watch = watchPods({
        target: cluster,
        namespace: this.#kube.namespace,
        ...(this.#kube.selector === undefined ? {} : { selector: this.#kube.selector }),
        ...(this.#kube.pod === undefined ? {} : { pod: this.#kube.pod }),
        onPods: (pods) => {
          this.#queue
            .run(() => this.#plan(pods))
            .catch((error: unknown) => {
              this.#deps.log('warn', `${this.spec.name}: ${errorMessage(error)}`);
            });
        },
        onError: (error) => {
          this.#error = error === undefined ? undefined : `${error.message} (retrying)`;
          this.#lastError = this.#error ?? this.#lastError;
          if (error !== undefined)
            this.#deps.log('warn', `${this.spec.name}: pod watch: ${error.message}; retrying`);
          this.#report();
        },
      });
    });
  }

  /** Pauses every target; returns at once, as `SyncRunner.pause` does. */
  pause(): void {
    this.spec = { ...this.spec, paused: true };
    for (const t of this.#targets.values()) t.runner.pause();
    this.#report();
  }

  /** Resumes every target; returns at once. */
  resume(): void {
    this.spec = { ...this.spec, paused: false };
    for (const t of this.#targets.values()) t.runner.resume();
    this.#report();
  }

  /**
   * The pods the watch still knows: those of live targets, and matching pods whose container is
   * between runs (not terminating). A target state of any other pod belongs to a pod that is gone.
   */
  knownPods(): Set<string> {
    return new Set([
      ...[...this.#targets.values()].map((t) => t.target.pod),
      ...this.#idle.flatMap((p) => (!p.ok && p.reason !== 'terminating' ? [p.pod] : [])),
    ]);
  }

  /** The runners of the live targets. */
  runners(): SyncRunner[] {
    return [...this.#targets.values()].map((t) => t.runner);
  }

  /** Calls `listener` with every view until the returned function is called. */
  subscribe(listener: (view: SyncView) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The spec with its targets, as `get` shows it. */
  view(): SyncView {
    const targets = [...this.#targets].map(([id, t]) => targetView(t, this.#reloads.get(id)));
    const state: SyncState = this.#stopped
      ? 'stopped'
      : this.spec.paused
        ? 'paused'
        : targets.length === 0
          ? 'waiting'
          : (targets.find((t) => t.state !== 'watching')?.state ?? 'watching');
    const sum = (f: (v: SyncView) => number): number =>
      this.runners().reduce((n, r) => n + f(r.view()), 0);
    const views = this.runners().map((r) => r.view());
    const lastSync = views
      .map((v) => v.lastSync)
      .filter((t) => t !== undefined)
      .sort()
      .pop();
    const base = buildView(this.spec, { state, stored: { files: 0, directories: 0, bytes: 0 } });
    const idle = this.#idle.map((p) => (p.ok ? '' : `${p.pod}: ${p.reason}`)).join(', ');
    const waiting = `waiting for ${describeTarget(this.spec.target)}${idle === '' ? '' : ` (${idle})`}`;
    const error =
      this.#error ?? (state === 'waiting' ? waiting : views.find((v) => v.error)?.error);
    const lastError = this.#lastError ?? views.find((v) => v.lastError)?.lastError;
    return {
      ...base,
      description: state === 'waiting' ? waiting : SYNC_STATES[state],
      ...(error === undefined ? {} : { error }),
      ...(lastSync === undefined ? {} : { lastSync }),
      files: Math.max(0, ...views.map((v) => v.files)),
      directories: Math.max(0, ...views.map((v) => v.directories)),
      bytes: Math.max(0, ...views.map((v) => v.bytes)),
      conflicts: sum((v) => v.conflicts),
      problems: views.flatMap((v) => v.problems),
      transferredFiles: sum((v) => v.transferredFiles),
      transferredBytes: sum((v) => v.transferredBytes),
      reconnects: sum((v) => v.reconnects),
      ...(lastError === undefined ? {} : { lastError }),
      targets,
    };
  }

  /** Stops the watch and every target. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#watch?.stop();
    await this.#queue.run(async () => {
      await Promise.all([...this.#targets.values()].map((t) => t.runner.stop()));
      this.#targets.clear();
    });
    this.#report();
  }

  /** Brings the live targets in line with `pods`. */
  async #plan(pods: Parameters<PodWatchOptions['onPods']>[0]): Promise<void> {
    if (this.#stopped) return;
    const { planTargets } = await import('@ksync/kube');
    const planned = planTargets(pods, this.#kube.container);
    this.#idle = planned.filter((p) => !p.ok);
    const wanted = new Map<string, ContainerTarget>();
    for (const p of planned)
      if (p.ok) wanted.set(`${p.target.pod}/${p.target.container}`, p.target);
    // A pod still there whose container is between runs keeps its state for the restart.
    const staying = new Set(
      planned.flatMap((p) => (!p.ok && p.reason !== 'terminating' ? [p.pod] : [])),
    );
    for (const [id, live] of [...this.#targets]) {
      const next = wanted.get(id);
      if (next !== undefined && next.containerId === live.target.containerId) continue;
      this.#targets.delete(id);
      this.#deps.log(
        'info',
        next === undefined
          ? `${this.spec.name}: ${id} is gone or not running; stopping its sync`
          : `${this.spec.name}: ${id} restarted (new container); re-syncing it`,
      );
      await live.runner.stop();
      if (next === undefined && !staying.has(live.target.pod)) await this.#retire(live);
    }
    for (const [id, target] of wanted) {
      if (this.#targets.has(id)) continue;
      this.#deps.log('info', `${this.spec.name}: syncing ${id} on node ${target.nodeName}`);
      this.#startTarget(target);
    }
    this.#report();
  }

  #startTarget(target: ContainerTarget): void {
    const cluster = this.#cluster;
    if (cluster === undefined) return;
    const key = targetKey(this.spec.name, target.pod, target.container);
    const id = `${target.pod}/${target.container}`;
    const label = `${this.spec.name}@${target.pod}/${target.container}`;
    const live: LiveTarget = {
      target,
      runner: new SyncRunner(
        this.spec,
        { ...this.#deps, onStatus: () => this.#report() },
        {
          key,
          label,
          where: `${target.namespace}/${target.pod}/${target.container} (node ${target.nodeName})`,
          open: async (hooks) => {
            const endpoints = await openTargetEndpoints({
              spec: this.spec,
              cluster,
              target,
              hooks,
            });
            const hook = this.spec.reload;
            if (hook === undefined) return endpoints;
            // A restart after a container's initial sync would restart the restarted container
            // again, for ever: `restart` only follows changes that land after it.
            const wanted = (): boolean =>
              hook.kind !== 'restart' || live.runner.session?.status().lastSyncAt !== undefined;
            const remote = withApplyHook(endpoints.remote, wanted, () => {
              void runReloadHook({ cluster, target, hook, log: this.#deps.log }).then((outcome) => {
                this.#reloads.set(id, outcome);
                this.#report();
              });
            });
            return { local: endpoints.local, remote };
          },
          prepare: (state) => this.#prepare(key, target, state),
        },
      ),
    };
    this.#targets.set(id, live);
    live.runner.start();
  }

  /**
   * Before a target's session opens: a target with no ancestor of its own is seeded with one of
   * another target of the spec; and a container the state has not seen (by container ID) asks
   * for a rebase, whose volumes survived only if the pod is the same one (by UID: a pod
   * recreated under its name has fresh emptyDirs). The container is recorded once the session is
   * about to run.
   */
  async #prepare(
    key: string,
    target: ContainerTarget,
    state: DurableState,
  ): Promise<RebaseVolumes | undefined> {
    const file = join(this.#deps.home.syncDir(key), 'container.json');
    const seen = await readFile(file, 'utf8')
      .then((text) => JSON.parse(text) as { containerId?: string; podUid?: string })
      .catch(() => undefined);
    let rebase: RebaseVolumes | undefined;
    if (seen?.containerId !== undefined && seen.containerId !== target.containerId) {
      rebase = seen.podUid === target.podUid ? 'kept' : 'new';
    }
    if ((await state.store.loadAncestor()).size === 0) {
      const seed = await this.#findSeed(key);
      if (seed !== undefined && seed.size > 0) {
        await state.store.updateAncestor([...seed].map(([path, entry]) => ({ path, entry })));
        rebase = 'new';
      }
    }
    await writeFile(
      file,
      JSON.stringify({ containerId: target.containerId, podUid: target.podUid }),
    );
    return rebase;
  }

  /** An ancestor to seed a new target with: a live target's, a departed one's, or one on disk. */
  async #findSeed(key: string): Promise<Snapshot | undefined> {
    for (const live of this.#targets.values()) {
      const state = live.runner.state;
      if (state === undefined || live.runner.view().lastSync === undefined) continue;
      const ancestor = await state.store.loadAncestor();
      if (ancestor.size > 0) return ancestor;
    }
    if (this.#seed !== undefined) return this.#seed;
    // A watch started after the pods were replaced: the newest target state left on disk. A
    // live target's state is left alone: its runner's store is the only one that may open it
    // (a second nedb instance would compact the file under the first one's appends).
    const live = new Set(
      [...this.#targets.values()].map((t) =>
        targetKey(this.spec.name, t.target.pod, t.target.container),
      ),
    );
    const root = join(this.#deps.home.syncDir(this.spec.name), 'targets');
    const candidates: { key: string; at: number }[] = [];
    for (const pod of await readdir(root).catch(() => [] as string[])) {
      for (const container of await readdir(join(root, pod)).catch(() => [] as string[])) {
        const other = targetKey(this.spec.name, pod, container);
        if (other === key || live.has(other)) continue;
        const at = await stat(join(this.#deps.home.syncDir(other), 'container.json')).then(
          (s) => s.mtimeMs,
          () => 0,
        );
        candidates.push({ key: other, at });
      }
    }
    const newest = candidates.sort((a, b) => b.at - a.at)[0];
    if (newest === undefined) return undefined;
    // Read once and dropped: no conflict directory is made for it, and nothing is kept.
    return (await openSessionStore(this.#deps.home.syncDir(newest.key))).loadAncestor();
  }

  /**
   * A target whose pod is gone: its ancestor becomes the seed for the next new target, and its
   * state is removed unless it holds conflicts (their saved versions must not be lost).
   */
  async #retire(live: LiveTarget): Promise<void> {
    const state = live.runner.state;
    if (state === undefined) return;
    const ancestor = await state.store.loadAncestor();
    if (ancestor.size > 0) this.#seed = ancestor;
    if ((await state.store.loadConflicts()).length > 0) return;
    const key = targetKey(this.spec.name, live.target.pod, live.target.container);
    await rm(this.#deps.home.syncDir(key), { recursive: true, force: true });
    await rm(this.#deps.home.conflictDir(key), { recursive: true, force: true });
  }

  #report(): void {
    const view = this.view();
    this.#deps.onStatus(view);
    for (const listener of this.#listeners) listener(view);
  }
}

/** How long after the last batch landed in a container its reload hook runs. */
const RELOAD_DEBOUNCE_MS = 300;

/**
 * The remote endpoint with `onApplied` called once changes stop landing for a moment, if they were
 * `wanted` when they landed: a batch spread over several apply calls (a large sync) reloads once.
 */
function withApplyHook(
  remote: RemoteEndpoint,
  wanted: () => boolean,
  onApplied: () => void,
): RemoteEndpoint {
  let timer: NodeJS.Timeout | undefined;
  return hookApply(remote, {
    applied: (result) => {
      if (result.applied.length > 0 && wanted()) {
        clearTimeout(timer);
        timer = setTimeout(onApplied, RELOAD_DEBOUNCE_MS);
      }
    },
    closing: () => clearTimeout(timer),
  });
}

function targetView(live: LiveTarget, reload: string | undefined): TargetView {
  const v = live.runner.view();
  return {
    pod: live.target.pod,
    container: live.target.container,
    node: live.target.nodeName,
    state: v.state,
    ...(v.error === undefined ? {} : { error: v.error }),
    ...(v.lastSync === undefined ? {} : { lastSync: v.lastSync }),
    files: v.files,
    bytes: v.bytes,
    conflicts: v.conflicts,
    problems: v.problems.length,
    ...(reload === undefined ? {} : { reload }),
    ...(v.transfer === undefined ? {} : { transfer: v.transfer }),
    reconnects: v.reconnects,
    ...(v.lastError === undefined ? {} : { lastError: v.lastError }),
  };
}
