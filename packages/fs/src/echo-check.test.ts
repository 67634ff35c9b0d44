import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { mkdir, rm, unlink, writeFile } from 'node:fs/promises';
import { createIgnoreMatcher } from '@ksync/core';
import { ECHO_CHECK_BUDGET, isOwnEcho, type EchoCheckContext } from './echo-check.ts';
import { hashFile } from './hash.ts';
import { scanFull } from './scan.ts';
import { sleep, withTempDir, writeTree } from './test-helpers.ts';

/** A scanned tree whose file records are not racy (scanned well after the writes). */
async function withScanned(
  spec: Parameters<typeof writeTree>[1],
  body: (ctx: EchoCheckContext) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    const root = `${dir}/root`;
    await writeTree(root, spec);
    await sleep(50);
    const matcher = createIgnoreMatcher(['*.log']);
    const cache = await scanFull({ root, matcher, hasher: hashFile }, undefined);
    await body({ root, cache, matcher });
  });
}

describe('isOwnEcho', () => {
  it('is true for paths that show exactly what the cache holds', async () => {
    await withScanned({ a: 'A', d: { b: 'B', e: {} }, l: { symlink: 'a' } }, async (ctx) => {
      assert.equal(isOwnEcho(ctx, ['', 'a', 'd', 'd/b', 'd/e', 'l']), true);
    });
  });

  it('is false once a file was rewritten, even with the same size', async () => {
    await withScanned({ a: 'A', d: { b: 'B' } }, async (ctx) => {
      await writeFile(`${ctx.root}/d/b`, 'Z');
      assert.equal(isOwnEcho(ctx, ['a', 'd/b']), false);
      // Reported through its directory only (the watcher may not name the file): still false.
      assert.equal(isOwnEcho(ctx, ['d']), false);
    });
  });

  it('is false for a racy record, which only a hash can prove', async () => {
    await withScanned({ a: 'A' }, async (ctx) => {
      const record = ctx.cache.get('a');
      assert.ok(record !== undefined && !record.racy);
      ctx.cache.set('a', { ...record, racy: true });
      assert.equal(isOwnEcho(ctx, ['a']), false);
      assert.equal(isOwnEcho(ctx, ['']), false); // through its directory
    });
  });

  it('is false for a path the cache does not hold, and for a new name in a directory', async () => {
    await withScanned({ d: { b: 'B' } }, async (ctx) => {
      await writeFile(`${ctx.root}/d/new`, 'N');
      assert.equal(isOwnEcho(ctx, ['d/new']), false);
      assert.equal(isOwnEcho(ctx, ['d']), false);
    });
  });

  it('is true for a removal the cache already forgot, false for one it did not', async () => {
    await withScanned({ d: { b: 'B', c: 'C' } }, async (ctx) => {
      await unlink(`${ctx.root}/d/b`);
      assert.equal(isOwnEcho(ctx, ['d/b']), false);
      assert.equal(isOwnEcho(ctx, ['d']), false);
      ctx.cache.delete('d/b');
      assert.equal(isOwnEcho(ctx, ['d/b', 'd']), true);
    });
  });

  it('ignores temp names and ignored names in a listing', async () => {
    await withScanned({ d: { b: 'B' } }, async (ctx) => {
      await writeFile(`${ctx.root}/d/.ksync-tmp-0123`, 'partial');
      await writeFile(`${ctx.root}/d/x.log`, 'ignored');
      assert.equal(isOwnEcho(ctx, ['d']), true);
    });
  });

  it('is false when a directory was replaced (another inode)', async () => {
    await withScanned({ d: { b: 'B' } }, async (ctx) => {
      await rm(`${ctx.root}/d`, { recursive: true });
      await mkdir(`${ctx.root}/d`);
      writeFileSync(`${ctx.root}/d/b`, 'B');
      assert.equal(isOwnEcho(ctx, ['d']), false);
    });
  });

  it(`is false when checking would take more than ${ECHO_CHECK_BUDGET} lstats`, async () => {
    await withTempDir(async (dir) => {
      const root = `${dir}/root`;
      await mkdir(root);
      for (let i = 0; i < ECHO_CHECK_BUDGET; i++) writeFileSync(`${root}/f${i}`, '');
      await sleep(50);
      const matcher = createIgnoreMatcher([]);
      const cache = await scanFull({ root, matcher, hasher: hashFile }, undefined);
      // The root plus every child is one lstat more than the budget.
      assert.equal(isOwnEcho({ root, cache, matcher }, ['']), false);
      assert.equal(isOwnEcho({ root, cache, matcher }, ['f0', 'f1']), true);
    });
  });
});
