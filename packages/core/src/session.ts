/**
 * The session controller: drives one sync between two endpoints. A cycle is a fixed sequence of
 * phases: scan both sides → reconcile against the ancestor → safety checks → save conflict
 * content → transfer missing content → apply on both sides → record what landed as the new
 * ancestor. The controller holds two `Endpoint`s and never knows whether either is local or
 * remote. It owns all sync history (the ancestor and conflicts, through `SessionStore`), so an
 * endpoint that restarts loses nothing.
 *
 * Invariants:
 * - The ancestor only ever records states both sides were seen to hold: agreements found by
 *   reconcile, and changes an endpoint reports as applied. A failure anywhere leaves the ancestor
 *   untouched for the affected paths, so the next cycle derives the same work again.
 * - No remote change that overwrites an unsynced remote version is applied before that version
 *   was saved to the conflict store; if saving fails, the whole conflicting subtree is skipped.
 * - Cycles never overlap: `cycle`, `resolve`, `reset` and friends run one at a time.
 */
import type { ApplyResult, Change, Problem } from './change.ts';
import type { Endpoint, ScanResult } from './endpoint.ts';
import { createIgnoreMatcher, ignoredPaths, samePatterns } from './ignore.ts';
import { entriesEqual, type Entry, type FileEntry } from './entry.ts';
import { InternalError, UserError } from './errors.ts';
import type { SyncMode } from './mode.ts';
import { ROOT, isWithin, parentPath, validatePath } from './path.ts';
import { rebaseAncestor } from './rebase.ts';
import { applyChanges, orderChanges, reconcile, updatesAsChanges } from './reconcile.ts';
import type { ReconcileConflict } from './reconcile.ts';
import { checkSafety, describeHalt, type HaltDetail, type HaltReason } from './safety.ts';
import {
  summarizeSnapshot,
  validateSnapshot,
  type Snapshot,
  type SnapshotStats,
} from './snapshot.ts';
import { isHalted, type SessionState } from './state.ts';
import type { AncestorUpdate, Conflict, ConflictContentStore, SessionStore } from './store.ts';

/** Time, injected so that tests never sleep for real. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`; must not keep the process alive on its own. */
  sleep(ms: number): Promise<void>;
}

/** Where the controller reports what it does. */
export interface SessionLogger {
  info(message: string): void;
  warn(message: string): void;
}

/** How to build a session. */
export interface SessionOptions {
  readonly name: string;
  readonly mode: SyncMode;
  readonly local: Endpoint;
  readonly remote: Endpoint;
  readonly store: SessionStore;
  readonly conflictContent: ConflictContentStore;
  readonly clock: Clock;
  /** Most files one cycle may delete across both sides before it halts (default 1000). */
  readonly deletionBound?: number;
  /**
   * Extra wait after a change event before a cycle starts (default 0: endpoints already batch
   * their watcher events).
   */
  readonly debounceMs?: number;
  /** A full rescan runs at least this often as a safety net (default 10 minutes). */
  readonly fullRescanMs?: number;
  /** Content transfers in flight at once (default 8). */
  readonly transferConcurrency?: number;
  readonly onStatus?: (status: SessionStatus) => void;
  /** Called after each cycle that completed, with its report and duration (for metrics). */
  readonly onCycle?: (report: CycleReport, durationMs: number) => void;
  readonly log?: SessionLogger;
}

/** A session's externally visible status. */
export interface SessionStatus {
  readonly name: string;
  readonly mode: SyncMode;
  readonly state: SessionState;
  /** The last error, for the `error` state. */
  readonly error?: string;
  /** When a cycle last finished with both sides in sync (ms since the epoch). */
  readonly lastSyncAt?: number;
  readonly files: number;
  readonly directories: number;
  readonly bytes: number;
  readonly conflicts: number;
  readonly problems: readonly Problem[];
  /** Totals since the session started. */
  readonly transferredFiles: number;
  readonly transferredBytes: number;
  /** The running cycle's content transfer, both directions together (state `transferring`). */
  readonly transfer?: TransferProgress;
  /** What the halted cycle would have done (the `halted-*` states). */
  readonly halt?: HaltDetail;
}

