/**
 * Property tests for reconcile over random two-sided histories: starting from a synced tree, each
 * round edits both sides at random, reconciles, and applies the result as if every change landed.
 * Checked every round, in every mode:
 * - no edit is lost: a file version that the ancestor does not hold is, after the round, still at
 *   its path on its side or listed in a conflict's `keep` (saved before it is overwritten);
 * - every snapshot stays valid;
 * and at the end of each history, after a round with no new edits: the two-way modes converge
 * (both sides and the ancestor equal, except blocked subtrees in two-way-safe), and
 * one-way-replica makes the remote equal to local.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import { DIRECTORY, entriesEqual, type Entry } from './entry.ts';
import type { SyncMode } from './mode.ts';
import { ROOT, isWithin, parentPath } from './path.ts';
import { applyChanges, reconcile, updatesAsChanges } from './reconcile.ts';
import { validateSnapshot, type Snapshot } from './snapshot.ts';
import { snapshotOf } from './test-snapshots.ts';

/** Small path universe so that edits collide often. */
const PATHS = ['a', 'b', 'a/c', 'a/d', 'b/c', 'a/c/e'];

type Edit =
  | { op: 'file'; path: string; digest: string; executable: boolean }
  | { op: 'dir'; path: string }
  | { op: 'link'; path: string; target: string }
  | { op: 'delete'; path: string };

const editArb: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({
    op: fc.constant('file' as const),
    path: fc.constantFrom(...PATHS),
    digest: fc.constantFrom('1', '2', '3'),
    executable: fc.boolean(),
  }),
  fc.record({ op: fc.constant('dir' as const), path: fc.constantFrom(...PATHS) }),
  fc.record({
    op: fc.constant('link' as const),
    path: fc.constantFrom(...PATHS),
    target: fc.constantFrom('a', 'b'),
  }),
  fc.record({ op: fc.constant('delete' as const), path: fc.constantFrom(...PATHS) }),
);

/** Applies an edit the way a user's filesystem would: parents become directories as needed. */
function edit(snapshot: Snapshot, e: Edit): Map<string, Entry> {
  const next = new Map(snapshot);
  const removeSubtree = (path: string): void => {
    for (const p of [...next.keys()]) if (isWithin(p, path)) next.delete(p);
  };
  if (e.op === 'delete') {
    removeSubtree(e.path);
    return next;
  }
  const parents: string[] = [];
  for (let p = parentPath(e.path); p !== ROOT; p = parentPath(p)) parents.unshift(p);
  for (const p of parents) {
    if (next.get(p)?.kind !== 'directory') {
      removeSubtree(p);
      next.set(p, DIRECTORY);
    }
  }
  if (e.op === 'dir') {
    if (next.get(e.path)?.kind !== 'directory') {
      removeSubtree(e.path);
      next.set(e.path, DIRECTORY);
    }
    return next;
  }
  removeSubtree(e.path);
  next.set(
    e.path,
    e.op === 'file'
      ? { kind: 'file', digest: e.digest, executable: e.executable, size: 1 }
      : { kind: 'symlink', target: e.target },
  );
  return next;
}

interface Round {
  localEdits: Edit[];
  remoteEdits: Edit[];
}

const historyArb = fc.record({
  mode: fc.constantFrom<SyncMode>('two-way', 'two-way-safe', 'one-way', 'one-way-replica'),
  start: fc.array(editArb, { maxLength: 6 }),
  rounds: fc.array(
    fc.record({
      localEdits: fc.array(editArb, { maxLength: 3 }),
      remoteEdits: fc.array(editArb, { maxLength: 3 }),
    }),
    { minLength: 1, maxLength: 5 },
  ),
});

/** Asserts the no-loss rule for one side across one round. */
function assertNothingLost(options: {
  side: 'local' | 'remote';
  before: Snapshot;
  after: Snapshot;
  ancestor: Snapshot;
  kept: ReadonlySet<string>;
}): void {
  for (const [path, entry] of options.before) {
    if (entry.kind !== 'file' || entriesEqual(entry, options.ancestor.get(path))) continue;
    const stillThere = entriesEqual(options.after.get(path), entry);
    const saved = options.side === 'remote' && options.kept.has(`${path}@${entry.digest}`);
    assert.ok(
      stillThere || saved,
      `${options.side} edit of ${path} (${entry.digest}) was lost without being kept`,
    );
  }
}

