import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DIRECTORY } from './entry.ts';
import { SnapshotMirror } from './snapshot-mirror.ts';
import { describeSnapshot, describedEntry, snapshotOf } from './test-snapshots.ts';

const file = (digest: string) => describedEntry(digest);

function mirrorOf(description: Parameters<typeof snapshotOf>[0]): SnapshotMirror {
  const mirror = new SnapshotMirror();
  mirror.replace(snapshotOf(description));
  return mirror;
}

describe('SnapshotMirror', () => {
  it('applies a delta in place and reports each changed path with its previous entry', () => {
    const mirror = mirrorOf({ a: 'A', 'd/b': 'B', 'd/c': 'C' });
    const before = mirror.snapshot;
    const changes = mirror.update(
      [
        ['a', file('A2')],
        ['d/b', file('B')],
        ['n', DIRECTORY],
        ['n/x', file('X')],
      ],
      ['d/c'],
    );
    assert.equal(mirror.snapshot, before, 'the same map, updated in place');
    assert.deepEqual(
      new Map(changes),
      new Map([
        ['d/c', file('C')],
        ['a', file('A')],
        ['n', undefined],
        ['n/x', undefined],
      ]),
      'd/b did not change, so it is not reported',
    );
    assert.deepEqual(describeSnapshot(mirror.snapshot), {
      '': '/',
      a: 'A2',
      d: '/',
      'd/b': 'B',
      n: '/',
      'n/x': 'X',
    });
  });

  it('replaces the whole state and reports the differences', () => {
    const mirror = mirrorOf({ a: 'A', 'd/b': 'B' });
    const changes = mirror.replace(snapshotOf({ a: 'A', e: 'E' }));
    assert.deepEqual([...changes.keys()].sort(), ['d', 'd/b', 'e']);
    assert.deepEqual(describeSnapshot(mirror.snapshot), { '': '/', a: 'A', e: 'E' });
  });

  for (const [name, upserts, removals, message] of [
    ['an entry without its parent', [['x/y', file('Y')]], [], /"x\/y" has no parent directory/],
    ['a removed directory that keeps a child', [], ['d'], /"d" has children/],
    [
      'a directory replaced by a file that keeps a child',
      [['d', file('D')]],
      [],
      /"d" has children/,
    ],
    ['an entry below a file', [['a/z', file('Z')]], [], /"a\/z" has no parent directory/],
    ['a root that is a file', [['', file('R')]], [], /root is not a directory/],
    ['a path both set and removed', [['a', file('A2')]], ['a'], /both sets and removes "a"/],
  ] as const) {
    it(`refuses ${name} and keeps its previous state`, () => {
      const mirror = mirrorOf({ a: 'A', 'd/b': 'B' });
      const before = describeSnapshot(mirror.snapshot);
      assert.throws(() => mirror.update(upserts, removals), message);
      assert.deepEqual(describeSnapshot(mirror.snapshot), before);
      // The child counts were rolled back too: a valid delta still works afterwards.
      mirror.update([], ['d/b', 'd']);
      assert.deepEqual(describeSnapshot(mirror.snapshot), { '': '/', a: 'A' });
    });
  }
});