/**
 * Content moving in the running cycle. The totals grow as each direction learns what the other
 * side lacks; `doneBytes` grows as chunks flow, so a large file shows progress before it ends.
 */
export interface TransferProgress {
  /** Files (distinct contents) to transfer, and their bytes. */
  readonly files: number;
  readonly bytes: number;
  /** Files fully transferred, and bytes streamed so far (partial files included). */
  readonly doneFiles: number;
  readonly doneBytes: number;
}

/** What one cycle did. */
export interface CycleReport {
  readonly appliedLocal: number;
  readonly appliedRemote: number;
  readonly transferredFiles: number;
  readonly transferredBytes: number;
  readonly conflicts: readonly ReconcileConflict[];
  readonly problems: readonly Problem[];
  readonly halted?: HaltReason;
  /** True when the cycle found nothing to do: both sides agree everywhere they can. */
  readonly inSync: boolean;
}

/** Which side a resolution keeps. */
export type Side = 'local' | 'remote';

/** A running sync between two endpoints. */
export class Session {
  readonly #o: SessionOptions;
  #ancestor: Map<string, Entry>;
  #conflicts: Map<string, Conflict>;
  #state: SessionState = 'connecting';
  #error: string | undefined;
  #lastSyncAt: number | undefined;
  #problems: readonly Problem[] = [];
  #halt: HaltDetail | undefined;
  #lastLocal: Snapshot = new Map();
  #summary: SnapshotStats = summarizeSnapshot(new Map());
  #lastRemote: Snapshot = new Map();
  /** The ignore rules both sides scan with, learned from the local side's scans. */
  #ignore: readonly string[] | undefined;
  #transferredFiles = 0;
  #transferredBytes = 0;
  #conflictSeq = 0;
  #allowHaltOnce = false;
  #needFull = true;
  #dirty = false;
  #stopped = false;
  #wake: (() => void) | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #unwatch: (() => void)[] = [];

  private constructor(
    options: SessionOptions,
    ancestor: Map<string, Entry>,
    conflicts: Conflict[],
  ) {
    this.#o = options;
    this.#ancestor = ancestor;
    this.#conflicts = new Map(conflicts.map((c) => [c.id, c]));
  }

  /** Loads the session's persisted state and subscribes to both endpoints' change events. */
  static async open(options: SessionOptions): Promise<Session> {
    const [ancestor, conflicts] = await Promise.all([
      options.store.loadAncestor(),
      options.store.loadConflicts(),
    ]);
    validateSnapshot(ancestor);
    const session = new Session(options, new Map(ancestor), conflicts);
    for (const endpoint of [options.local, options.remote]) {
      session.#unwatch.push(endpoint.watch(() => session.#onChange()));
    }
    return session;
  }

