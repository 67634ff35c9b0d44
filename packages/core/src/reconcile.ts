/**
 * Three-way reconcile: compares each side with the ancestor (the last state both sides agreed on)
 * and decides, per path, what to propagate, what simply to record as agreed, and what is a
 * conflict. Pure: it reads three snapshots and returns plain data.
 *
 * The walk is a pre-order over the union of paths. At each path P it compares the two sides
 * shallowly (the entries at P only):
 *
 * - Agreement (same entry on both sides, or absent on both): nothing moves. If the ancestor says
 *   otherwise, the ancestor is updated at once, because both sides demonstrably hold this state
 *   ("both modified the same way" is not a conflict). For directories the walk goes on below.
 * - Disagreement: the decision covers the whole subtree at P, using per-side subtree diffs against
 *   the ancestor. A side whose subtree equals the ancestor's is "unchanged"; the other side's
 *   subtree is then propagated to it (classic three-way). When both changed and one side's
 *   changes are deletions only, the other side wins: a deletion never beats a modification, and
 *   the entries it overwrites on the deleting side equal the ancestor, so they were synced. When
 *   both changed in other ways it is a true conflict, settled by the mode.
 *
 * Nothing lost: a change may overwrite or remove an entry only when the ancestor proves that
 * entry was synced, or when the overwritten version is listed in `keep` of a conflict so the
 * controller saves it first. `reconcile.test.ts` checks this as a property over random histories.
 *
 * Paths with scan problems on either side are unknown, not absent: they and their subtrees get
 * no changes and no ancestor updates, and count as unchanged in the subtree diffs.
 *
 * Dirty paths: a caller that knows every path at which the three snapshots may disagree passes
 * them as `dirty`, and reconcile then looks only at those paths and their ancestors, in time
 * proportional to them rather than to the tree. The result is the same as the full walk's, for
 * this reason: a path where all three agree produces no change and no ancestor update; and it
 * never lies inside a disagreement's subtree, because agreeing at P means P exists on both sides
 * with its parents, so every ancestor of P is a directory on both sides, and two directories
 * agree. Nor does it change a subtree diff, which only records disagreements with the ancestor.
 * `reconcile.property.test.ts` checks the equality over random histories.
 */
import type { Change } from './change.ts';
import { entriesEqual, type Entry, type FileEntry } from './entry.ts';
import type { SyncMode } from './mode.ts';
import { ROOT, comparePaths, parentPath, pathDepth } from './path.ts';
import type { Snapshot } from './snapshot.ts';
import type { AncestorUpdate, ConflictState } from './store.ts';

/** Inputs of one reconcile. */
export interface ReconcileInput {
  readonly ancestor: Snapshot;
  readonly local: Snapshot;
  readonly remote: Snapshot;
  readonly mode: SyncMode;
  /** Paths that either side could not scan; they and their subtrees are left untouched. */
  readonly problemPaths?: ReadonlySet<string>;
  /**
   * Paths of recorded blocked conflicts. A disagreement rooted at one of them stays blocked in
   * every mode until it is resolved (or the sides agree by themselves): it moves nothing.
   */
  readonly blockedPaths?: ReadonlySet<string>;
  /**
   * When given, the paths outside which ancestor, local and remote agree at every path (see the
   * module comment): only these and their ancestors are looked at. Absent: every path is.
   */
  readonly dirty?: Iterable<string>;
}

/** A conflict found by reconcile. `path` is the root of the disagreeing subtree. */
export interface ReconcileConflict {
  readonly path: string;
  readonly ancestor: Entry | undefined;
  readonly local: Entry | undefined;
  readonly remote: Entry | undefined;
  readonly state: ConflictState;
  /**
   * Remote files that the remote changes overwrite or remove although the ancestor does not prove
   * them synced. The controller saves their content before applying anything. A blocked conflict
   * changes nothing at its path, but lists the same files: a container's files die with its pod,
   * and the saved copies outlive it.
   */
  readonly keep: readonly { readonly path: string; readonly entry: FileEntry }[];
}

/** What to do, as plain data. Changes are ordered for `Endpoint.apply` (see `orderChanges`). */
export interface ReconcileResult {
  /** Agreements to record right away (both sides already hold these states). */
  readonly ancestorUpdates: readonly AncestorUpdate[];
  /** Changes to apply to the local side. */
  readonly localChanges: readonly Change[];
  /** Changes to apply to the remote side. */
  readonly remoteChanges: readonly Change[];
  readonly conflicts: readonly ReconcileConflict[];
}

