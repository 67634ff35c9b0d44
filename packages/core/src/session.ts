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
import { DELTA_MIN_BYTES, planBlockSize } from './block-delta.ts';
import {
  ContentStreamMeter,
  INLINE_CONTENT_BYTES,
  singleContent,
  type ContentRequest,
} from './content-stream.ts';
import type { ApplyContent, Endpoint, RestartFacts, ScanResult } from './endpoint.ts';
import { createIgnoreMatcher, ignoredPaths, samePatterns } from './ignore.ts';
import { entriesEqual, type Entry, type FileEntry } from './entry.ts';
import { InternalError, UserError, errorMessage } from './errors.ts';
import type { SyncMode } from './mode.ts';
import { ROOT, isWithin, parentPath, validatePath } from './path.ts';
import { rebaseAncestor, type RebaseVolumes } from './rebase.ts';
import { orderChanges, reconcile, updatesAsChanges } from './reconcile.ts';
import type { ReconcileConflict, ReconcileResult } from './reconcile.ts';
import { checkSafety, describeHalt, type HaltDetail, type HaltReason } from './safety.ts';
import {
  summarizeSnapshot,
  updateSummary,
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
   * How long deletions wait for a rescan that confirms no more are coming before they are
   * propagated (default 2000 ms; 0 propagates them at once). See the deletion hold in `#cycle`.
   */
  readonly deletionHoldMs?: number;
  /**
   * Extra wait after a change event before a cycle starts (default 0: endpoints already batch
   * their watcher events).
   */
  readonly debounceMs?: number;
  /** A full rescan runs at least this often as a safety net (default 10 minutes). */
  readonly fullRescanMs?: number;
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
  /**
   * The paths at which the ancestor and the last scans of both sides may disagree; at every
   * other path all three agree. With the scans' change sets it tells the next cycle which paths
   * to reconcile (see `reconcile`'s `dirty`). Undefined when unknown: the next cycle then
   * reconciles every path. Anything that consumes scan results or edits the ancestor outside a
   * cycle's bookkeeping leaves it undefined.
   */
  #pending: Set<string> | undefined;
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
        throw new UserError(`sync ${this.#o.name} is ${this.#state}`);
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
        // What failed is the status's to tell (`problems`): the watch logs it once per cause.
        const report = await this.cycle();
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
      this.#pending = undefined;
      this.#needFull = true;
      this.#setState('scanning');
      this.#wake?.();
    });
  }

  /**
   * After the remote side was replaced by a fresh copy of its image (a container restart: same
   * pod, new container ID; or a new pod starting from another's ancestor), rebases the ancestor
   * onto what it now holds (see rebase.ts), so the next cycle neither reverts local content nor
   * records conflicts for the image's files, while the container's own versions (on surviving
   * volumes, or written since it started) are never taken as synced. The facts describe the
   * versions this scan saw; a change after it is seen by the next cycle, as a change.
   */
  rebaseOntoRemote(volumes: RebaseVolumes): Promise<void> {
    return this.#exclusive(async () => {
      const [, remoteScan] = await this.#scanBoth(true);
      const rebased = rebaseAncestor(this.#ancestor, remoteScan.snapshot, {
        blockedPaths: [...this.#conflicts.values()]
          .filter((c) => c.state === 'blocked')
          .map((c) => c.path),
        facts: await this.#readRestartFacts(),
        volumes,
      });
      await this.#o.store.clearAncestor();
      this.#ancestor = new Map();
      await this.#recordAncestor(
        [...rebased].map(([path, entry]) => ({ path, old: undefined, new: entry })),
      );
      this.#needFull = true;
      this.#wake?.();
    });
  }

  /** The remote side's restart facts, or undefined when it cannot tell; says what is missing. */
  async #readRestartFacts(): Promise<RestartFacts | undefined> {
    const remote = this.#o.remote;
    let facts: RestartFacts | undefined;
    let why: string | undefined;
    if (remote.readRestartFacts === undefined) why = 'the remote side does not report them';
    else {
      try {
        facts = await remote.readRestartFacts();
      } catch (error) {
        why = errorMessage(error);
      }
    }
    if (facts?.changed === undefined) {
      why ??= 'more paths changed since the container started than fit in one answer';
      this.#o.log?.warn(
        `sync ${this.#o.name}: the restarted container's changed paths are unknown (${why}); the rebase takes no path it cannot classify as the image's, so where the two sides differ there it records a conflict that keeps both`,
      );
    }
    return facts;
  }

  /** Resolves the conflict at `path` by keeping one side's version. */
  resolve(path: string, keep: Side): Promise<void> {
    return this.#exclusive(() => this.#resolve(validatePath(path), keep));
  }

  async #cycle(full: boolean): Promise<CycleReport> {
    const { local, remote } = this.#o;
    if (this.#state === 'paused') throw new UserError(`sync ${this.#o.name} is paused`);
    const halted = isHalted(this.#state) ? this.#state : undefined;
    this.#setState(halted ?? 'scanning');
    const fullScan = full || this.#needFull;
    this.#dirty = false;
    const pending = fullScan ? undefined : this.#pending;
    let [localScan, remoteScan] = await this.#scanBoth(fullScan);
    this.#needFull = false;
    const scans: ScanResult[] = [localScan, remoteScan];
    let { result, problems, dirty } = this.#reconcileScans({
      localScan,
      remoteScan,
      scans,
      pending,
    });

    // A halt is sticky: only resume or reset lift it. Otherwise a container that writes one
    // file into its emptied root would make the next cycle propagate the emptying.
    const sticky = isHalted(this.#state) ? haltReasonOf(this.#state) : undefined;

    // The deletion hold. A deletion is propagated only after a rescan `deletionHoldMs` later finds
    // no new deletions; while they keep coming (an `rm -rf` or a cleanup loop under way, a
    // container's root being emptied file by file), the cycle keeps waiting, up to
    // MAX_DELETION_HOLDS rounds. The ancestor does not move meanwhile, so when the side ends up
    // emptied the safety check below compares it with everything that was synced and halts
    // before a single deletion crosses over. Without the hold, each cycle would propagate the few
    // files gone so far (each a synced deletion, well under the bound), the ancestor would shrink
    // with the side, and the emptied-root halt would never fire. The rescans are incremental; the
    // paths they report changed join the cycle's dirty set.
    const holdMs = this.#o.deletionHoldMs ?? DEFAULT_DELETION_HOLD_MS;
    let held = deletionKeys(result);
    for (let round = 0; sticky === undefined && holdMs > 0 && held.size > 0; round++) {
      if (round === MAX_DELETION_HOLDS) break;
      await this.#o.clock.sleep(holdMs);
      [localScan, remoteScan] = await this.#scanBoth(false);
      scans.push(localScan, remoteScan);
      ({ result, problems, dirty } = this.#reconcileScans({
        localScan,
        remoteScan,
        scans,
        pending,
      }));
      const next = deletionKeys(result);
      if (![...next].some((key) => !held.has(key))) break;
      held = next;
    }
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

    this.#cycleFiles = 0;
    this.#cycleBytes = 0;
    this.#progress = { files: 0, bytes: 0, doneFiles: 0, doneBytes: 0 };
    const [toLocal, toRemote] = await Promise.all([
      this.#planContent(result.localChanges, { from: remote, to: local }),
      this.#planContent(remoteChanges, { from: local, to: remote }),
    ]);
    this.#setState(this.#progress.files > 0 ? 'transferring' : 'applying');
    const [appliedLocal, appliedRemote] = await Promise.all([
      result.localChanges.length > 0 ? local.apply(result.localChanges, toLocal) : NOTHING_APPLIED,
      remoteChanges.length > 0 ? remote.apply(remoteChanges, toRemote) : NOTHING_APPLIED,
    ]);
    problems.push(
      ...onSide(appliedLocal.problems, 'local'),
      ...onSide(appliedRemote.problems, 'remote'),
    );
    await this.#recordAncestor([...appliedLocal.applied, ...appliedRemote.applied]);
    await this.#blockUnlanded(localKept, appliedRemote);

    this.#pending = unsettled({
      paths: dirty,
      snapshots: [this.#ancestor, localScan.snapshot, remoteScan.snapshot],
      problems,
    });
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
   * Reconciles the latest scans against the ancestor. The problems are the latest scans', each
   * with its side; the dirty paths are those still pending from the previous cycle plus every
   * path any of this cycle's scans reported changed, or, after a full scan (or a side that could
   * not say what changed), every path at which the three snapshots disagree.
   */
  #reconcileScans(options: {
    localScan: ScanResult;
    remoteScan: ScanResult;
    scans: readonly ScanResult[];
    pending: ReadonlySet<string> | undefined;
  }): { result: ReconcileResult; problems: Problem[]; dirty: Set<string> } {
    const { localScan, remoteScan, scans, pending } = options;
    const problems: Problem[] = [
      ...onSide(localScan.problems, 'local'),
      ...onSide(remoteScan.problems, 'remote'),
    ];
    // A full scan is also a full reconcile, the net under the change bookkeeping: every path is
    // compared once (three lookups each), and reconcile walks only the paths that disagree,
    // which gives the full walk's result (see reconcile's `dirty`). At 100,000 unchanged paths
    // the full walk cost a second of every restart and every flush.
    const snapshots = [this.#ancestor, localScan.snapshot, remoteScan.snapshot] as const;
    const dirty =
      (pending === undefined ? undefined : dirtyPaths(pending, scans, problems)) ??
      unsettled({ paths: keysOf(snapshots), snapshots, problems });
    const result = reconcile({
      ancestor: this.#ancestor,
      local: localScan.snapshot,
      remote: remoteScan.snapshot,
      dirty,
      mode: this.#o.mode,
      problemPaths: new Set(problems.map((p) => p.path)),
      blockedPaths: new Set(
        [...this.#conflicts.values()].filter((c) => c.state === 'blocked').map((c) => c.path),
      ),
    });
    return { result, problems, dirty };
  }

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
    // These scans move both sides' change sets on; only a cycle that reconciles what they report
    // knows what is pending again.
    this.#pending = undefined;
    const [localScan, remoteScan] = await Promise.all([
      local.scan({ full }),
      // After a restart the remote most likely still holds the ancestor: the agent then sends
      // only where it differs instead of the whole snapshot.
      remote.scan({
        full,
        ...(rules === undefined ? {} : { ignore: rules }),
        ...(full ? { expected: this.#ancestor } : {}),
      }),
    ]);
    const next = localScan.ignore;
    if (next === undefined || (rules !== undefined && samePatterns(next, rules))) {
      this.#setSnapshots(localScan, remoteScan);
      return [localScan, remoteScan];
    }
    this.#ignore = next;
    const dropped = ignoredPaths(this.#ancestor, createIgnoreMatcher(next));
    await this.#recordAncestor(dropped.map((path) => ({ path, old: undefined, new: undefined })));
    // Never a full scan: the scan just before was full if this cycle asked for one, and the
    // endpoint rescans everything itself when its rules change, and only what is dirty when they
    // do not (the first cycle, when the remote opened with the same rules: at 100,000 files a
    // second full scan cost a second of every start). The first remote scan's changes are lost
    // with it, so this remote result counts as unknown.
    const rescan = await remote.scan({ full: false, ignore: next });
    const rescanned: ScanResult = { snapshot: rescan.snapshot, problems: rescan.problems };
    this.#setSnapshots(localScan, rescanned);
    return [localScan, rescanned];
  }

  /**
   * Plans the content that travels with an apply to `to`: for each new content (first change
   * that needs it), small files always (asking first would cost a round trip more than sending
   * them, so a small edit is one `apply`), larger ones only when `to` cannot find them in its own
   * root (renames, copies and branch switches move no bytes). The stream comes from `from`, with
   * its progress counted as it flows. Undefined when nothing needs to move.
   */
  async #planContent(
    changes: readonly Change[],
    { from, to }: { from: Endpoint; to: Endpoint },
  ): Promise<ApplyContent | undefined> {
    const first = new Map<string, number>();
    changes.forEach((c, i) => {
      if (c.new?.kind !== 'file' || first.has(c.new.digest)) return;
      // A change of the executable bit alone is a chmod: no content.
      if (c.old?.kind === 'file' && c.old.digest === c.new.digest) return;
      first.set(c.new.digest, i);
    });
    const large = [...first].filter(([, i]) => fileOf(changes[i]).size > INLINE_CONTENT_BYTES);
    const missing = new Set(
      large.length > 0 ? await to.missingContent(large.map(([digest]) => digest)) : [],
    );
    const indexes = [...first]
      .filter(
        ([digest, i]) => fileOf(changes[i]).size <= INLINE_CONTENT_BYTES || missing.has(digest),
      )
      .map(([, i]) => i)
      .sort((a, b) => a - b);
    if (indexes.length === 0) return undefined;
    const bases = await readBases(
      indexes.map((i) => changes[i] as Change),
      to,
    );
    const files: ContentRequest[] = indexes.map((i, k) => {
      const change = changes[i] as Change;
      const { digest, size } = fileOf(change);
      const base = bases[k];
      return { path: change.path, digest, size, ...(base === undefined ? {} : { base }) };
    });
    for (const file of files) {
      this.#progress.files++;
      this.#progress.bytes += file.size;
    }
    return { indexes, stream: this.#counted(from.readContents(files), files) };
  }

  /**
   * Passes a content stream through, counting its files and bytes into the progress (for a
   * block delta, its instruction bytes).
   */
  async *#counted(
    stream: AsyncIterable<Uint8Array>,
    files: readonly ContentRequest[],
  ): AsyncGenerator<Uint8Array> {
    const meter = new ContentStreamMeter(files.map((f) => f.size));
    for await (const chunk of stream) {
      const done = meter.feed(chunk);
      this.#progress.doneBytes += done.covered;
      this.#progress.doneFiles += done.present + done.missing;
      this.#cycleFiles += done.present;
      this.#transferredFiles += done.present;
      this.#cycleBytes += done.bytes;
      this.#transferredBytes += done.bytes;
      const now = this.#o.clock.now();
      const moved = done.bytes > 0 || done.present + done.missing > 0;
      if (moved && now - this.#progressSentAt >= 250) {
        this.#progressSentAt = now;
        this.#o.onStatus?.(this.status());
      }
      yield chunk;
    }
    this.#o.onStatus?.(this.status());
  }

  /**
   * A local-wins conflict whose overwrite of the remote did not land at all (the remote could not
   * take it: a directory holding content that is not synced, say) touched nothing, so nothing
   * was overwritten: it becomes a blocked conflict, which moves nothing until it is resolved,
   * instead of being decided (and failing) again every cycle. It keeps the copy of the remote
   * version saved before the overwrite was tried: the remote still holds that version in place,
   * but a container's files die with its pod, and the saved copy outlives it.
   */
  async #blockUnlanded(records: readonly Conflict[], remote: ApplyResult): Promise<void> {
    for (const record of records) {
      const within = (c: { path: string }): boolean => isWithin(c.path, record.path);
      if (!remote.problems.some(within) || remote.applied.some(within)) continue;
      const blocked: Conflict = { ...record, state: 'blocked' };
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
    await this.#scanBoth(this.#needFull);
    this.#needFull = false;
    const conflict = [...this.#conflicts.values()].find((c) => c.path === path);
    if (conflict === undefined) {
      throw new UserError(`sync ${this.#o.name} has no conflict at ${JSON.stringify(path)}`);
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
    const ordered = orderChanges(changes);
    const saved = new Map(kept.map((k) => [k.path, k.entry]));
    const indexes = ordered.flatMap((c, i) =>
      saved.has(c.path) && c.new?.kind === 'file' ? [i] : [],
    );
    const conflictContent = this.#o.conflictContent;
    async function* stream(): AsyncGenerator<Uint8Array> {
      for (const i of indexes) {
        yield* singleContent(conflictContent.read(conflict.id, (ordered[i] as Change).path));
      }
    }
    const result = await this.#o.local.apply(ordered, { indexes, stream: stream() });
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
    // In place: the session owns this map, and a copy per cycle would cost O(tree).
    for (const change of ordered) {
      if (change.new === undefined) this.#ancestor.delete(change.path);
      else this.#ancestor.set(change.path, change.new);
    }
    const updates: AncestorUpdate[] = ordered.map((c) => ({ path: c.path, entry: c.new }));
    await this.#o.store.updateAncestor(updates);
  }

  /** Keeps the latest scans, and the local tallies for status (from its changes when known). */
  #setSnapshots(local: ScanResult, remote: ScanResult): void {
    this.#lastLocal = local.snapshot;
    this.#lastRemote = remote.snapshot;
    this.#summary =
      local.changes === undefined
        ? summarizeSnapshot(local.snapshot)
        : updateSummary(this.#summary, local.changes, local.snapshot);
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

/** The default deletion hold: long enough for a scripted `rm` to finish between two scans. */
const DEFAULT_DELETION_HOLD_MS = 2000;
/** At most this many holds in one cycle, so a side that never stops deleting still syncs. */
const MAX_DELETION_HOLDS = 15;

/** The deletions a reconcile result would make, as `side:path` keys. */
function deletionKeys(result: ReconcileResult): Set<string> {
  const keys = new Set<string>();
  for (const [side, changes] of [
    ['local', result.localChanges],
    ['remote', result.remoteChanges],
  ] as const) {
    for (const c of changes)
      if (c.old !== undefined && c.new === undefined) keys.add(`${side}:${c.path}`);
  }
  return keys;
}

const NOTHING_APPLIED = { applied: [], problems: [] };

/**
 * The paths the next reconcile must look at: those still pending from the previous cycle, those
 * either side's scan reports changed since, and those with a scan problem now. Undefined (look at
 * everything) when a side could not say what changed.
 */
function dirtyPaths(
  pending: ReadonlySet<string>,
  scans: readonly ScanResult[],
  problems: readonly Problem[],
): Set<string> | undefined {
  const dirty = new Set(pending);
  for (const scan of scans) {
    if (scan.changes === undefined) return undefined;
    for (const path of scan.changes.keys()) dirty.add(path);
  }
  for (const problem of problems) dirty.add(problem.path);
  return dirty;
}

/**
 * Of `paths`, those at which the three snapshots (ancestor, local, remote) do not all agree,
 * plus the problem paths: what stays pending after a cycle. Every path outside `paths` agreed
 * before the cycle and the cycle changed nothing there, so it still agrees.
 */
function unsettled(options: {
  paths: Iterable<string>;
  snapshots: readonly [Snapshot, Snapshot, Snapshot];
  problems: readonly Problem[];
}): Set<string> {
  const [a, l, r] = options.snapshots;
  const out = new Set<string>();
  for (const path of options.paths) {
    const entry = a.get(path);
    if (!entriesEqual(entry, l.get(path)) || !entriesEqual(entry, r.get(path))) out.add(path);
  }
  for (const problem of options.problems) out.add(problem.path);
  return out;
}

/** Every key of every snapshot (a key in several of them comes once per snapshot). */
function* keysOf(snapshots: readonly Snapshot[]): Generator<string> {
  for (const snapshot of snapshots) yield* snapshot.keys();
}

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

/** The new file entry of a change the caller knows creates a file. */
function fileOf(change: Change | undefined): FileEntry {
  if (change?.new?.kind !== 'file') throw new InternalError('expected a change to a file');
  return change.new;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * The receiver's signatures of the files that `changes` (each carrying content) update in place,
 * for block deltas: for each change, a signature when it replaces a file that `to` signed
 * (large enough, and still holding the `old` content), else undefined. The apply on `to` checks
 * again that the file holds `old` before it rebuilds from it, and the digest of the result.
 */
async function readBases(
  changes: readonly Change[],
  to: Endpoint,
): Promise<(string | undefined)[]> {
  const bases: (string | undefined)[] = changes.map(() => undefined);
  if (to.readSignatures === undefined) return bases;
  const asked: number[] = [];
  changes.forEach((change, k) => {
    const { old } = change;
    if (old?.kind !== 'file' || fileOf(change).size < DELTA_MIN_BYTES) return;
    if (planBlockSize(old.size) !== undefined) asked.push(k);
  });
  if (asked.length === 0) return bases;
  const signatures = await to.readSignatures(
    asked.map((k) => {
      const change = changes[k] as Change;
      const old = change.old as FileEntry;
      return { path: change.path, digest: old.digest, size: old.size };
    }),
  );
  asked.forEach((k, j) => {
    bases[k] = signatures[j];
  });
  return bases;
}
