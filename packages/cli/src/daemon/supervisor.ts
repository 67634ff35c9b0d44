/**
 * The supervisor owns ksync's state for the process that holds the home lock. Live (inside
 * `watch` or `run`), it keeps one `SyncRunner` per spec, started and stopped as specs are created
 * and deleted. Direct (a lone command, no watch running), it opens a sync's session only for the
 * operation at hand and closes it again.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SerialQueue, Session, UserError, type Clock, type Conflict, type Side } from '@ksync/core';
import type { Backend, DeleteTarget, FlushOptions } from '../backend.ts';
import { formatDuration } from '../duration.ts';
import { describeEntry, formatHalt, shellQuote } from '../format.ts';
import type { HomePaths } from '../home.ts';
import type { SyncSpec } from '../spec.ts';
import { SpecStore } from '../spec-store.ts';
import type { OpenEndpoints } from '../sync-endpoints.ts';
import type { ConflictView, FlushView, SyncView } from '../view.ts';
import { readStatusFile, writeStatusFile } from './status-file.ts';
import { SpecRunner, targetKey } from './spec-runner.ts';
import type { DaemonMetrics } from './metrics.ts';
import { SyncRunner, buildView, openSyncState, type RunnerLog } from './sync-runner.ts';

/** How to build a supervisor. */
export interface SupervisorOptions {
  readonly home: HomePaths;
  /** Keep every spec syncing (watch/run), rather than acting per request. */
  readonly live: boolean;
  /** Live only: sync just this spec (`ksync run NAME`). */
  readonly only?: string;
  readonly clock: Clock;
  readonly openEndpoints: OpenEndpoints;
  readonly log?: RunnerLog;
  readonly onStatus?: (view: SyncView) => void;
  /** What the runners count for `--metrics-addr`. */
  readonly metrics?: DaemonMetrics;
  /** The environment Kubernetes specs resolve their kubeconfig in (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
}

/** One session's worth of a spec: a direct spec has one, a Kubernetes spec one per target. */
interface SpecPart {
  readonly key: string;
  readonly runner?: SyncRunner;
  /** A container the running watch no longer syncs (its pod is gone), kept for its conflicts. */
  readonly gone?: { readonly pod: string; readonly container: string };
}

/** The state owner; see the module comment. */
export class Supervisor implements Backend {
  readonly kind = 'direct';
  readonly #o: SupervisorOptions;
  readonly #specs: SpecStore;
  readonly #runners = new Map<string, SyncRunner | SpecRunner>();
  readonly #queue = new SerialQueue();

  private constructor(options: SupervisorOptions, specs: SpecStore) {
    this.#o = options;
    this.#specs = specs;
  }