/** Reconciles local and remote against the ancestor under `mode`. */
export function reconcile(input: ReconcileInput): ReconcileResult {
  const { mode } = input;
  const [ancestor, local, remote] =
    input.dirty === undefined
      ? [input.ancestor, input.local, input.remote]
      : restrictTo(input.dirty, [input.ancestor, input.local, input.remote]);
  const problems = input.problemPaths ?? new Set<string>();
  const children = indexChildren([ancestor, local, remote]);
  const isProblem = (path: string): boolean => {
    for (let p = path; ; p = parentPath(p)) {
      if (problems.has(p)) return true;
      if (p === ROOT) return false;
    }
  };
  const localDiff = diffSubtrees(ancestor, local, isProblem);
  const remoteDiff = diffSubtrees(ancestor, remote, isProblem);

  const ancestorUpdates: AncestorUpdate[] = [];
  const localChanges: Change[] = [];
  const remoteChanges: Change[] = [];
  const conflicts: ReconcileConflict[] = [];

  /** Every path at or below `path` present in any of the three snapshots, in pre-order. */
  const subtreePaths = (path: string): string[] => {
    const out: string[] = [];
    const walk = (p: string): void => {
      out.push(p);
      for (const child of children.get(p) ?? []) walk(child);
    };
    walk(path);
    return out;
  };

  /**
   * Makes side `to` hold side `from`'s subtree at `path`. Entries that already agree only update
   * the ancestor; the rest become changes whose `old` is what `to`'s scan saw.
   */
  const propagate = (path: string, from: Snapshot, to: Snapshot, changes: Change[]): void => {
    for (const p of subtreePaths(path)) {
      if (isProblem(p)) continue;
      const want = from.get(p);
      const have = to.get(p);
      if (entriesEqual(want, have)) {
        if (!entriesEqual(ancestor.get(p), want)) ancestorUpdates.push({ path: p, entry: want });
      } else {
        changes.push({ path: p, old: have, new: want });
      }
    }
  };

  /**
   * Remote files in the subtree that a local-wins propagation would overwrite or remove while the
   * ancestor does not hold that exact version.
   */
  const unsyncedRemoteFiles = (path: string): ReconcileConflict['keep'] => {
    const keep: { path: string; entry: FileEntry }[] = [];
    for (const p of subtreePaths(path)) {
      const r = remote.get(p);
      if (r?.kind !== 'file' || isProblem(p)) continue;
      if (entriesEqual(r, local.get(p)) || entriesEqual(r, ancestor.get(p))) continue;
      keep.push({ path: p, entry: r });
    }
    return keep;
  };

  /** Local wins; the remote's unsynced versions are kept. Records a conflict only if any exist. */
  const overwriteRemote = (path: string, alwaysReport: boolean): void => {
    const keep = unsyncedRemoteFiles(path);
    if (keep.length > 0 || alwaysReport) conflicts.push(conflictAt(path, 'local-kept', keep));
    propagate(path, local, remote, remoteChanges);
  };

  const conflictAt = (
    path: string,
    state: ConflictState,
    keep: ReconcileConflict['keep'],
  ): ReconcileConflict => ({
    path,
    ancestor: ancestor.get(path),
    local: local.get(path),
    remote: remote.get(path),
    state,
    keep,
  });

  /** Decides a shallow disagreement at `path` for the whole subtree. */
  const disagree = (path: string): void => {
    const l = localDiff.get(path);
    const r = remoteDiff.get(path);
    // At least one side changed: if neither did, both would equal the ancestor here and agree.
    if (input.blockedPaths?.has(path) === true) {
      conflicts.push(conflictAt(path, 'blocked', unsyncedRemoteFiles(path)));
      return;
    }
    if (mode === 'one-way-replica') {
      overwriteRemote(path, false);
      return;
    }
    if (r === undefined) {
      propagate(path, local, remote, remoteChanges);
      return;
    }
    if (mode === 'one-way') {
      // Remote changes never come back. Remote deletions of content local still has are undone
      // (re-creating loses nothing); remote creations and modifications stay where they are.
      if (r === 'deletions') propagate(path, local, remote, remoteChanges);
      else if (l !== undefined && l !== 'deletions') overwriteRemote(path, true);
      return;
    }
    if (l === undefined) {
      propagate(path, remote, local, localChanges);
      return;
    }
    if (l === 'deletions' && r === 'deletions') {
      // Both only deleted, and they disagree at this path, so one side deleted the path itself
      // (two present directories would have agreed). That side wins: every entry the deletion
      // removes on the other side equals the ancestor.
      if (local.get(path) === undefined) propagate(path, local, remote, remoteChanges);
      else propagate(path, remote, local, localChanges);
      return;
    }
    if (l === 'deletions') {
      propagate(path, remote, local, localChanges);
      return;
    }
    if (r === 'deletions') {
      propagate(path, local, remote, remoteChanges);
      return;
    }
    if (mode === 'two-way-safe')
      conflicts.push(conflictAt(path, 'blocked', unsyncedRemoteFiles(path)));
    else overwriteRemote(path, true);
  };

  const walk = (path: string): void => {
    if (isProblem(path)) return;
    const l = local.get(path);
    const r = remote.get(path);
    if (!entriesEqual(l, r)) {
      disagree(path);
      return;
    }
    if (!entriesEqual(ancestor.get(path), l)) ancestorUpdates.push({ path, entry: l });
    for (const child of children.get(path) ?? []) walk(child);
  };
  walk(ROOT);

  return {
    ancestorUpdates: orderUpdates(ancestorUpdates),
    localChanges: orderChanges(localChanges),
    remoteChanges: orderChanges(remoteChanges),
    conflicts,
  };
}

