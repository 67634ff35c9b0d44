import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SyncMode } from './mode.ts';
import { applyChanges, reconcile, updatesAsChanges, type ReconcileResult } from './reconcile.ts';
import { EMPTY_SNAPSHOT, validateSnapshot, type Snapshot } from './snapshot.ts';
import { describeSnapshot, snapshotOf, type SnapshotDescription } from './test-snapshots.ts';

const MODES: readonly SyncMode[] = ['two-way', 'two-way-safe', 'one-way', 'one-way-replica'];

/** What one mode must produce: both sides after applying, and the conflicts as `path:state`. */
interface Expected {
  readonly local: SnapshotDescription;
  readonly remote: SnapshotDescription;
  readonly conflicts?: readonly string[];
  /** Remote files the conflict store must receive. */
  readonly keep?: readonly string[];
}

interface Case {
  readonly name: string;
  /** Omitted: first sync (no ancestor at all). */
  readonly ancestor?: SnapshotDescription;
  readonly local: SnapshotDescription;
  readonly remote: SnapshotDescription;
  readonly problems?: readonly string[];
  /** Per mode; `all` applies to modes not listed. */
  readonly expect: Partial<Record<SyncMode | 'all', Expected>>;
}

const same = (d: SnapshotDescription): Expected => ({ local: d, remote: d });

