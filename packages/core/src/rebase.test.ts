import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RestartFacts } from './endpoint.ts';
import { rebaseAncestor } from './rebase.ts';
import { reconcile } from './reconcile.ts';
import { validateSnapshot } from './snapshot.ts';
import { describeSnapshot, snapshotOf } from './test-snapshots.ts';

/** A restarted container without volumes that changed nothing since it started. */
const imageOnly: RestartFacts = { mounts: [], changed: [] };

describe('rebaseAncestor (container restart)', () => {
  // Synced state before the restart: a, b, d/c, placed (a file only the sync put there).
  const ancestor = snapshotOf({ a: 'A1', b: 'B1', 'd/c': 'C1', placed: 'P1' });
  // Since then, locally: a edited, b deleted. The restarted container is back to its image:
  // a and b at their image versions, d/c reverted, placed gone, and an image-only file.
  const local = snapshotOf({ a: 'A2', 'd/c': 'C1', placed: 'P1' });
  const remote = snapshotOf({ a: 'A0', b: 'B0', 'd/c': 'C0', image: 'I0' });

  it('keeps exactly the paths the ancestor knew, as the container holds them', () => {
    const rebased = rebaseAncestor(ancestor, remote, {
      blockedPaths: [],
      facts: imageOnly,
      volumes: 'kept',
    });
    validateSnapshot(rebased);
    assert.deepEqual(
      describeSnapshot(rebased),
      describeSnapshot(snapshotOf({ a: 'A0', b: 'B0', 'd/c': 'C0' })),
    );
  });

  for (const mode of ['two-way', 'two-way-safe', 'one-way', 'one-way-replica'] as const) {
    it(`then reconciles without conflicts or local reverts (${mode})`, () => {
      const result = reconcile({
        ancestor: rebaseAncestor(ancestor, remote, {
          blockedPaths: [],
          facts: imageOnly,
          volumes: 'kept',
        }),
        local,
        remote,
        mode,
      });
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
    const rebased = rebaseAncestor(ancestor, held, {
      blockedPaths: ['d'],
      facts: imageOnly,
      volumes: 'kept',
    });
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
    const rebased = rebaseAncestor(ancestor, snapshotOf({ d: 'now a file' }), {
      blockedPaths: ['d/c'],
      facts: imageOnly,
      volumes: 'kept',
    });
    validateSnapshot(rebased);
    assert.deepEqual(describeSnapshot(rebased), describeSnapshot(snapshotOf({ d: 'now a file' })));
  });

  it('forgets a path the container changed since it started: its version is kept by a conflict', () => {
    // The container (its entrypoint, a user's process) wrote a anew after the restart, and
    // created a file in d, which moved d's ctime.
    const written = snapshotOf({ a: 'A9', b: 'B0', 'd/c': 'C0', 'd/new': 'N', image: 'I0' });
    const rebased = rebaseAncestor(ancestor, written, {
      blockedPaths: [],
      facts: { mounts: [], changed: ['a', 'd', 'd/new', 'image'] },
      volumes: 'kept',
    });
    validateSnapshot(rebased);
    // a is unknown; d stays a directory, so d/c is still the image's.
    assert.deepEqual(
      describeSnapshot(rebased),
      describeSnapshot(snapshotOf({ b: 'B0', 'd/c': 'C0' })),
    );
    for (const mode of ['two-way', 'two-way-safe'] as const) {
      const unchangedLocal = snapshotOf({ a: 'A1', 'd/c': 'C1', placed: 'P1' });
      const result = reconcile({ ancestor: rebased, local: unchangedLocal, remote: written, mode });
      // a is a conflict that keeps the container's version; the reverted d/c still is not.
      assert.deepEqual(
        result.conflicts.map((c) => [c.path, c.keep.map((k) => k.entry)]),
        [['a', [written.get('a')]]],
      );
      assert.ok(!result.localChanges.some((c) => c.path === 'a'), 'local a is not overwritten');
      const toRemote = new Map(result.remoteChanges.map((c) => [c.path, c.new]));
      assert.deepEqual(toRemote.get('d/c'), unchangedLocal.get('d/c'));
    }
  });

  it('keeps the ancestor of a surviving volume: its unsynced edits and deletions are edits', () => {
    const synced = snapshotOf({ 'vol/x/y': 'Y1', 'vol/z': 'Z1', 'app/f': 'F1' });
    // The volume kept the container's unsynced edit of vol/x/y and its deletion of vol/z; app/f
    // is the image's again.
    const held = snapshotOf({ 'vol/x/y': 'Y2', 'app/f': 'F0' });
    const rebased = rebaseAncestor(synced, held, {
      blockedPaths: [],
      facts: { mounts: ['vol'], changed: [] },
      volumes: 'kept',
    });
    validateSnapshot(rebased);
    assert.deepEqual(
      describeSnapshot(rebased),
      describeSnapshot(snapshotOf({ 'vol/x/y': 'Y1', 'vol/z': 'Z1', 'app/f': 'F0' })),
    );
    const result = reconcile({ ancestor: rebased, local: synced, remote: held, mode: 'two-way' });
    assert.deepEqual(result.conflicts, []);
    assert.deepEqual(
      result.localChanges.map((c) => [c.path, c.new]),
      // Removals first, as apply wants them.
      [
        ['vol/z', undefined],
        ['vol/x/y', held.get('vol/x/y')],
      ],
    );
    assert.deepEqual(
      result.remoteChanges.map((c) => [c.path, c.new]),
      [['app/f', synced.get('app/f')]],
    );
  });

  it("forgets a new pod's fresh volume: nothing it lacks is deleted, what differs conflicts", () => {
    const synced = snapshotOf({ 'vol/x': 'X1', 'vol/y': 'Y1', 'app/f': 'F1' });
    // An init container put its own y in the new pod's emptyDir; x is not there.
    const held = snapshotOf({ 'vol/y': 'Y0', 'app/f': 'F0' });
    const rebased = rebaseAncestor(synced, held, {
      blockedPaths: [],
      facts: { mounts: ['vol'], changed: [] },
      volumes: 'new',
    });
    validateSnapshot(rebased);
    assert.deepEqual(
      describeSnapshot(rebased),
      describeSnapshot(snapshotOf({ vol: {}, 'app/f': 'F0' })),
    );
    const result = reconcile({ ancestor: rebased, local: synced, remote: held, mode: 'two-way' });
    assert.deepEqual(result.localChanges, []);
    assert.deepEqual(
      result.conflicts.map((c) => [c.path, c.keep.map((k) => k.entry)]),
      [['vol/y', [held.get('vol/y')]]],
    );
  });

  it('a volume mounted at the root keeps the whole ancestor', () => {
    const rebased = rebaseAncestor(ancestor, remote, {
      blockedPaths: [],
      facts: { mounts: [''], changed: [] },
      volumes: 'kept',
    });
    assert.deepEqual(describeSnapshot(rebased), describeSnapshot(ancestor));
  });

  it('drops a kept path whose parent the container no longer holds as a directory', () => {
    const rebased = rebaseAncestor(ancestor, snapshotOf({ d: 'now a file' }), {
      blockedPaths: [],
      facts: { mounts: ['d/c'], changed: [] },
      volumes: 'kept',
    });
    validateSnapshot(rebased);
    assert.deepEqual(describeSnapshot(rebased), describeSnapshot(snapshotOf({ d: 'now a file' })));
  });

  for (const [name, facts] of [
    ['no facts at all', undefined],
    ['too many changed paths to list', { mounts: ['vol'], changed: undefined }],
  ] as const) {
    it(`with ${name}, forgets what it cannot classify: differences conflict and keep both`, () => {
      const synced = snapshotOf({ 'vol/v': 'V1', 'd/c': 'C1', f: 'F1' });
      const held = snapshotOf({ 'vol/v': 'V2', 'd/c': 'C0', f: 'F9' });
      const rebased = rebaseAncestor(synced, held, { blockedPaths: [], facts, volumes: 'kept' });
      validateSnapshot(rebased);
      // Directories on both sides stay; files are forgotten, except on a known volume.
      const expected =
        facts === undefined ? snapshotOf({ vol: {}, d: {} }) : snapshotOf({ 'vol/v': 'V1', d: {} });
      assert.deepEqual(describeSnapshot(rebased), describeSnapshot(expected));
      const result = reconcile({ ancestor: rebased, local: synced, remote: held, mode: 'two-way' });
      // Only the surviving volume's edit comes down; every other difference keeps both.
      assert.deepEqual(
        result.localChanges.map((c) => c.path),
        facts === undefined ? [] : ['vol/v'],
      );
      const conflicted = result.conflicts.map((c) => c.path).sort();
      assert.deepEqual(conflicted, facts === undefined ? ['d/c', 'f', 'vol/v'] : ['d/c', 'f']);
    });
  }
});