/**
 * The snapshots cut down to the dirty paths and their ancestors. Each stays a valid snapshot: an
 * entry's parent is one of its ancestors, which are kept too.
 */
function restrictTo(
  dirty: Iterable<string>,
  snapshots: readonly [Snapshot, Snapshot, Snapshot],
): [Snapshot, Snapshot, Snapshot] {
  const keep = new Set<string>();
  for (const path of dirty) {
    for (let p = path; !keep.has(p); p = parentPath(p)) {
      keep.add(p);
      if (p === ROOT) break;
    }
  }
  const cut = (snapshot: Snapshot): Snapshot => {
    const kept = new Map<string, Entry>();
    for (const path of keep) {
      const entry = snapshot.get(path);
      if (entry !== undefined) kept.set(path, entry);
    }
    return kept;
  };
  return [cut(snapshots[0]), cut(snapshots[1]), cut(snapshots[2])];
}

/** How a side's subtree differs from the ancestor's: only by deletions, or by anything else. */
type SubtreeDiff = 'deletions' | 'other';

/**
 * For every path whose subtree differs between `ancestor` and `side`, whether the differences
 * are deletions only. Paths absent from the map have identical subtrees. Problem paths count as
 * unchanged.
 */
function diffSubtrees(
  ancestor: Snapshot,
  side: Snapshot,
  isProblem: (path: string) => boolean,
): Map<string, SubtreeDiff> {
  const diff = new Map<string, SubtreeDiff>();
  const mark = (path: string, kind: SubtreeDiff): void => {
    for (let p = path; ; p = parentPath(p)) {
      const seen = diff.get(p);
      if (seen === 'other' || seen === kind) break;
      diff.set(p, kind);
      if (p === ROOT) break;
    }
  };
  for (const [path, a] of ancestor) {
    if (isProblem(path)) continue;
    const s = side.get(path);
    if (s === undefined) mark(path, 'deletions');
    else if (!entriesEqual(a, s)) mark(path, 'other');
  }
  for (const path of side.keys()) {
    if (!ancestor.has(path) && !isProblem(path)) mark(path, 'other');
  }
  return diff;
}

/** Child paths of every directory path found in any of the snapshots, each list sorted. */
function indexChildren(snapshots: readonly Snapshot[]): Map<string, string[]> {
  const sets = new Map<string, Set<string>>();
  for (const snapshot of snapshots) {
    for (const path of snapshot.keys()) {
      if (path === ROOT) continue;
      const parent = parentPath(path);
      let set = sets.get(parent);
      if (set === undefined) sets.set(parent, (set = new Set()));
      set.add(path);
    }
  }
  const index = new Map<string, string[]>();
  for (const [parent, set] of sets) index.set(parent, [...set].sort(comparePaths));
  return index;
}

/**
 * Orders changes for `Endpoint.apply`: first every pure removal, deepest first, so a directory is
 * empty of known content before it goes; then creations, updates and type changes in pre-order,
 * so a parent exists before its children. A type change from a directory comes after its
 * children's removals (all in the first phase), so the directory is empty by then.
 */
export function orderChanges(changes: readonly Change[]): Change[] {
  const removals = changes.filter((c) => c.new === undefined);
  const others = changes.filter((c) => c.new !== undefined);
  removals.sort((a, b) => pathDepth(b.path) - pathDepth(a.path) || comparePaths(b.path, a.path));
  others.sort((a, b) => comparePaths(a.path, b.path));
  return [...removals, ...others];
}

/**
 * Orders ancestor updates so that applying them in turn keeps the ancestor a valid snapshot:
 * removals deepest first, then additions parents first.
 */
function orderUpdates(updates: AncestorUpdate[]): AncestorUpdate[] {
  return orderChanges(updates.map((u) => ({ path: u.path, old: undefined, new: u.entry }))).map(
    (c) => ({ path: c.path, entry: c.new }),
  );
}

/**
 * Applies changes to a snapshot, returning a new one. Used to compute what a side looks like
 * after a transition, and the next ancestor from the changes that landed.
 */
export function applyChanges(
  snapshot: Snapshot,
  changes: readonly { readonly path: string; readonly new: Entry | undefined }[],
): Map<string, Entry> {
  const next = new Map(snapshot);
  for (const change of changes) {
    // Changes are flat and complete (a directory's removal comes with its descendants'), so
    // no subtree bookkeeping is needed here.
    if (change.new === undefined) next.delete(change.path);
    else next.set(change.path, change.new);
  }
  return next;
}

/** Turns ancestor updates into the change shape `applyChanges` takes. */
export function updatesAsChanges(updates: readonly AncestorUpdate[]): Change[] {
  return updates.map((u) => ({ path: u.path, old: undefined, new: u.entry }));
}
