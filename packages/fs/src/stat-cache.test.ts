import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DIRECTORY, type Entry } from '@ksync/core';
import { StatCache, type StatRecord } from './stat-cache.ts';
import { fileEntry } from './test-helpers.ts';

function record(entry: Entry): StatRecord {
  return { entry, size: 0, mtimeNs: 1n, ctimeNs: 1n, ino: 1n, mode: 0o100644, racy: false };
}

describe('StatCache digest index', () => {
  it('finds every path holding a digest as paths come and go', () => {
    const cache = new StatCache();
    const a = fileEntry('A');
    const digest = a.kind === 'file' ? a.digest : '';
    const paths = (): string[] => [...cache.pathsWithDigest(digest)].sort();
    cache.set('', record(DIRECTORY));
    cache.set('d', record(DIRECTORY));
    cache.set('x', record(a));
    assert.deepEqual(paths(), ['x']);
    cache.set('x', record(a)); // the same path again is still one path
    assert.deepEqual(paths(), ['x']);
    cache.set('y', record(a));
    cache.set('d/z', record(a));
    assert.deepEqual(paths(), ['d/z', 'x', 'y']);
    cache.delete('d');
    assert.deepEqual(paths(), ['x', 'y']);
    cache.set('x', record(fileEntry('B')));
    assert.deepEqual(paths(), ['y']);
    cache.set('x', record(a));
    assert.deepEqual(paths(), ['x', 'y']);
    cache.delete('y');
    cache.delete('x');
    assert.deepEqual(paths(), []);
  });
});
