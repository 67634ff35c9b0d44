import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, symlink } from 'node:fs/promises';
import { openConflictContentStore } from './file-conflict-store.ts';
import { listTree, withTempDir } from './test-helpers.ts';

async function* chunks(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield await Promise.resolve(Buffer.from(part));
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of source) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts).toString();
}

describe('openConflictContentStore', () => {
  it('saves, reads back, locates and removes conflict files', async () => {
    await withTempDir(async (dir) => {
      const store = openConflictContentStore(`${dir}/conflicts`);
      await store.save('c1', 'src/app/main.ts', chunks('remote ', 'version'));
      await store.save('c1', 'README', chunks('r'));
      await store.save('c1', 'README', chunks('r2')); // overwrite is atomic
      assert.equal(await collect(store.read('c1', 'src/app/main.ts')), 'remote version');
      assert.equal(await readFile(`${store.locate('c1')}/README`, 'utf8'), 'r2');
      assert.deepEqual(await listTree(store.locate('c1')), [
        'README',
        'src',
        'src/app',
        'src/app/main.ts',
      ]);
      await store.remove('c1');
      assert.deepEqual(await listTree(`${dir}/conflicts`), []);
    });
  });

  it('refuses hostile ids and paths and never writes through symlinks', async () => {
    await withTempDir(async (dir) => {
      const store = openConflictContentStore(`${dir}/conflicts`);
      await assert.rejects(store.save('../x', 'a', chunks('x')), /invalid conflict id/);
      await assert.rejects(store.save('c', '../../x', chunks('x')), /invalid path/);
      await assert.rejects(store.save('c', '/etc/passwd', chunks('x')), /invalid path/);
      await mkdir(`${dir}/outside`);
      await mkdir(`${dir}/conflicts/c`, { recursive: true });
      await symlink(`${dir}/outside`, `${dir}/conflicts/c/link`);
      await assert.rejects(store.save('c', 'link/x', chunks('x')), /not a directory/);
      await assert.rejects(collect(store.read('c', 'link/x')), /symlink/);
      assert.deepEqual(await listTree(`${dir}/outside`), []);
    });
  });
});
