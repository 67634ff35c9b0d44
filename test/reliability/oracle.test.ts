import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  WriteLog,
  digestOf,
  judgeSentinels,
  judgeSync,
  type DigestTree,
  type WriteRecord,
} from './oracle.ts';

/** A write log on a clock that ticks once per record, so order is explicit. */
function log(
  ...writes: [
    side: 'local' | 'remote',
    path: string,
    content: string | undefined,
    landed?: boolean,
  ][]
): readonly WriteRecord[] {
  let t = 0;
  const l = new WriteLog(() => ++t);
  for (const [side, path, content, landed] of writes)
    l.record({ side, path, content, landed: landed ?? true });
  return l.records();
}

const tree = (files: Record<string, string>): DigestTree =>
  new Map(Object.entries(files).map(([p, c]) => [p, digestOf(c)]));

describe('the oracle', () => {
  it('passes when the last version of each path is on both sides', () => {
    const v = judgeSync({
      writes: log(['local', 'a', 'one'], ['remote', 'a', 'two'], ['remote', 'd/b', 'x']),
      local: tree({ a: 'two', 'd/b': 'x' }),
      remote: tree({ a: 'two', 'd/b': 'x' }),
      conflicts: [],
    });
    assert.equal(v.ok, true);
    assert.equal(v.written, 3);
    assert.deepEqual(v.lost, []);
  });

  it('fails on a lost edit: the last write on a path is on neither side', () => {
    const v = judgeSync({
      writes: log(['local', 'a', 'one'], ['remote', 'a', 'two']),
      local: tree({ a: 'one' }),
      remote: tree({ a: 'one' }),
      conflicts: [],
    });
    assert.equal(v.ok, false);
    assert.deepEqual(
      v.lost.map((w) => [w.side, w.path, w.digest]),
      [['remote', 'a', digestOf('two')]],
    );
  });

  it('fails on a file that exists on one side only', () => {
    const v = judgeSync({
      writes: log(['local', 'a', 'one']),
      local: tree({ a: 'one' }),
      remote: tree({}),
      conflicts: [],
    });
    assert.equal(v.ok, false);
    assert.deepEqual(v.lost.length, 1);
    assert.deepEqual(v.diverged, ['a']);
  });

  it('fails on an edit deleted by the sync', () => {
    const v = judgeSync({
      writes: log(['remote', 'new', 'content']),
      local: tree({}),
      remote: tree({}),
      conflicts: [],
    });
    assert.equal(v.ok, false);
  });

  it('accepts a version a conflict kept, and counts it', () => {
    const v = judgeSync({
      writes: log(['local', 'a', 'mine'], ['remote', 'a', 'theirs']),
      local: tree({ a: 'mine' }),
      remote: tree({ a: 'mine' }),
      conflicts: [{ path: 'a', digests: [digestOf('mine'), digestOf('theirs')] }],
    });
    assert.equal(v.ok, true);
    assert.equal(v.savedByConflict, 1);
  });

  it('a conflict on a directory keeps the versions below it', () => {
    const v = judgeSync({
      writes: log(['local', 'd/x', 'mine'], ['remote', 'd/x', 'theirs']),
      local: tree({ 'd/x': 'mine' }),
      remote: tree({ 'd/x': 'mine' }),
      conflicts: [{ path: 'd', digests: [digestOf('theirs')] }],
    });
    assert.equal(v.ok, true);
  });

  it('a failed write whose content is nowhere is uncertain, not lost, and supersedes nothing', () => {
    const v = judgeSync({
      writes: log(['local', 'a', 'one'], ['remote', 'a', 'two', false]),
      local: tree({}),
      remote: tree({}),
      conflicts: [],
    });
    assert.equal(v.uncertain, 1);
    assert.deepEqual(
      v.lost.map((w) => w.digest),
      [digestOf('one')],
      'the failed write does not excuse the earlier one',
    );
  });

  it('a failed write that did land supersedes the earlier one', () => {
    const v = judgeSync({
      writes: log(['local', 'a', 'one'], ['remote', 'a', 'two', false]),
      local: tree({ a: 'two' }),
      remote: tree({ a: 'two' }),
      conflicts: [],
    });
    assert.equal(v.ok, true);
  });

  it('a deletion supersedes, and one not propagated is reported but loses nothing', () => {
    const gone = judgeSync({
      writes: log(['local', 'a', 'one'], ['remote', 'a', undefined]),
      local: tree({}),
      remote: tree({}),
      conflicts: [],
    });
    assert.equal(gone.ok, true);
    const kept = judgeSync({
      writes: log(['local', 'a', 'one'], ['remote', 'a', undefined]),
      local: tree({ a: 'one' }),
      remote: tree({ a: 'one' }),
      conflicts: [],
    });
    assert.equal(kept.ok, true);
    assert.deepEqual(kept.unpropagatedDeletions, ['a']);
  });

  it('writes that overlap in time may land in either order; one of them must be there', () => {
    const overlapping = (end: number): WriteRecord[] => [
      { side: 'local', path: 'a', digest: digestOf('L'), start: 10, end: 12, landed: true },
      { side: 'remote', path: 'a', digest: digestOf('R'), start: 9, end: end, landed: true },
    ];
    const either = judgeSync({
      writes: overlapping(15),
      local: tree({ a: 'L' }),
      remote: tree({ a: 'L' }),
      conflicts: [],
    });
    assert.equal(either.ok, true, 'R may have landed first and been overwritten by L');
    const neither = judgeSync({
      writes: overlapping(15),
      local: tree({ a: 'old' }),
      remote: tree({ a: 'old' }),
      conflicts: [],
    });
    assert.equal(neither.lost.length, 2);
    const after = judgeSync({
      writes: overlapping(11).map((w) => (w.side === 'local' ? { ...w, start: 12, end: 13 } : w)),
      local: tree({ a: 'R' }),
      remote: tree({ a: 'R' }),
      conflicts: [],
    });
    assert.equal(after.ok, false, 'L started after R returned: R cannot have replaced it');
  });

  it('sentinels: any change beside the roots is reported', () => {
    assert.deepEqual(judgeSentinels(tree({ s: '1' }), tree({ s: '1' })), []);
    assert.deepEqual(judgeSentinels(tree({ s: '1' }), tree({ s: '2', t: '3' })), ['s', 't']);
    assert.deepEqual(judgeSentinels(tree({ s: '1' }), tree({})), ['s']);
  });

  it('under a conflict, a version still on one side is kept', () => {
    const v = judgeSync({
      writes: log(['local', 'a', 'mine'], ['remote', 'a', 'theirs']),
      local: tree({ a: 'mine' }),
      remote: tree({ a: 'theirs' }),
      conflicts: [{ path: 'a', digests: [] }],
    });
    assert.equal(v.ok, true);
    assert.deepEqual(v.diverged, []);
  });
});