  /** Opens the spec store and, when live, starts syncing every spec. */
  static async open(options: SupervisorOptions): Promise<Supervisor> {
    const supervisor = new Supervisor(options, await SpecStore.open(options.home.specs));
    if (options.live) {
      if (options.only !== undefined) await supervisor.#specs.get(options.only);
      for (const spec of await supervisor.#specs.list()) supervisor.#startRunner(spec);
    }
    return supervisor;
  }

  /** Every live view (for the watch's progress display). */
  liveViews(): SyncView[] {
    return [...this.#runners.values()].map((r) => r.view());
  }

  create(spec: SyncSpec): Promise<SyncView> {
    return this.#queue.run(async () => {
      await this.#specs.insert(spec);
      const runner = this.#startRunner(spec);
      return runner?.view() ?? (await this.#storedView(spec));
    });
  }

  remove(target: DeleteTarget): Promise<string[]> {
    return this.#queue.run(async () => {
      const specs =
        'all' in target
          ? await this.#specs.list()
          : await Promise.all(target.names.map((n) => this.#specs.get(n)));
      if (target.force !== true) await this.#refuseToDropConflicts(specs.map((s) => s.name));
      for (const spec of specs) {
        const runner = this.#runners.get(spec.name);
        this.#runners.delete(spec.name);
        await runner?.stop();
        await this.#specs.remove(spec.name);
        await rm(this.#o.home.syncDir(spec.name), { recursive: true, force: true });
        await rm(this.#o.home.conflictDir(spec.name), { recursive: true, force: true });
        this.#o.log?.('info', `${spec.name}: deleted`);
      }
      return specs.map((s) => s.name);
    });
  }

  /** A `UserError` naming the syncs with conflicts and how many saved versions would go. */
  async #refuseToDropConflicts(names: readonly string[]): Promise<void> {
    const held: { name: string; conflicts: number }[] = [];
    let saved = 0;
    for (const name of names) {
      const conflicts = await this.#conflictsOf(name);
      if (conflicts.length === 0) continue;
      held.push({ name, conflicts: conflicts.length });
      saved += conflicts.reduce((n, c) => n + (c.state === 'local-kept' ? c.kept.length : 0), 0);
    }
    if (held.length === 0) return;
    const list = held.map((h) => `${h.name} (${plural(h.conflicts, 'conflict')})`).join(', ');
    const see = held.length === 1 ? `ksync conflicts ${held[0]?.name ?? ''}` : 'ksync conflicts';
    throw new UserError(
      `not deleting: unresolved conflicts in ${list}, and deleting would also delete ${plural(saved, 'saved remote version')}; review them with: ${see}, or pass --force`,
    );
  }

  /** The recorded conflicts of one sync, from its running session or its store. */
  /** Every conflict of a sync, over all its parts (a Kubernetes sync's containers). */
  async #conflictsOf(name: string): Promise<Conflict[]> {
    const conflicts: Conflict[] = [];
    for (const part of await this.#parts(await this.#specs.get(name))) {
      const runner = part.runner;
      const live = runner?.session?.conflicts();
      const state =
        live === undefined ? (runner?.state ?? (await this.#openState(part.key))) : undefined;
      conflicts.push(...(live ?? (await state?.store.loadConflicts()) ?? []));
    }
    return conflicts;
  }

  async list(name?: string): Promise<SyncView[]> {
    const specs = name === undefined ? await this.#specs.list() : [await this.#specs.get(name)];
    const views: SyncView[] = [];
    for (const spec of specs) {
      views.push(this.#runners.get(spec.name)?.view() ?? (await this.#storedView(spec)));
    }
    return views;
  }

  async conflicts(name?: string): Promise<ConflictView[]> {
    const specs = name === undefined ? await this.#specs.list() : [await this.#specs.get(name)];
    const views: ConflictView[] = [];
    for (const spec of specs) {
      for (const part of await this.#parts(spec)) {
        const runner = part.runner;
        const state = runner?.state ?? (await this.#openState(part.key));
        const conflicts = runner?.session?.conflicts() ?? (await state.store.loadConflicts());
        const target =
          part.gone === undefined ? runner?.label : `@${part.gone.pod}/${part.gone.container}`;
        for (const c of conflicts) {
          views.push({
            ...conflictView(spec.name, c, state.content.locate(c.id), target),
            ...(part.gone === undefined ? {} : { targetGone: true }),
          });
        }
      }
    }
    return views;
  }

  async resolve(name: string, path: string, keep: Side): Promise<void> {
    const spec = await this.#specs.get(name);
    if (spec.target.kind === 'kubernetes') {
      // Every target whose session holds a conflict at this path resolves it the same way.
      const parts = await this.#parts(spec);
      const sessions = parts.flatMap((p) =>
        p.runner?.session === undefined ? [] : [p.runner.session],
      );
      if (!(this.#runners.get(name) instanceof SpecRunner)) throw this.#notLive(name, 'resolve');
      const holding = sessions.filter((s) => s.conflicts().some((c) => c.path === path));
      const gone = await this.#goneHolding(parts, path);
      if (holding.length === 0 && gone.length === 0) throw noConflict(name, path);
      if (keep === 'remote' && gone.length > 0) throw goneRemote(name, path, gone);
      for (const session of holding) await session.resolve(path, keep);
      for (const g of gone) await this.#forgetGone(g);
      return;
    }
    return this.#withSession(name, 'resolve', async (session, direct) => {
      if (!session.conflicts().some((c) => c.path === path)) throw noConflict(name, path);
      await session.resolve(path, keep);
      // Nothing else would propagate the resolution before this direct session closes.
      if (direct) await session.cycle();
    });
  }

  /** Stored in the spec, so that a paused sync stays paused when a watch restarts. */
  pause(name: string): Promise<void> {
    return this.#queue.run(async () => {
      await this.#specs.update(name, { paused: true });
      this.#runners.get(name)?.pause();
    });
  }

  resume(name: string): Promise<void> {
    return this.#queue.run(async () => {
      await this.#specs.update(name, { paused: false });
      this.#runners.get(name)?.resume();
    });
  }

  reset(name: string): Promise<void> {
    return this.#queue.run(async () => {
      const spec = await this.#specs.get(name);
      for (const part of await this.#parts(spec)) {
        if (part.runner?.session !== undefined) await part.runner.session.reset();
        else {
          const state = part.runner?.state ?? (await this.#openState(part.key));
          await state.store.clearAncestor();
        }
      }
    });
  }

