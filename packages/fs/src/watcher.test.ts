import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { parentPath } from '@ksync/core';
import { createWatcher, type Watcher } from './watcher.ts';
import { sleep, waitFor, withTempDir, writeTree, type TreeSpec } from './test-helpers.ts';

/** A watcher on a real tree that collects everything it reports. */
interface Harness {
  readonly root: string;
  readonly watcher: Watcher;
  /** Every dirty path reported so far. */
  readonly dirty: Set<string>;
  overflows: number;
  readonly warnings: string[];
}

async function withWatcher(
  spec: TreeSpec,
  body: (h: Harness) => Promise<void>,
  ignores: (path: string, isDirectory: boolean) => boolean = () => false,
): Promise<void> {
  await withTempDir(async (dir) => {
    const root = `${dir}/root`;
    await writeTree(root, spec);
    const dirty = new Set<string>();
    const warnings: string[] = [];
    const h: { -readonly [K in keyof Harness]: Harness[K] } = {
      root,
      dirty,
      overflows: 0,
      warnings,
      watcher: undefined as unknown as Watcher,
    };
    h.watcher = createWatcher({
      root,
      ignores,
      onDirty: (paths) => paths.forEach((path) => dirty.add(path)),
      onOverflow: () => h.overflows++,
      onWarning: (message) => warnings.push(message),
      debounceMs: 5,
      pollIntervalMs: 100,
    });
    try {
      await h.watcher.ready;
      await body(h);
      assert.deepEqual(warnings, []);
    } finally {
      await h.watcher.close();
    }
  });
}

/**
 * The number of inotify watches this process holds, read from the kernel (fdinfo of every
 * inotify descriptor): what is really watched, not what the watcher believes.
 */
function inotifyWatches(): number {
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    let link: string;
    try {
      link = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    if (link !== 'anon_inode:inotify') continue;
    const info = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
    count += info.split('\n').filter((line) => line.startsWith('inotify wd:')).length;
  }
  return count;
}

/** True when the rescan of `dirty` finds `path`: it, or the directory listing it, is dirty. */
function covered(dirty: ReadonlySet<string>, path: string): boolean {
  return dirty.has(path) || dirty.has(parentPath(path));
}

describe('createWatcher (one inotify watch per directory, real files)', () => {
  it('watches every directory and nothing else', async () => {
    await withWatcher({ a: 'A', d: { b: 'B', e: { f: 'F' } }, g: {} }, async () => {
      assert.equal(inotifyWatches(), 4); // '', d, d/e, g
    });
  });

  it('reports every path of a rename storm', async () => {
    const spec: Record<string, string> = {};
    for (let i = 0; i < 500; i++) spec[`f${i}`] = String(i);
    await withWatcher({ d: spec }, async (h) => {
      for (let i = 0; i < 500; i++) await rename(`${h.root}/d/f${i}`, `${h.root}/d/g${i}`);
      const expected = [...Array(500).keys()].flatMap((i) => [`d/f${i}`, `d/g${i}`]);
      await waitFor(() => expected.every((p) => h.dirty.has(p)), 5000, 'all 1,000 paths');
      assert.equal(h.overflows, 0);
    });
  });

  it('follows a directory moved within the root: events come from its new path only', async () => {
    await withWatcher({ d: { sub: { x: 'X' } }, e: {} }, async (h) => {
      await rename(`${h.root}/d`, `${h.root}/e/d2`);
      await waitFor(() => h.dirty.has('d') && h.dirty.has('e/d2'), 5000, 'the move');
      assert.equal(inotifyWatches(), 4); // '', e, e/d2, e/d2/sub
      h.dirty.clear();
      await writeFile(`${h.root}/e/d2/sub/x`, 'X2');
      await waitFor(() => h.dirty.has('e/d2/sub/x'), 5000, 'the edit under the new path');
      await sleep(50);
      assert.deepEqual(
        [...h.dirty].filter((p) => p.startsWith('d')),
        [],
      );
    });
  });

  it('drops the watches of a deleted subtree and watches it again when it comes back', async () => {
    await withWatcher({ d: { a: { b: { f: 'F' } }, g: 'G' } }, async (h) => {
      await rm(`${h.root}/d`, { recursive: true });
      await waitFor(() => h.dirty.has('d'), 5000, 'the deletion');
      await waitFor(() => inotifyWatches() === 1, 5000, 'only the root watched');
      await mkdir(`${h.root}/d/a/b`, { recursive: true });
      await writeFile(`${h.root}/d/a/b/f`, 'F2');
      await waitFor(() => covered(h.dirty, 'd/a/b/f'), 5000, 'the recreated file');
      assert.equal(inotifyWatches(), 4);
      h.dirty.clear();
      await writeFile(`${h.root}/d/a/b/h`, 'H');
      await waitFor(() => h.dirty.has('d/a/b/h'), 5000, 'a later file in the recreated tree');
    });
  });

  it('finds a path created right after its directory, at any depth', async () => {
    await withWatcher({}, async (h) => {
      // Synchronous, so nothing can be watched before the files exist.
      mkdirSync(`${h.root}/n/a/b/c`, { recursive: true });
      writeFileSync(`${h.root}/n/f`, 'F');
      writeFileSync(`${h.root}/n/a/b/c/f`, 'F');
      await waitFor(
        () => covered(h.dirty, 'n/f') && covered(h.dirty, 'n/a/b/c/f'),
        5000,
        'both files',
      );
      assert.equal(inotifyWatches(), 5);
    });
  });

  it('never watches ignored directories, old or new, and reports nothing under them', async () => {
    const ignores = (path: string, isDirectory: boolean): boolean =>
      isDirectory && (path === 'node_modules' || path.endsWith('/node_modules'));
    await withWatcher(
      { node_modules: { p: { x: 'X' } }, src: { a: 'A' } },
      async (h) => {
        assert.equal(inotifyWatches(), 2); // '', src
        await mkdir(`${h.root}/src/node_modules/q`, { recursive: true });
        await writeFile(`${h.root}/node_modules/p/x`, 'X2');
        await writeFile(`${h.root}/src/a`, 'A2');
        await waitFor(() => h.dirty.has('src/a'), 5000, 'the edit outside');
        await writeFile(`${h.root}/src/node_modules/q/y`, 'Y');
        await sleep(50);
        assert.equal(inotifyWatches(), 2);
        assert.deepEqual(
          [...h.dirty].filter((p) => p.includes('node_modules')),
          [],
        );
      },
      ignores,
    );
  });

  it('waits for a deleted root to come back, then reports an overflow and watches it', async () => {
    await withWatcher({ d: { f: 'F' } }, async (h) => {
      await rm(h.root, { recursive: true });
      await waitFor(() => h.dirty.has(''), 5000, 'the root removal');
      await waitFor(() => inotifyWatches() === 0, 5000, 'no watches left');
      await mkdir(`${h.root}/d`, { recursive: true });
      await waitFor(() => h.overflows === 1, 5000, 'the overflow when it is back');
      h.dirty.clear();
      await writeFile(`${h.root}/d/g`, 'G');
      await waitFor(() => h.dirty.has('d/g'), 5000, 'an edit in the new root');
    });
  });
});