  /** The current status. */
  status(): SessionStatus {
    const summary = this.#summary;
    return {
      name: this.#o.name,
      mode: this.#o.mode,
      state: this.#state,
      ...(this.#error === undefined ? {} : { error: this.#error }),
      ...(this.#lastSyncAt === undefined ? {} : { lastSyncAt: this.#lastSyncAt }),
      files: summary.files,
      directories: summary.directories,
      bytes: summary.bytes,
      conflicts: this.#conflicts.size,
      problems: this.#problems,
      transferredFiles: this.#transferredFiles,
      transferredBytes: this.#transferredBytes,
      ...(this.#state === 'transferring' ? { transfer: { ...this.#progress } } : {}),
      ...(isHalted(this.#state) && this.#halt !== undefined ? { halt: this.#halt } : {}),
    };
  }

  /** The recorded conflicts, oldest first. */
  conflicts(): Conflict[] {
    return [...this.#conflicts.values()].sort((a, b) => a.detectedAt - b.detectedAt);
  }

  /** Runs one cycle (a full rescan when asked, or when due). */
  cycle(options: { full?: boolean } = {}): Promise<CycleReport> {
    return this.#exclusive(async () => {
      const started = this.#o.clock.now();
      const report = await this.#cycle(options.full === true);
      this.#o.onCycle?.(report, this.#o.clock.now() - started);
      return report;
    });
  }

  /**
   * Runs cycles until one finds both sides in sync, or until two cycles in a row fail on the same
   * paths in the same way (a full disk, say: more cycles would change nothing). Either way the
   * last report is returned, and its problems say what could not be synced; the caller words
   * them. Fails with `UserError` when the session is halted or paused, or after `maxCycles`
   * cycles that still found work.
   */
  async flush(maxCycles = 10): Promise<CycleReport> {
    let full = true;
    let previous: string | undefined;
    for (let i = 0; i < maxCycles; i++) {
      const report = await this.cycle({ full });
      full = false;
      if (report.halted !== undefined) {
        throw new UserError(
          `sync ${this.#o.name} is ${this.#state}; run: ksync resume ${this.#o.name}`,
        );
      }
      const problems = describeProblems(report.problems);
      if (report.inSync || (problems !== undefined && problems === previous)) return report;
      previous = problems;
    }
    throw new UserError(`sync ${this.#o.name} did not settle after ${maxCycles} cycles`);
  }

  /**
   * Cycles whenever either side changes, until `stop`. A cycle that fails ends `run` with its
   * error (the state is then `error`): the session does not retry failures itself, because its
   * owner (the CLI's sync runner) is the one place that reconnects and retries, with one backoff
   * policy. Per-path problems are not failures; they are retried here, on a timer, so the sync
   * recovers once their cause is gone even if no file event says so.
   */
  async run(): Promise<void> {
    let problemBackoff = 0;
    let warned: string | undefined;
    while (!this.#stopped) {
      if (this.#state === 'paused' || isHalted(this.#state)) {
        // Change events cannot lift a pause or halt; only resume, reset or stop do (they call
        // #wake). Forgetting them is safe: resume and reset force a full rescan.
        this.#dirty = false;
        await this.#waitForChange(this.#o.fullRescanMs ?? 600_000);
        continue;
      }
      let retryMs: number | undefined;
      try {
        const report = await this.cycle();
        // Tell the watch's log what failed, once per change of the failures (not every retry).
        const failures = describeProblems(report.problems);
        if (failures !== undefined && failures !== warned) {
          this.#o.log?.warn(`sync ${this.#o.name}: ${failures}`);
        }
        warned = failures;
        if (report.problems.length > 0) {
          problemBackoff = Math.min(problemBackoff === 0 ? 1000 : problemBackoff * 2, 30_000);
          retryMs = problemBackoff;
        } else {
          problemBackoff = 0;
        }
      } catch (error) {
        if (this.#stopped) return;
        this.#setState('error', errorMessage(error));
        throw error;
      }
      const changed = await this.#waitForChange(retryMs ?? this.#o.fullRescanMs ?? 600_000);
      if (!changed && retryMs === undefined) this.#needFull = true;
      else if ((this.#o.debounceMs ?? 0) > 0) await this.#o.clock.sleep(this.#o.debounceMs ?? 0);
    }
  }

  /** Ends `run` after its current cycle and unsubscribes from the endpoints. */
  stop(): void {
    this.#stopped = true;
    for (const unwatch of this.#unwatch.splice(0)) unwatch();
    this.#wake?.();
  }

  /** Stops cycling until `resume`. */
  pause(): Promise<void> {
    return this.#exclusive(async () => {
      this.#setState('paused');
    });
  }

  /** Leaves a pause or halt; after a halt the halted change is allowed once. */
  resume(): Promise<void> {
    return this.#exclusive(async () => {
      if (isHalted(this.#state)) this.#allowHaltOnce = true;
      this.#needFull = true;
      this.#setState('scanning');
      this.#wake?.();
    });
  }

  /**
   * Forgets the ancestor (and lifts any halt): the next cycle is a first sync, which loses nothing
   * because every difference is then a conflict that keeps both versions.
   */
  reset(): Promise<void> {
    return this.#exclusive(async () => {
      await this.#o.store.clearAncestor();
      this.#ancestor = new Map();
      this.#needFull = true;
      this.#setState('scanning');
      this.#wake?.();
    });
  }

  /**
   * After the remote side was replaced by a fresh copy of its image (a container restart: same
   * pod, new container ID), rebases the ancestor onto what it now holds (see rebase.ts), so the
   * next cycle neither reverts local content nor records conflicts for the reverted files.
   */
  rebaseOntoRemote(): Promise<void> {
    return this.#exclusive(async () => {
      const [, remoteScan] = await this.#scanBoth(true);
      const rebased = rebaseAncestor(this.#ancestor, remoteScan.snapshot);
      await this.#o.store.clearAncestor();
      this.#ancestor = new Map();
      await this.#recordAncestor(
        [...rebased].map(([path, entry]) => ({ path, old: undefined, new: entry })),
      );
      this.#needFull = true;
      this.#wake?.();
    });
  }

  /** Resolves the conflict at `path` by keeping one side's version. */
  resolve(path: string, keep: Side): Promise<void> {
    return this.#exclusive(() => this.#resolve(validatePath(path), keep));
  }

  async #cycle(full: boolean): Promise<CycleReport> {
    const { local, remote, mode } = this.#o;
    if (this.#state === 'paused') throw new UserError(`sync ${this.#o.name} is paused`);
    const halted = isHalted(this.#state) ? this.#state : undefined;
    this.#setState(halted ?? 'scanning');
    const fullScan = full || this.#needFull;
    this.#dirty = false;
    const [localScan, remoteScan] = await this.#scanBoth(fullScan);
    this.#needFull = false;
    this.#setSnapshots(localScan.snapshot, remoteScan.snapshot);
    const problems: Problem[] = [
      ...onSide(localScan.problems, 'local'),
      ...onSide(remoteScan.problems, 'remote'),
    ];
    const result = reconcile({
      ancestor: this.#ancestor,
      local: localScan.snapshot,
      remote: remoteScan.snapshot,
      mode,
      problemPaths: new Set(problems.map((p) => p.path)),
      blockedPaths: new Set(
        [...this.#conflicts.values()].filter((c) => c.state === 'blocked').map((c) => c.path),
      ),
    });

    // A halt is sticky: only resume or reset lift it. Otherwise a container that writes one
    // file into its emptied root would make the next cycle propagate the emptying.
    const sticky = isHalted(this.#state) ? haltReasonOf(this.#state) : undefined;
    const safety = {
      ancestor: this.#ancestor,
      local: localScan.snapshot,
      remote: remoteScan.snapshot,
      result,
      deletionBound: this.#o.deletionBound ?? 1000,
    };
    const halt = sticky ?? checkSafety(safety);
    if (halt !== undefined && !this.#allowHaltOnce) {
      this.#problems = problems;
      this.#halt = describeHalt(safety, halt);
      this.#setState(`halted-${halt}`);
      this.#o.log?.warn(`sync ${this.#o.name} halted: ${halt}`);
      return { ...EMPTY_REPORT, problems, halted: halt, inSync: false };
    }
    this.#allowHaltOnce = false;

    await this.#recordAncestor(updatesAsChanges(result.ancestorUpdates));
    let remoteChanges = result.remoteChanges;
    const localKept: Conflict[] = [];
    for (const conflict of result.conflicts) {
      const record = await this.#recordConflict(conflict, problems);
      if (record === undefined) {
        remoteChanges = remoteChanges.filter((c) => !isWithin(c.path, conflict.path));
      } else if (record.state === 'local-kept') {
        localKept.push(record);
      }
    }
    await this.#dropStaleBlocked(result.conflicts);

    this.#setState('transferring');
    this.#cycleFiles = 0;
    this.#cycleBytes = 0;
    this.#progress = { files: 0, bytes: 0, doneFiles: 0, doneBytes: 0 };
    const [toLocal, toRemote] = await Promise.all([
      this.#transfer(result.localChanges, { from: remote, to: local, side: 'local' }, problems),
      this.#transfer(remoteChanges, { from: local, to: remote, side: 'remote' }, problems),
    ]);
    this.#setState('applying');
    const [appliedLocal, appliedRemote] = await Promise.all([
      toLocal.length > 0 ? local.apply(toLocal) : NOTHING_APPLIED,
      toRemote.length > 0 ? remote.apply(toRemote) : NOTHING_APPLIED,
    ]);
    problems.push(
      ...onSide(appliedLocal.problems, 'local'),
      ...onSide(appliedRemote.problems, 'remote'),
    );
    await this.#recordAncestor([...appliedLocal.applied, ...appliedRemote.applied]);
    await this.#blockUnlanded(localKept, appliedRemote);

    const inSync =
      result.localChanges.length === 0 &&
      result.remoteChanges.length === 0 &&
      result.conflicts.every((c) => c.state === 'blocked');
    this.#problems = problems;
    if (inSync) this.#lastSyncAt = this.#o.clock.now();
    this.#setState(problems.length === 0 ? 'watching' : 'problems');
    return {
      appliedLocal: appliedLocal.applied.length,
      appliedRemote: appliedRemote.applied.length,
      transferredFiles: this.#cycleFiles,
      transferredBytes: this.#cycleBytes,
      conflicts: result.conflicts,
      problems,
      inSync,
    };
  }

  #cycleFiles = 0;
  #cycleBytes = 0;
  #progress: Mutable<TransferProgress> = { files: 0, bytes: 0, doneFiles: 0, doneBytes: 0 };
  /** When a status was last sent for streamed bytes (progress is reported at most 4 times a second). */
  #progressSentAt = Number.NEGATIVE_INFINITY;

  /**
   * Scans both sides under the same ignore rules. The local side reads the rules (its root's
   * `.ksyncignore` plus the spec's patterns); the remote side scans with the rules of the previous
   * local scan. When the local scan finds new rules, the remote is scanned again under them and
   * the ancestor forgets every path they ignore, before anything is reconciled. So a newly
   * ignored path looks neither deleted nor changed on either side (it is simply out of the sync,
   * untouched on both), and a path that stops being ignored is merged like a first sync: without
   * an ancestor, any difference is a conflict that keeps both versions.
   */
  async #scanBoth(full: boolean): Promise<[ScanResult, ScanResult]> {
    const { local, remote } = this.#o;
    const rules = this.#ignore;
    const [localScan, remoteScan] = await Promise.all([
      local.scan({ full }),
      remote.scan({ full, ...(rules === undefined ? {} : { ignore: rules }) }),
    ]);
    const next = localScan.ignore;
    if (next === undefined || (rules !== undefined && samePatterns(next, rules))) {
      return [localScan, remoteScan];
    }
    this.#ignore = next;
    const dropped = ignoredPaths(this.#ancestor, createIgnoreMatcher(next));
    await this.#recordAncestor(dropped.map((path) => ({ path, old: undefined, new: undefined })));
    // The endpoint rescans everything itself when its rules change, and only what is dirty when
    // they do not (the first cycle, when the remote opened with the same rules).
    return [localScan, await remote.scan({ full, ignore: next })];
  }

  /**
   * Makes sure `to` can provide the content of every file the changes create: asks which digests
   * it lacks and streams those from `from`. Changes whose content could not be staged are dropped
   * (with a problem) and come back next cycle.
   */
  async #transfer(
    changes: readonly Change[],
    { from, to, side }: { from: Endpoint; to: Endpoint; side: Side },
    problems: Problem[],
  ): Promise<readonly Change[]> {
    const sources = new Map<string, { path: string; entry: FileEntry }>();
    for (const c of changes) {
      if (c.new?.kind === 'file' && !sources.has(c.new.digest)) {
        sources.set(c.new.digest, { path: c.path, entry: c.new });
      }
    }
    if (sources.size === 0) return changes;
    const missing = await to.missingContent([...sources.keys()]);
    for (const digest of missing) {
      this.#progress.files++;
      this.#progress.bytes += sources.get(digest)?.entry.size ?? 0;
    }
    const failed = new Set<string>();
    await forEachLimited(missing, this.#o.transferConcurrency ?? 8, async (digest) => {
      const source = sources.get(digest);
      if (source === undefined)
        throw new InternalError(`endpoint asked for unknown digest ${digest}`);
      const streamed = { bytes: 0 };
      try {
        await to.stageContent({
          digest,
          size: source.entry.size,
          chunks: this.#counted(from.readContent(source.path, digest), streamed),
        });
        this.#cycleFiles++;
        this.#cycleBytes += source.entry.size;
        this.#transferredFiles++;
        this.#transferredBytes += source.entry.size;
        this.#progress.doneFiles++;
        this.#o.onStatus?.(this.status());
      } catch (error) {
        this.#progress.doneBytes -= streamed.bytes;
        failed.add(digest);
        // Reported on the receiving side: staging there is what fails (a full disk, mostly).
        problems.push({
          path: source.path,
          message: `transfer failed: ${errorMessage(error)}`,
          side,
        });
      }
    });
    if (failed.size === 0) return changes;
    return changes.filter((c) => !(c.new?.kind === 'file' && failed.has(c.new.digest)));
  }

  /** Passes `chunks` through, counting their bytes into the cycle's progress as they flow. */
  async *#counted(
    chunks: AsyncIterable<Uint8Array>,
    streamed: { bytes: number },
  ): AsyncGenerator<Uint8Array> {
    for await (const chunk of chunks) {
      streamed.bytes += chunk.length;
      this.#progress.doneBytes += chunk.length;
      const now = this.#o.clock.now();
      if (now - this.#progressSentAt >= 250) {
        this.#progressSentAt = now;
        this.#o.onStatus?.(this.status());
      }
      yield chunk;
    }
  }

  /**
   * A local-wins conflict whose overwrite of the remote did not land at all (the remote could not
   * take it: a directory holding content that is not synced, say) touched nothing, so nothing
   * was overwritten: it becomes a blocked conflict, which moves nothing until it is resolved,
   * instead of being decided (and failing) again every cycle. Its saved copy is not needed.
   */
  async #blockUnlanded(records: readonly Conflict[], remote: ApplyResult): Promise<void> {
    for (const record of records) {
      const within = (c: { path: string }): boolean => isWithin(c.path, record.path);
      if (!remote.problems.some(within) || remote.applied.some(within)) continue;
      const blocked: Conflict = { ...record, state: 'blocked', kept: [] };
      await this.#o.conflictContent.remove(record.id);
      await this.#o.store.saveConflict(blocked);
      this.#conflicts.set(record.id, blocked);
      this.#o.log?.warn(
        `sync ${this.#o.name}: conflict at ${record.path || '/'} is blocked: the local version could not replace the remote one, and neither side was changed`,
      );
    }
  }