  /** A sync's durable state opened outside a runner, its store's warnings in the log. */
  #openState(key: string): ReturnType<typeof openSyncState> {
    return openSyncState(this.#o.home, key, (message) =>
      this.#o.log?.('warn', `${key}: ${message}`),
    );
  }

  async flush(name: string, options: FlushOptions): Promise<FlushView> {
    const spec = await this.#specs.get(name);
    if (spec.paused) throw new UserError(`sync ${name} is paused; run: ksync resume ${name}`);
    const deadline = new AbortController();
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => deadline.abort(), options.timeoutMs);
    timer?.unref();
    const timedOut = new Promise<never>((_resolve, reject) => {
      deadline.signal.addEventListener('abort', () => {
        const view = this.#runners.get(name)?.view();
        const where =
          view === undefined
            ? ''
            : `; it is ${view.state}${view.error === undefined ? '' : `: ${view.error}`}`;
        reject(
          new UserError(
            `flush of ${name} timed out after ${formatDuration(options.timeoutMs ?? 0)}${where}`,
          ),
        );
      });
    });
    timedOut.catch(() => undefined);
    try {
      const work = this.#flush(spec, options, deadline.signal);
      work.catch(() => undefined);
      return await Promise.race([work, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #flush(spec: SyncSpec, options: FlushOptions, signal: AbortSignal): Promise<FlushView> {
    const found = this.#runners.get(spec.name);
    if (spec.target.kind === 'kubernetes') {
      if (!(found instanceof SpecRunner)) throw this.#notLive(spec.name, 'flush');
      return this.#flushTargets(spec, found, signal);
    }
    const runner = found instanceof SyncRunner ? found : undefined;
    let session: Session | undefined;
    let close = async (): Promise<void> => undefined;
    if (runner !== undefined) {
      session = await runner.waitForConnection(signal);
      if (session === undefined) throw new UserError(`sync ${spec.name} was stopped`);
    } else {
      const opened = await this.#openSession(spec, options.onProgress);
      session = opened.session;
      close = opened.close;
    }
    const progress = options.onProgress;
    const unsubscribe =
      progress !== undefined && runner !== undefined ? runner.subscribe(progress) : undefined;
    try {
      const before = session.status();
      const report =
        runner === undefined
          ? settle(spec.name, session, await session.flush().catch(asError))
          : await flushRunner(spec.name, runner, signal);
      const after = session.status();
      if (runner === undefined && after.lastSyncAt !== undefined) {
        await writeStatusFile(this.#o.home.statusFile(spec.name), {
          lastSyncAt: after.lastSyncAt,
          files: after.files,
          directories: after.directories,
          bytes: after.bytes,
        });
      }
      return {
        name: spec.name,
        transferredFiles: after.transferredFiles - before.transferredFiles,
        transferredBytes: after.transferredBytes - before.transferredBytes,
        conflicts: after.conflicts,
        problems: report.problems,
      };
    } finally {
      unsubscribe?.();
      await close();
    }
  }

  /** Flushes every target of a Kubernetes spec; with none running, says what it waits for. */
  async #flushTargets(spec: SyncSpec, runner: SpecRunner, signal: AbortSignal): Promise<FlushView> {
    const runners = runner.runners();
    if (runners.length === 0) {
      const view = runner.view();
      throw new UserError(
        `sync ${spec.name} has no container to flush: ${view.error ?? view.description}`,
      );
    }
    const before = runner.view();
    const reports = await Promise.all(runners.map((r) => flushRunner(r.label, r, signal)));
    const after = runner.view();
    return {
      name: spec.name,
      transferredFiles: after.transferredFiles - before.transferredFiles,
      transferredBytes: after.transferredBytes - before.transferredBytes,
      conflicts: after.conflicts,
      problems: reports.flatMap((r) => r.problems),
    };
  }

