import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { createIgnoreMatcher } from '@ksync/core';
import { hashFile, type FileHasher } from './hash.ts';
import { openLocalEndpoint } from './local-endpoint.ts';
import { scanFull, type ScanContext } from './scan.ts';
import { RACY_WINDOW_NS, isRacy, type StatCache } from './stat-cache.ts';
import { encodeStatCache, readStatCacheFile, writeStatCacheFile } from './stat-cache-file.ts';
import { withTempDir, writeTree } from './test-helpers.ts';

function context(root: string): ScanContext & { calls: string[] } {
  const calls: string[] = [];
  const hasher: FileHasher = async (absolute, expected) => {
    calls.push(absolute.slice(root.length + 1));
    return hashFile(absolute, expected);
  };
  return { root, matcher: createIgnoreMatcher([]), hasher, calls };
}

/** Waits until files written so far are past the racy window (see stat-cache.ts). */
function outsideRacyWindow(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Number(RACY_WINDOW_NS / 1_000_000n) + 5));
}

async function save(file: string, root: string, cache: StatCache): Promise<void> {
  await writeStatCacheFile(file, await encodeStatCache(root, cache.records()));
}

const TREE = { a: 'AAAA', d: { b: 'B', e: { c: 'CCC' } }, l: { symlink: 'a' } };

describe('isRacy', () => {
  it('is racy only when the last write is the last change and within the window', () => {
    const at = 1_000_000_000_000n;
    assert.equal(isRacy(at, at, at + 1n), true, 'mtime = ctime, seen at once');
    assert.equal(isRacy(at, at, at + RACY_WINDOW_NS), false, 'seen after the window');
    // A rename, link or chmod after the write moved ctime: no rewrite can restore both times.
    assert.equal(isRacy(at, at + 1n, at + 2n), false, 'ctime after mtime');
  });
});

describe('stat cache file', () => {
  it('lets a full scan in a new process hash nothing that did not change', async () => {
    await withTempDir(async (dir) => {
      const root = `${dir}/root`;
      const file = `${dir}/state/cache`;
      await writeTree(root, TREE);
      await outsideRacyWindow();
      const first = await scanFull(context(root), undefined);
      await save(file, root, first);
      const saved = await readStatCacheFile(file, root);
      assert.deepEqual(
        new Map([...first.records()].filter(([, r]) => r.entry.kind === 'file')),
        saved,
        'every file record comes back as it was',
      );
      await writeFile(`${root}/d/b`, 'B2');
      const ctx = context(root);
      const second = await scanFull(ctx, saved);
      assert.deepEqual(ctx.calls, ['d/b'], 'only the file changed since the save is hashed');
      assert.deepEqual(second.snapshot(), (await scanFull(context(root), undefined)).snapshot());
    });
  });

  it('keeps a racy record racy, so the next process hashes that file again', async () => {
    await withTempDir(async (dir) => {
      const root = `${dir}/root`;
      const file = `${dir}/cache`;
      await writeTree(root, { a: 'AAAA' });
      const first = await scanFull(context(root), undefined);
      // As a scan right after the write records it (made so here: a loaded machine is slow).
      first.set('a', { ...first.get('a')!, racy: true });
      await save(file, root, first);
      const saved = await readStatCacheFile(file, root);
      assert.equal(saved?.get('a')?.racy, true);
      const ctx = context(root);
      await scanFull(ctx, saved);
      assert.deepEqual(ctx.calls, ['a']);
    });
  });

  it('is not read for another root, a root made again, or a corrupt or torn file', async () => {
    await withTempDir(async (dir) => {
      const root = `${dir}/root`;
      const file = `${dir}/cache`;
      await writeTree(root, TREE);
      await writeTree(`${dir}/other`, TREE);
      const cache = await scanFull(context(root), undefined);
      await save(file, root, cache);
      assert.ok(await readStatCacheFile(file, root));
      assert.equal(await readStatCacheFile(file, `${dir}/other`), undefined, 'another root');
      assert.equal(await readStatCacheFile(`${dir}/none`, root), undefined, 'no file');

      const good = await readFile(file);
      const flipped = Buffer.from(good);
      flipped[flipped.length - 3] = (flipped[flipped.length - 3] ?? 0) ^ 1;
      await writeFile(file, flipped);
      assert.equal(await readStatCacheFile(file, root), undefined, 'one bit flipped');
      await writeFile(file, good);
      await truncate(file, good.length - 10);
      assert.equal(await readStatCacheFile(file, root), undefined, 'torn');
      await writeFile(file, '');
      assert.equal(await readStatCacheFile(file, root), undefined, 'empty');

      // The same path, another directory (as a new container's filesystem would be).
      await writeFile(file, good);
      await rename(root, `${dir}/old-root`);
      await mkdir(root);
      assert.equal(await readStatCacheFile(file, root), undefined, 'root made again');
      await rm(root, { recursive: true });
      assert.equal(await readStatCacheFile(file, root), undefined, 'root gone');
    });
  });

  it('is saved by a closing endpoint and spares the next endpoint all hashing', async () => {
    await withTempDir(async (dir) => {
      const root = `${dir}/root`;
      const statCacheFile = `${dir}/state/local.stat-cache`;
      await writeTree(root, TREE);
      await outsideRacyWindow();
      const open = (hashed: string[]) =>
        openLocalEndpoint({
          root,
          statCacheFile,
          hasher: (absolute, expected) => {
            hashed.push(absolute.slice(root.length + 1));
            return hashFile(absolute, expected);
          },
        });
      const firstHashed: string[] = [];
      const first = open(firstHashed);
      const before = await first.scan({ full: false });
      await first.close();
      assert.deepEqual(firstHashed.sort(), ['a', 'd/b', 'd/e/c']);

      const hashed: string[] = [];
      const second = open(hashed);
      try {
        const after = await second.scan({ full: false });
        assert.deepEqual(after.snapshot, before.snapshot);
        assert.deepEqual(hashed, []);
      } finally {
        await second.close();
      }
    });
  });
});