  /**
   * Records a conflict, once: a conflict identical to a recorded one (same path, state, entries
   * and remote versions to keep) is that record, whose saved copies already hold those versions. For a local-wins conflict the remote versions it overwrites are
   * saved first; returns undefined (and adds a problem) when that failed, so the caller skips the
   * subtree.
   */
  async #recordConflict(
    conflict: ReconcileConflict,
    problems: Problem[],
  ): Promise<Conflict | undefined> {
    const existing = [...this.#conflicts.values()].find(
      (c) =>
        c.path === conflict.path &&
        c.state === conflict.state &&
        entriesEqual(c.local, conflict.local) &&
        entriesEqual(c.remote, conflict.remote) &&
        c.kept.length === conflict.keep.length &&
        c.kept.every(
          (k, i) =>
            k.path === conflict.keep[i]?.path && entriesEqual(k.entry, conflict.keep[i]?.entry),
        ),
    );
    if (existing !== undefined) return existing;
    const now = this.#o.clock.now();
    const record: Conflict = {
      id: `${now.toString(36)}-${(this.#conflictSeq++).toString(36)}`,
      path: conflict.path,
      ancestor: conflict.ancestor,
      local: conflict.local,
      remote: conflict.remote,
      state: conflict.state,
      detectedAt: now,
      kept: conflict.keep,
    };
    try {
      for (const file of conflict.keep) {
        await this.#o.conflictContent.save(
          record.id,
          file.path,
          this.#o.remote.readContent(file.path, file.entry.digest),
        );
      }
    } catch (error) {
      await this.#o.conflictContent.remove(record.id);
      problems.push({
        path: conflict.path,
        message: `could not save the remote version of a conflict, so it was left alone: ${errorMessage(error)}`,
      });
      return undefined;
    }
    if (conflict.state === 'blocked') {
      for (const old of this.#conflicts.values()) {
        if (old.path === conflict.path && old.state === 'blocked') await this.#forget(old);
      }
    }
    await this.#o.store.saveConflict(record);
    this.#conflicts.set(record.id, record);
    this.#o.log?.warn(
      `sync ${this.#o.name}: conflict at ${conflict.path || '/'} (${conflict.state === 'blocked' ? 'blocked' : 'local version kept; remote version saved'})`,
    );
    return record;
  }

  /** Drops blocked conflicts that no longer exist (someone made the sides agree by hand). */
  async #dropStaleBlocked(current: readonly ReconcileConflict[]): Promise<void> {
    const blocked = new Set(current.filter((c) => c.state === 'blocked').map((c) => c.path));
    for (const c of [...this.#conflicts.values()]) {
      if (c.state === 'blocked' && !blocked.has(c.path)) await this.#forget(c);
    }
  }

  async #forget(conflict: Conflict): Promise<void> {
    await this.#o.store.removeConflict(conflict.id);
    await this.#o.conflictContent.remove(conflict.id);
    this.#conflicts.delete(conflict.id);
  }

  /**
   * Resolution. A blocked conflict is resolved by editing the ancestor: it is set to the losing
   * side's current subtree, so that side looks unchanged and the next cycle propagates the
   * winner. A local-kept conflict resolved for the remote restores the saved remote files on the
   * local side; the next cycle then propagates them back to the remote.
   */
  async #resolve(path: string, keep: Side): Promise<void> {
    // Decide against the sides as they are now, not as the last cycle (if any) saw them.
    const [localScan, remoteScan] = await this.#scanBoth(this.#needFull);
    this.#needFull = false;
    this.#setSnapshots(localScan.snapshot, remoteScan.snapshot);
    const conflict = [...this.#conflicts.values()].find((c) => c.path === path);
    if (conflict === undefined) {
      throw new UserError(
        `no conflict at ${JSON.stringify(path)}; list them with: ksync conflicts ${this.#o.name}`,
      );
    }
    if (conflict.state === 'blocked') {
      const loser = keep === 'local' ? this.#lastRemote : this.#lastLocal;
      const paths = new Set<string>();
      for (const p of [...this.#ancestor.keys(), ...loser.keys()])
        if (isWithin(p, path)) paths.add(p);
      await this.#recordAncestor(
        orderChanges([...paths].map((p) => ({ path: p, old: undefined, new: loser.get(p) }))),
      );
    } else if (keep === 'remote') {
      await this.#restoreRemoteVersion(conflict);
    }
    await this.#forget(conflict);
    this.#needFull = true;
    this.#wake?.();
  }

  /** Writes the saved remote files of a local-kept conflict back onto the local side. */
  async #restoreRemoteVersion(conflict: Conflict): Promise<void> {
    const kept = conflict.kept;
    const target = new Map(this.#lastLocal);
    for (const { path, entry } of kept) placeEntry(target, path, entry);
    const changes: Change[] = [];
    const paths = new Set<string>();
    for (const p of [...this.#lastLocal.keys(), ...target.keys()]) {
      if (isWithin(p, conflict.path)) paths.add(p);
    }
    for (const p of paths) {
      const old = this.#lastLocal.get(p);
      const next = target.get(p);
      if (!entriesEqual(old, next)) changes.push({ path: p, old, new: next });
    }
    for (const { path, entry } of kept) {
      await this.#o.local.stageContent({
        digest: entry.digest,
        size: entry.size,
        chunks: this.#o.conflictContent.read(conflict.id, path),
      });
    }
    const result = await this.#o.local.apply(orderChanges(changes));
    if (result.problems.length > 0) {
      const first = result.problems[0] as Problem;
      throw new UserError(
        `could not restore the remote version of ${conflict.path || '/'}: ${first.path}: ${first.message}; the saved copy stays in ${this.#o.conflictContent.locate(conflict.id)}`,
      );
    }
  }

  async #recordAncestor(changes: readonly Change[]): Promise<void> {
    if (changes.length === 0) return;
    const ordered = orderChanges(changes);
    this.#ancestor = applyChanges(this.#ancestor, ordered);
    const updates: AncestorUpdate[] = ordered.map((c) => ({ path: c.path, entry: c.new }));
    await this.#o.store.updateAncestor(updates);
  }

  #setSnapshots(local: Snapshot, remote: Snapshot): void {
    this.#lastLocal = local;
    this.#lastRemote = remote;
    this.#summary = summarizeSnapshot(local);
  }

  #onChange(): void {
    this.#dirty = true;
    this.#wake?.();
  }

  /** Waits for a change event or the timeout; returns whether a change came. */
  async #waitForChange(timeoutMs: number): Promise<boolean> {
    if (this.#dirty || this.#stopped) return true;
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      void this.#o.clock.sleep(timeoutMs).then(resolve);
    });
    this.#wake = undefined;
    return this.#dirty || this.#stopped;
  }

  #setState(state: SessionState, error?: string): void {
    this.#state = state;
    this.#error = error;
    this.#o.onStatus?.(this.status());
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