function runRound(
  mode: SyncMode,
  state: { ancestor: Snapshot; local: Snapshot; remote: Snapshot },
): { ancestor: Snapshot; local: Snapshot; remote: Snapshot; blocked: string[] } {
  const result = reconcile({ ...state, mode });
  const kept = new Set(
    result.conflicts.flatMap((c) => c.keep.map((k) => `${k.path}@${k.entry.digest}`)),
  );
  const local = applyChanges(state.local, result.localChanges);
  const remote = applyChanges(state.remote, result.remoteChanges);
  const ancestor = applyChanges(state.ancestor, [
    ...updatesAsChanges(result.ancestorUpdates),
    ...result.localChanges,
    ...result.remoteChanges,
  ]);
  validateSnapshot(local);
  validateSnapshot(remote);
  validateSnapshot(ancestor);
  assertNothingLost({
    side: 'local',
    before: state.local,
    after: local,
    ancestor: state.ancestor,
    kept,
  });
  assertNothingLost({
    side: 'remote',
    before: state.remote,
    after: remote,
    ancestor: state.ancestor,
    kept,
  });
  return {
    ancestor,
    local,
    remote,
    blocked: result.conflicts.filter((c) => c.state === 'blocked').map((c) => c.path),
  };
}

it('in 10,000 random two-sided histories no edit is lost, and syncing converges', () => {
  fc.assert(
    fc.property(historyArb, ({ mode, start, rounds }) => {
      let tree: Snapshot = snapshotOf({});
      for (const e of start) tree = edit(tree, e);
      let state = { ancestor: tree, local: tree, remote: tree };
      for (const round of rounds as Round[]) {
        let local: Snapshot = state.local;
        let remote: Snapshot = state.remote;
        for (const e of round.localEdits) local = edit(local, e);
        for (const e of round.remoteEdits) remote = edit(remote, e);
        state = runRound(mode, { ancestor: state.ancestor, local, remote });
      }
      // A quiet round settles whatever the last one left (a restored directory's contents).
      const settled = runRound(mode, state);
      const outside = (path: string): boolean => !settled.blocked.some((b) => isWithin(path, b));
      const pick = (s: Snapshot): Map<string, Entry> => new Map([...s].filter(([p]) => outside(p)));
      if (mode === 'two-way' || mode === 'two-way-safe') {
        assert.deepEqual(pick(settled.local), pick(settled.remote));
        assert.deepEqual(pick(settled.ancestor), pick(settled.local));
      } else if (mode === 'one-way-replica') {
        assert.deepEqual(settled.remote, settled.local);
      }
      // And a further quiet round has nothing left to do.
      const again = reconcile({ ...settled, mode });
      assert.equal(again.localChanges.length + again.remoteChanges.length, 0);
    }),
    { numRuns: 10_000 },
  );
});

it('reconciling any tree against itself changes nothing', () => {
  fc.assert(
    fc.property(fc.array(editArb, { maxLength: 10 }), (edits) => {
      let tree: Snapshot = snapshotOf({});
      for (const e of edits) tree = edit(tree, e);
      const result = reconcile({ ancestor: tree, local: tree, remote: tree, mode: 'two-way' });
      assert.equal(result.localChanges.length + result.remoteChanges.length, 0);
      assert.equal(result.ancestorUpdates.length + result.conflicts.length, 0);
    }),
    { numRuns: 2_000 },
  );
});

/** Every path at which the three snapshots do not all agree. */
function disagreements(snapshots: readonly Snapshot[]): Set<string> {
  const out = new Set<string>();
  for (const snapshot of snapshots) {
    for (const path of snapshot.keys()) {
      const [first, ...rest] = snapshots.map((s) => s.get(path));
      if (!rest.every((e) => entriesEqual(e, first))) out.add(path);
    }
  }
  return out;
}

it('reconciling only the dirty paths gives the same result as the full walk', () => {
  fc.assert(
    fc.property(
      fc.record({
        mode: fc.constantFrom<SyncMode>('two-way', 'two-way-safe', 'one-way', 'one-way-replica'),
        start: fc.array(editArb, { maxLength: 6 }),
        ancestorEdits: fc.array(editArb, { maxLength: 2 }),
        localEdits: fc.array(editArb, { maxLength: 3 }),
        remoteEdits: fc.array(editArb, { maxLength: 3 }),
        extra: fc.subarray(PATHS),
        problems: fc.subarray(PATHS, { maxLength: 1 }),
        blocked: fc.subarray(PATHS, { maxLength: 1 }),
      }),
      (h) => {
        let tree: Snapshot = snapshotOf({});
        for (const e of h.start) tree = edit(tree, e);
        let ancestor = tree;
        let local = tree;
        let remote = tree;
        for (const e of h.ancestorEdits) ancestor = edit(ancestor, e);
        for (const e of h.localEdits) local = edit(local, e);
        for (const e of h.remoteEdits) remote = edit(remote, e);
        const input = {
          ancestor,
          local,
          remote,
          mode: h.mode,
          problemPaths: new Set(h.problems),
          blockedPaths: new Set(h.blocked),
        };
        const dirty = new Set([...disagreements([ancestor, local, remote]), ...h.extra]);
        assert.deepEqual(reconcile({ ...input, dirty }), reconcile(input));
      },
    ),
    { numRuns: 10_000 },
  );
});