const CASES: readonly Case[] = [
  {
    name: 'identical synced trees change nothing',
    ancestor: { a: 'x', 'd/b': 'y', l: '->a' },
    local: { a: 'x', 'd/b': 'y', l: '->a' },
    remote: { a: 'x', 'd/b': 'y', l: '->a' },
    expect: { all: same({ a: 'x', 'd/b': 'y', l: '->a' }) },
  },
  {
    name: 'local edit propagates',
    ancestor: { a: 'x' },
    local: { a: 'x2' },
    remote: { a: 'x' },
    expect: { all: same({ a: 'x2' }) },
  },
  {
    name: 'remote edit comes back in two-way modes only',
    ancestor: { a: 'x' },
    local: { a: 'x' },
    remote: { a: 'x2' },
    expect: {
      all: same({ a: 'x2' }),
      'one-way': { local: { a: 'x' }, remote: { a: 'x2' } },
      'one-way-replica': {
        local: { a: 'x' },
        remote: { a: 'x' },
        conflicts: ['a:local-kept'],
        keep: ['a'],
      },
    },
  },
  {
    name: 'creations on both sides at different paths',
    ancestor: {},
    local: { a: 'x' },
    remote: { b: 'y' },
    expect: {
      all: same({ a: 'x', b: 'y' }),
      'one-way': { local: { a: 'x' }, remote: { a: 'x', b: 'y' } },
      'one-way-replica': {
        local: { a: 'x' },
        remote: { a: 'x' },
        conflicts: ['b:local-kept'],
        keep: ['b'],
      },
    },
  },
  {
    name: 'the same creation on both sides is not a conflict',
    ancestor: {},
    local: { a: 'x' },
    remote: { a: 'x' },
    expect: { all: same({ a: 'x' }) },
  },
  {
    name: 'both edit one file differently',
    ancestor: { a: 'x' },
    local: { a: 'L' },
    remote: { a: 'R' },
    expect: {
      all: { ...same({ a: 'L' }), conflicts: ['a:local-kept'], keep: ['a'] },
      'two-way-safe': {
        local: { a: 'L' },
        remote: { a: 'R' },
        conflicts: ['a:blocked'],
        keep: ['a'],
      },
    },
  },
  {
    name: 'local deletion propagates',
    ancestor: { a: 'x', b: 'y' },
    local: { b: 'y' },
    remote: { a: 'x', b: 'y' },
    expect: { all: same({ b: 'y' }) },
  },
  {
    name: 'remote deletion: propagates in two-way modes, is undone in one-way modes',
    ancestor: { a: 'x', b: 'y' },
    local: { a: 'x', b: 'y' },
    remote: { b: 'y' },
    expect: {
      all: same({ b: 'y' }),
      'one-way': same({ a: 'x', b: 'y' }),
      'one-way-replica': same({ a: 'x', b: 'y' }),
    },
  },
  {
    name: 'local deletion never beats a remote modification',
    ancestor: { a: 'x' },
    local: {},
    remote: { a: 'R' },
    expect: {
      all: same({ a: 'R' }),
      'one-way': { local: {}, remote: { a: 'R' } },
      'one-way-replica': { local: {}, remote: {}, conflicts: ['a:local-kept'], keep: ['a'] },
    },
  },
  {
    name: 'remote deletion never beats a local modification',
    ancestor: { a: 'x' },
    local: { a: 'L' },
    remote: {},
    expect: { all: same({ a: 'L' }) },
  },
  {
    name: 'both deleted: nothing to do',
    ancestor: { a: 'x', 'd/e': 'z' },
    local: {},
    remote: {},
    expect: { all: same({}) },
  },
  {
    name: 'local directory replaced by a file propagates',
    ancestor: { 'd/a': 'x', 'd/b': 'y' },
    local: { d: 'f' },
    remote: { 'd/a': 'x', 'd/b': 'y' },
    expect: { all: same({ d: 'f' }) },
  },
  {
    name: 'remote file replaced by a directory propagates',
    ancestor: { d: 'f' },
    local: { d: 'f' },
    remote: { 'd/a': 'x' },
    expect: {
      all: same({ 'd/a': 'x' }),
      'one-way': { local: { d: 'f' }, remote: { 'd/a': 'x' } },
      'one-way-replica': {
        local: { d: 'f' },
        remote: { d: 'f' },
        conflicts: ['d:local-kept'],
        keep: ['d/a'],
      },
    },
  },
  {
    name: 'local deletes a directory the remote added to: the directory comes back',
    ancestor: { 'd/a': 'x' },
    local: {},
    remote: { 'd/a': 'x', 'd/new': 'n' },
    expect: {
      all: same({ 'd/a': 'x', 'd/new': 'n' }),
      'one-way': { local: {}, remote: { 'd/a': 'x', 'd/new': 'n' } },
      'one-way-replica': { local: {}, remote: {}, conflicts: ['d:local-kept'], keep: ['d/new'] },
    },
  },
  {
    name: 'local replaces a directory whose file the remote edited: a conflict',
    ancestor: { 'd/a': 'x', 'd/b': 'y' },
    local: { d: 'f' },
    remote: { 'd/a': 'R', 'd/b': 'y' },
    expect: {
      all: { ...same({ d: 'f' }), conflicts: ['d:local-kept'], keep: ['d/a'] },
      'two-way-safe': {
        local: { d: 'f' },
        remote: { 'd/a': 'R', 'd/b': 'y' },
        conflicts: ['d:blocked'],
        keep: ['d/a'],
      },
    },
  },
  {
    name: 'an executable bit change alone propagates',
    ancestor: { a: 'x' },
    local: { a: 'x*' },
    remote: { a: 'x' },
    expect: { all: same({ a: 'x*' }) },
  },
  {
    name: 'a symlink retarget propagates',
    ancestor: { l: '->a', a: 'x', b: 'y' },
    local: { l: '->b', a: 'x', b: 'y' },
    remote: { l: '->a', a: 'x', b: 'y' },
    expect: { all: same({ l: '->b', a: 'x', b: 'y' }) },
  },
  {
    name: 'first sync: one-sided files move, differing ones follow the mode',
    local: { a: 'x', both: 'L', same: 's' },
    remote: { b: 'y', both: 'R', same: 's' },
    expect: {
      all: {
        ...same({ a: 'x', b: 'y', both: 'L', same: 's' }),
        conflicts: ['both:local-kept'],
        keep: ['both'],
      },
      'two-way-safe': {
        local: { a: 'x', b: 'y', both: 'L', same: 's' },
        remote: { a: 'x', b: 'y', both: 'R', same: 's' },
        conflicts: ['both:blocked'],
        keep: ['both'],
      },
      'one-way': {
        local: { a: 'x', both: 'L', same: 's' },
        remote: { a: 'x', b: 'y', both: 'L', same: 's' },
        conflicts: ['both:local-kept'],
        keep: ['both'],
      },
      'one-way-replica': {
        local: { a: 'x', both: 'L', same: 's' },
        remote: { a: 'x', both: 'L', same: 's' },
        conflicts: ['b:local-kept', 'both:local-kept'],
        keep: ['b', 'both'],
      },
    },
  },
  {
    name: 'first sync into a missing remote root creates it',
    local: { a: 'x', 'd/b': 'y' },
    remote: {},
    expect: { all: same({ a: 'x', 'd/b': 'y' }) },
  },
  {
    name: 'a path with a scan problem is left alone on both sides',
    ancestor: { a: 'x', b: 'y' },
    local: { b: 'y2' },
    remote: { a: 'x', b: 'y' },
    problems: ['a'],
    expect: { all: { local: { b: 'y2' }, remote: { a: 'x', b: 'y2' } } },
  },
];