const EMPTY_REPORT: CycleReport = {
  appliedLocal: 0,
  appliedRemote: 0,
  transferredFiles: 0,
  transferredBytes: 0,
  conflicts: [],
  problems: [],
  inSync: true,
};

const NOTHING_APPLIED = { applied: [], problems: [] };

/** `problems` as reported by the endpoint on `side`. */
function onSide(problems: readonly Problem[], side: 'local' | 'remote'): Problem[] {
  return problems.map((p) => ({ ...p, side }));
}

/**
 * One line for a list of problems: how many paths, and the first one with its side and reason;
 * undefined when there are none.
 */
function describeProblems(problems: readonly Problem[]): string | undefined {
  const first = problems[0];
  if (first === undefined) return undefined;
  const paths = new Set(problems.map((p) => p.path)).size;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  const side = first.side === undefined ? '' : `${first.side} `;
  return `${paths} ${paths === 1 ? 'path' : 'paths'} could not be synced: ${side}${JSON.stringify(first.path)}: ${first.message}${more}`;
}

/** The halt reason of a halted state. */
function haltReasonOf(state: `halted-${HaltReason}`): HaltReason {
  return state.slice('halted-'.length) as HaltReason;
}

/** Puts `entry` at `path` in `tree`, turning parents into directories as a filesystem would. */
function placeEntry(tree: Map<string, Entry>, path: string, entry: Entry): void {
  const parents: string[] = [];
  for (let p = parentPath(path); p !== ROOT; p = parentPath(p)) parents.unshift(p);
  for (const p of [...parents, path]) {
    const want = p === path ? entry : { kind: 'directory' as const };
    if (entriesEqual(tree.get(p), want)) continue;
    for (const q of [...tree.keys()]) if (isWithin(q, p)) tree.delete(q);
    tree.set(p, want);
  }
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The message of anything thrown. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
