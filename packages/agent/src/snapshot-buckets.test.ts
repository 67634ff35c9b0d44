import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DIRECTORY, SNAPSHOT_BUCKETS, type Entry } from '@ksync/core';
import { bucketOf, bucketSnapshot } from './snapshot-buckets.ts';

const file = (digest: string, more: Partial<Entry> = {}): Entry =>
  ({ kind: 'file', digest: digest.padEnd(64, '0'), executable: false, size: 1, ...more }) as Entry;

describe('bucketSnapshot', () => {
  const entries: [string, Entry][] = [['', DIRECTORY]];
  for (let i = 0; i < 2000; i++) entries.push([`f${i}`, file(String(i))]);

  it('digests the same entries alike in any order, and spreads paths over every bucket', () => {
    const a = bucketSnapshot(new Map(entries));
    const b = bucketSnapshot(new Map([...entries].reverse()));
    assert.equal(a.digests.length, SNAPSHOT_BUCKETS);
    assert.deepEqual(a.digests, b.digests);
    assert.equal(new Set(entries.map(([p]) => bucketOf(p))).size, SNAPSHOT_BUCKETS);
    assert.deepEqual(
      a.entries
        .flat()
        .map(([p]) => p)
        .sort(),
      entries.map(([p]) => p).sort(),
    );
  });

  it('changes exactly the bucket of a path whose entry changed in any way', () => {
    const before = bucketSnapshot(new Map(entries)).digests;
    const variants: [string, Entry | undefined][] = [
      ['f5', file('x')],
      ['f5', file('5', { executable: true })],
      ['f5', file('5', { size: 2 })],
      ['f5', { kind: 'symlink', target: 'f6' }],
      ['f5', DIRECTORY],
      ['f5', undefined],
      ['new', file('1')],
    ];
    for (const [path, entry] of variants) {
      const changed = new Map(entries);
      if (entry === undefined) changed.delete(path);
      else changed.set(path, entry);
      const after = bucketSnapshot(changed).digests;
      const differing = after.flatMap((d, i) => (d === before[i] ? [] : [i]));
      assert.deepEqual(differing, [bucketOf(path)], `${path}: ${JSON.stringify(entry)}`);
    }
  });
});