/** Applies a result to both sides and to the ancestor, as if every change landed. */
function applyAll(
  ancestor: Snapshot,
  local: Snapshot,
  remote: Snapshot,
  result: ReconcileResult,
): { ancestor: Snapshot; local: Snapshot; remote: Snapshot } {
  const nextLocal = applyChanges(local, result.localChanges);
  const nextRemote = applyChanges(remote, result.remoteChanges);
  const nextAncestor = applyChanges(ancestor, [
    ...updatesAsChanges(result.ancestorUpdates),
    ...result.localChanges,
    ...result.remoteChanges,
  ]);
  validateSnapshot(nextLocal);
  validateSnapshot(nextRemote);
  validateSnapshot(nextAncestor);
  return { ancestor: nextAncestor, local: nextLocal, remote: nextRemote };
}

describe('reconcile: table', () => {
  for (const c of CASES) {
    for (const mode of MODES) {
      const expected = c.expect[mode] ?? c.expect.all;
      if (expected === undefined) throw new Error(`case ${c.name} has no expectation for ${mode}`);
      it(`${c.name} [${mode}]`, () => {
        const ancestor = c.ancestor === undefined ? EMPTY_SNAPSHOT : snapshotOf(c.ancestor);
        const local = snapshotOf(c.local);
        const remote = c.remote === undefined ? EMPTY_SNAPSHOT : snapshotOf(c.remote);
        const result = reconcile({
          ancestor,
          local,
          remote,
          mode,
          problemPaths: new Set(c.problems ?? []),
        });
        const after = applyAll(ancestor, local, remote, result);
        assert.deepEqual(
          describeSnapshot(after.local),
          describeSnapshot(snapshotOf(expected.local)),
        );
        assert.deepEqual(
          describeSnapshot(after.remote),
          describeSnapshot(snapshotOf(expected.remote)),
        );
        assert.deepEqual(
          result.conflicts.map((x) => `${x.path}:${x.state}`).sort(),
          [...(expected.conflicts ?? [])].sort(),
        );
        assert.deepEqual(
          result.conflicts.flatMap((x) => x.keep.map((k) => k.path)).sort(),
          [...(expected.keep ?? [])].sort(),
        );
      });
    }
  }
});

it('reconciling identical synced trees returns no changes at all', () => {
  const tree = snapshotOf({ a: 'x', 'd/b': 'y*', 'd/e/f': 'z', l: '->d/b' });
  for (const mode of MODES) {
    const result = reconcile({ ancestor: tree, local: tree, remote: tree, mode });
    assert.deepEqual(result, {
      ancestorUpdates: [],
      localChanges: [],
      remoteChanges: [],
      conflicts: [],
    });
  }
});

it('orders removals deepest first, then creations parents first', () => {
  const ancestor = snapshotOf({ 'd/e/f': 'x', 'd/g': 'y' });
  const local = snapshotOf({ d: 'file', n: {}, 'n/m': 'z' });
  const result = reconcile({ ancestor, local, remote: ancestor, mode: 'two-way' });
  assert.deepEqual(
    result.remoteChanges.map((c) => `${c.new === undefined ? '-' : '+'}${c.path}`),
    ['-d/e/f', '-d/g', '-d/e', '+d', '+n', '+n/m'],
  );
});