  /** The sessions' worth of `spec`: live runners, or (with no watch) the state on disk. */
  async #parts(spec: SyncSpec): Promise<SpecPart[]> {
    const runner = this.#runners.get(spec.name);
    if (spec.target.kind !== 'kubernetes') {
      return [{ key: spec.name, ...(runner instanceof SyncRunner ? { runner } : {}) }];
    }
    const live = runner instanceof SpecRunner ? runner.runners() : [];
    const parts: SpecPart[] = live.map((r) => ({ key: r.key, runner: r }));
    const keys = new Set(parts.map((p) => p.key));
    const known = runner instanceof SpecRunner ? runner.knownPods() : undefined;
    // The state on disk: every container without a watch; with one, those it no longer syncs
    // (a pod that went away keeps its state only while it holds conflicts).
    const root = join(this.#o.home.syncDir(spec.name), 'targets');
    for (const pod of await readdir(root).catch(() => [] as string[])) {
      for (const container of await readdir(join(root, pod)).catch(() => [] as string[])) {
        const key = targetKey(spec.name, pod, container);
        if (keys.has(key) || known?.has(pod) === true) continue;
        parts.push({ key, ...(known === undefined ? {} : { gone: { pod, container } }) });
      }
    }
    return parts;
  }

  /** The conflicts at `path` held by containers that are gone (see `SpecPart.gone`). */
  async #goneHolding(parts: readonly SpecPart[], path: string): Promise<GoneConflict[]> {
    const found: GoneConflict[] = [];
    for (const part of parts) {
      if (part.gone === undefined) continue;
      const state = await this.#openState(part.key);
      const conflict = (await state.store.loadConflicts()).find((c) => c.path === path);
      if (conflict !== undefined) found.push({ part, state, conflict });
    }
    return found;
  }

  /**
   * Keeps local for a gone container's conflict: local already holds the version it kept (or,
   * when blocked, was never touched), and the container it disagreed with no longer exists, so
   * the record and its saved copy go; the container's state goes with its last conflict.
   */
  async #forgetGone(g: GoneConflict): Promise<void> {
    await g.state.store.removeConflict(g.conflict.id);
    await g.state.content.remove(g.conflict.id);
    if ((await g.state.store.loadConflicts()).length > 0) return;
    await rm(this.#o.home.syncDir(g.part.key), { recursive: true, force: true });
    await rm(this.#o.home.conflictDir(g.part.key), { recursive: true, force: true });
  }

  #notLive(name: string, what: string): UserError {
    return new UserError(
      `cannot ${what} ${name} without a running watch (its containers come from the cluster); start one with: ksync watch --daemon`,
    );
  }

  /** Stops every runner. */
  async close(): Promise<void> {
    const runners = [...this.#runners.values()];
    this.#runners.clear();
    await Promise.all(runners.map((r) => r.stop()));
  }

  async #withSession(
    name: string,
    what: string,
    fn: (session: Session, direct: boolean) => Promise<void>,
  ): Promise<void> {
    const spec = await this.#specs.get(name);
    const found = this.#runners.get(name);
    const runner = found instanceof SyncRunner ? found : undefined;
    if (runner !== undefined) {
      const session = runner.session;
      if (session === undefined) {
        const view = runner.view();
        throw new UserError(
          `cannot ${what} ${name} now: it is not connected (${view.error ?? view.state}); try again once ksync get shows it watching`,
        );
      }
      return fn(session, false);
    }
    const { session, close } = await this.#openSession(spec);
    try {
      await fn(session, true);
    } finally {
      await close();
    }
  }

  /** Opens a sync's session for one operation (direct mode). */
  async #openSession(
    spec: SyncSpec,
    onProgress?: (view: SyncView) => void,
  ): Promise<{ session: Session; close: () => Promise<void> }> {
    const state = await this.#openState(spec.name);
    const stored = await readStatusFile(this.#o.home.statusFile(spec.name));
    const endpoints = await this.#o.openEndpoints(spec, {
      stagingDir: this.#o.home.staging,
      statCacheFile: this.#o.home.statCacheFile(spec.name),
      onWarning: (m) => this.#o.log?.('warn', `${spec.name}: ${m}`),
    });
    try {
      const session: Session = await Session.open({
        name: spec.name,
        mode: spec.mode,
        local: endpoints.local,
        remote: endpoints.remote,
        store: state.store,
        conflictContent: state.content,
        clock: this.#o.clock,
        onStatus: (status) =>
          onProgress?.(
            buildView(spec, { state: status.state, error: status.error, stored, status }),
          ),
        log: {
          info: (m) => this.#o.log?.('info', m),
          warn: (m) => this.#o.log?.('warn', m),
        },
      });
      return {
        session,
        close: async () => {
          session.stop();
          await Promise.allSettled([endpoints.local.close(), endpoints.remote.close()]);
        },
      };
    } catch (error) {
      await Promise.allSettled([endpoints.local.close(), endpoints.remote.close()]);
      throw error;
    }
  }

  async #storedView(spec: SyncSpec): Promise<SyncView> {
    const stored = await readStatusFile(this.#o.home.statusFile(spec.name));
    const state = await this.#openState(spec.name);
    const conflicts = (await state.store.loadConflicts()).length;
    return buildView(spec, { state: spec.paused ? 'paused' : 'stopped', stored, conflicts });
  }

  #startRunner(spec: SyncSpec): SyncRunner | SpecRunner | undefined {
    if (!this.#o.live || (this.#o.only !== undefined && this.#o.only !== spec.name))
      return undefined;
    const deps = {
      home: this.#o.home,
      clock: this.#o.clock,
      openEndpoints: this.#o.openEndpoints,
      log: this.#o.log ?? (() => undefined),
      onStatus: this.#o.onStatus ?? (() => undefined),
      ...(this.#o.metrics === undefined ? {} : { metrics: this.#o.metrics }),
    };
    const runner =
      spec.target.kind === 'kubernetes'
        ? new SpecRunner(spec, { ...deps, env: this.#o.env ?? process.env })
        : new SyncRunner(spec, deps);
    this.#runners.set(spec.name, runner);
    runner.start();
    this.#o.log?.('info', `${spec.name}: started`);
    return runner;
  }
}

type FlushReport = Awaited<ReturnType<Session['flush']>>;

/** A conflict of a container that is gone, with its state. */
interface GoneConflict {
  readonly part: SpecPart;
  readonly state: Awaited<ReturnType<typeof openSyncState>>;
  readonly conflict: Conflict;
}

/**
 * `--keep remote` for a gone container: its version cannot be synced any more. Says where the
 * saved copy is (local-kept conflicts keep one), and how to settle it.
 */
function goneRemote(name: string, path: string, gone: readonly GoneConflict[]): UserError {
  const g = gone[0] as GoneConflict;
  const where = `${g.part.gone?.pod ?? '?'}/${g.part.gone?.container ?? '?'}`;
  const keepLocal = `ksync resolve ${shellQuote(name)} ${shellQuote(path === '' ? '/' : path)} --keep local`;
  const saved =
    g.conflict.state === 'local-kept' && g.conflict.kept.length > 0
      ? `its saved version is in ${g.state.content.locate(g.conflict.id)}: copy what you need from there into the local directory, then run: ${keepLocal}`
      : `its version was not saved, so local is all there is: run ${keepLocal}`;
  return new UserError(
    `${where} is gone, so its version of ${path || '/'} cannot be kept; ${saved}`,
  );
}

/**
 * Flushes a running sync's session. When the agent goes away meanwhile, it waits for the
 * reconnect (bounded by `signal`, the caller's timeout) and flushes again, rather than failing
 * while it comes back.
 */
async function flushRunner(
  name: string,
  runner: SyncRunner,
  signal: AbortSignal,
): Promise<FlushReport> {
  let session = await runner.waitForConnection(signal);
  if (session === undefined) throw new UserError(`sync ${name} was stopped`);
  let report = await session.flush().catch(asError);
  while (report instanceof Error && !runner.connected) {
    const reconnected = await runner.waitForConnection(signal);
    if (reconnected === undefined || signal.aborted) break;
    session = reconnected;
    report = await session.flush().catch(asError);
  }
  return settle(name, session, report);
}

/** A flush's report, or its failure thrown (worded as a halt when the session halted). */
function settle(name: string, session: Session, report: FlushReport | Error): FlushReport {
  if (!(report instanceof Error)) return report;
  const halt = session.status().halt;
  throw halt === undefined ? report : new UserError(`${name}: ${formatHalt(name, halt)}`);
}

/** A resolve of a path without a conflict: says where the conflicts are listed. */
function noConflict(name: string, path: string): UserError {
  return new UserError(
    `sync ${name} has no conflict at ${path}; list them with: ksync conflicts ${name}`,
  );
}

function asError(error: unknown): Error {
  return error as Error;
}

/** "1 conflict", "2 conflicts". */
function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function conflictView(
  sync: string,
  c: Conflict,
  savedIn: string,
  target: string | undefined,
): ConflictView {
  return {
    sync,
    ...(target === undefined || !target.includes('@')
      ? {}
      : { target: target.slice(target.indexOf('@') + 1) }),
    id: c.id,
    path: c.path,
    state: c.state,
    local: describeEntry(c.local),
    remote: describeEntry(c.remote),
    detectedAt: new Date(c.detectedAt).toISOString(),
    ...(c.kept.length > 0 ? { savedIn } : {}),
  };
}
