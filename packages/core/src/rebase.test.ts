import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rebaseAncestor } from './rebase.ts';
import { reconcile } from './reconcile.ts';
import { validateSnapshot } from './snapshot.ts';
import { describeSnapshot, snapshotOf } from './test-snapshots.ts';

describe('rebaseAncestor (container restart)', () => {
  // Synced state before the restart: a, b, d/c, placed (a file only the sync put there).
  const ancestor = snapshotOf({ a: 'A1', b: 'B1', 'd/c': 'C1', placed: 'P1' });
  // Since then, locally: a edited, b deleted. The restarted container is back to its image:
  // a and b at their image versions, d/c reverted, placed gone, and an image-only file.
  const local = snapshotOf({ a: 'A2', 'd/c': 'C1', placed: 'P1' });
  const remote = snapshotOf({ a: 'A0', b: 'B0', 'd/c': 'C0', image: 'I0' });

  it('keeps exactly the paths the ancestor knew, as the container holds them', () => {
    const rebased = rebaseAncestor(ancestor, remote);
    validateSnapshot(rebased);
    assert.deepEqual(
      describeSnapshot(rebased),
      describeSnapshot(snapshotOf({ a: 'A0', b: 'B0', 'd/c': 'C0' })),
    );
  });

  for (const mode of ['two-way', 'two-way-safe', 'one-way', 'one-way-replica'] as const) {
    it(`then reconciles without conflicts or local reverts (${mode})`, () => {
      const result = reconcile({ ancestor: rebaseAncestor(ancestor, remote), local, remote, mode });
      // A replica removes what only the remote has (the image file), keeping a copy; no other
      // path is a conflict.
      assert.deepEqual(
        result.conflicts.map((c) => c.path),
        mode === 'one-way-replica' ? ['image'] : [],
      );
      const toRemote = new Map(result.remoteChanges.map((c) => [c.path, c.new]));
      // Local content overwrites the reverted files; the deletion and the placed file go over.
      assert.deepEqual(toRemote.get('a'), local.get('a'));
      assert.deepEqual(toRemote.get('d/c'), local.get('d/c'));
      assert.deepEqual(toRemote.get('placed'), local.get('placed'));
      assert.ok(toRemote.has('b') && toRemote.get('b') === undefined, 'b is deleted remotely');
      const toLocal = new Map(result.localChanges.map((c) => [c.path, c.new]));
      // Local is never reverted; only the image-only file may come down (not in one-way modes).
      assert.deepEqual([...toLocal.keys()], mode.startsWith('one-way') ? [] : ['image']);
    });
  }

  it('keeps the ancestor under a blocked conflict: the container version there was never synced', () => {
    // d/c was a blocked conflict before the restart: the container's C9 (kept by its volume) was never
    // synced, so it must not become the agreed state.
    const held = snapshotOf({ a: 'A0', b: 'B0', 'd/c': 'C9', image: 'I0' });
    const rebased = rebaseAncestor(ancestor, held, ['d']);
    validateSnapshot(rebased);
    assert.deepEqual(
      describeSnapshot(rebased),
      describeSnapshot(snapshotOf({ a: 'A0', b: 'B0', 'd/c': 'C1' })),
    );
    // Both sides changed d/c since the ancestor: still a conflict that keeps C9.
    const result = reconcile({
      ancestor: rebased,
      local: snapshotOf({ 'd/c': 'C2' }),
      remote: held,
      mode: 'two-way',
    });
    assert.deepEqual(
      result.conflicts.filter((c) => c.path === 'd/c').map((c) => c.keep.map((k) => k.entry)),
      [[held.get('d/c')]],
    );
  });

  it('drops a blocked path whose parent the container no longer holds as a directory', () => {
    const rebased = rebaseAncestor(ancestor, snapshotOf({ d: 'now a file' }), ['d/c']);
    validateSnapshot(rebased);
    assert.deepEqual(describeSnapshot(rebased), describeSnapshot(snapshotOf({ d: 'now a file' })));
  });
});
