import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, rename, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { createIgnoreMatcher, validateSnapshot, type Entry } from '@ksync/core';
import { hashFile, type FileHasher } from './hash.ts';
import { scanDirty, scanFull, symlinkStaysInside, type ScanContext } from './scan.ts';
import { RACY_WINDOW_NS, type StatCache } from './stat-cache.ts';
import { fileEntry, withTempDir, writeTree } from './test-helpers.ts';

function context(root: string, patterns: string[] = []): ScanContext & { calls: string[] } {
  const calls: string[] = [];
  const hasher: FileHasher = async (absolute, expected) => {
    calls.push(absolute.slice(root.length + 1));
    return hashFile(absolute, expected);
  };
  return { root, matcher: createIgnoreMatcher(patterns), hasher, calls };
}

function entries(cache: StatCache): Record<string, Entry> {
  const snapshot = cache.snapshot();
  validateSnapshot(snapshot);
  return Object.fromEntries([...snapshot].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Waits until files written so far are past the racy window (see stat-cache.ts). */
function outsideRacyWindow(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Number(RACY_WINDOW_NS / 1_000_000n) + 5));
}

describe('scanFull', () => {
  it('builds a flat snapshot with the root as the empty path', async () => {
    await withTempDir(async (root) => {
      await writeTree(root, { a: 'A', d: { b: 'B', e: {} }, l: { symlink: 'd/b' } });
      await chmod(`${root}/a`, 0o755);
      const cache = await scanFull(context(root), undefined);
      assert.deepEqual(entries(cache), {
        '': { kind: 'directory' },
        a: fileEntry('A', true),
        d: { kind: 'directory' },
        'd/b': fileEntry('B'),
        'd/e': { kind: 'directory' },
        l: { kind: 'symlink', target: 'd/b' },
      });
      assert.deepEqual(cache.problems(), []);
    });
  });

  it('returns no root entry when the root is missing', async () => {
    await withTempDir(async (dir) => {
      const cache = await scanFull(context(`${dir}/nope`), undefined);
      assert.equal(cache.snapshot().size, 0);
      assert.deepEqual(cache.problems(), []);
    });
  });

  it('does not re-hash files whose stat is unchanged', async () => {
    await withTempDir(async (root) => {
      await writeTree(root, { a: 'A', d: { b: 'B', c: 'C' } });
      await outsideRacyWindow();
      const ctx = context(root);
      const first = await scanFull(ctx, undefined);
      assert.deepEqual(ctx.calls.sort(), ['a', 'd/b', 'd/c']);
      ctx.calls.length = 0;
      const second = await scanFull(ctx, first);
      assert.deepEqual(ctx.calls, []);
      assert.deepEqual(entries(second), entries(first));
      await writeFile(`${root}/d/b`, 'B2');
      const third = await scanFull(ctx, second);
      assert.deepEqual(ctx.calls, ['d/b']);
      assert.deepEqual(third.get('d/b')?.entry, fileEntry('B2'));
    });
  });

  it('re-hashes a file scanned within its timestamp tick (racily clean) until it is not', async () => {
    await withTempDir(async (root) => {
      await writeTree(root, { a: 'AAAA' });
      const ctx = context(root);
      const first = await scanFull(ctx, undefined);
      // A same-size rewrite now could keep the mtime and ctime: the stat cannot be trusted.
      assert.equal(first.get('a')?.racy, true);
      ctx.calls.length = 0;
      await outsideRacyWindow();
      const second = await scanFull(ctx, first);
      assert.deepEqual(ctx.calls, ['a'], 'a racy record is re-hashed');
      assert.equal(second.get('a')?.racy, false);
      ctx.calls.length = 0;
      await scanFull(ctx, second);
      assert.deepEqual(ctx.calls, [], 'once it is past the window, the stat is trusted again');
    });
  });

  it('re-hashes a same-size rewrite whose mtime was put back (ctime moved)', async () => {
    await withTempDir(async (root) => {
      await writeTree(root, { a: 'AAAA' });
      const ctx = context(root);
      const first = await scanFull(ctx, undefined);
      await writeFile(`${root}/a`, 'BBBB');
      const old = new Date(Number(first.get('a')!.mtimeNs / 1_000_000n));
      await utimes(`${root}/a`, old, old);
      const second = await scanFull(ctx, first);
      assert.deepEqual(second.get('a')?.entry, fileEntry('BBBB'));
    });
  });

  it('applies default ignores, options and .ksyncignore, and never enters ignored dirs', async () => {
    await withTempDir(async (root) => {
      await writeTree(root, {
        '.ksyncignore': '# comment\n*.log\nbuild/\n!keep.log\n',
        '.git': { HEAD: 'x' },
        node_modules: { m: { 'i.js': '1' } },
        build: { out: 'o' },
        src: { 'a.ts': 'a', 'a.ts~': 'backup', '.a.ts.swp': 's', '4913': '', 'x.log': 'l' },
        'keep.log': 'k',
        '.ksync-tmp-abc': 'temp',
        f___jb_tmp___: 'jb',
      });
      const { readFile } = await import('node:fs/promises');
      const lines = (await readFile(`${root}/.ksyncignore`, 'utf8')).split('\n');
      const ctx = context(root, ['node_modules/', ...lines]);
      const cache = await scanFull(ctx, undefined);
      assert.deepEqual(Object.keys(entries(cache)), [
        '',
        '.ksyncignore',
        'keep.log',
        'src',
        'src/a.ts',
      ]);
      assert.ok(!ctx.calls.some((p) => p.startsWith('node_modules') || p.startsWith('build')));
    });
  });

  it('keeps relative in-root symlinks and refuses escaping ones without following them', async () => {
    await withTempDir(async (root) => {
      await writeTree(root, {
        d: { ok: { symlink: '../t' }, up: { symlink: '../../etc/passwd' } },
        t: 'T',
        abs: { symlink: '/etc/passwd' },
        dangling: { symlink: 'missing/x' },
        dirlink: { symlink: '/etc' },
      });
      const cache = await scanFull(context(root), undefined);
      const snap = entries(cache);
      assert.deepEqual(snap['d/ok'], { kind: 'symlink', target: '../t' });
      assert.deepEqual(snap['dangling'], { kind: 'symlink', target: 'missing/x' });
      for (const p of ['d/up', 'abs', 'dirlink']) {
        assert.equal(snap[p], undefined);
        assert.ok(
          cache.problems().some((x) => x.path === p && /outside the sync root/.test(x.message)),
          p,
        );
      }
      assert.ok(!Object.keys(snap).some((p) => p.startsWith('dirlink/')));
    });
  });

  it('reports special files, bad names and unreadable entries as problems and goes on', async () => {
    await withTempDir(async (root) => {
      await writeTree(root, { ok: 'ok', 'back\\slash': 'b' });
      execFileSync('mkfifo', [`${root}/fifo`]);
      // Invalid UTF-8 and non-NFC names, created through a shell since Node paths are strings.
      execFileSync('sh', ['-c', `printf x > "${root}/$(printf 'bad\\377')"`]);
      await writeFile(`${root}/${'e\u0301'}`, 'nfd');
      const cache = await scanFull(context(root), undefined);
      const messages = cache.problems().map((p) => `${p.path}: ${p.message}`);
      assert.ok(
        messages.some((m) => m.startsWith('fifo: special file')),
        messages.join('\n'),
      );
      assert.ok(
        messages.some((m) => /back\\slash.*backslash/.test(m)),
        messages.join('\n'),
      );
      assert.ok(
        messages.some((m) => /not valid UTF-8/.test(m)),
        messages.join('\n'),
      );
      assert.ok(
        messages.some((m) => /NFC/.test(m)),
        messages.join('\n'),
      );
      assert.deepEqual(Object.keys(entries(cache)), ['', 'ok']);
    });
  });

  it('reports a file the scanning user cannot read (run as a non-root child) and goes on', async () => {
    await withTempDir(async (root) => {
      await writeTree(root, { secret: 's', open: 'o' });
      await chmod(root, 0o755);
      await chmod(`${root}/secret`, 0o000);
      await chmod(`${root}/open`, 0o644);
      // Root bypasses permission bits, so the scan runs in a child process as uid 65534.
      const script = `
        import { createIgnoreMatcher } from '@ksync/core';
        import { scanFull } from ${JSON.stringify(new URL('./scan.ts', import.meta.url).href)};
        import { hashFile } from ${JSON.stringify(new URL('./hash.ts', import.meta.url).href)};
        const cache = await scanFull({ root: ${JSON.stringify(root)}, matcher: createIgnoreMatcher([]), hasher: hashFile }, undefined);
        process.stdout.write(JSON.stringify({ keys: [...cache.snapshot().keys()], problems: cache.problems() }));
      `;
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
        uid: 65534,
        gid: 65534,
        cwd: process.cwd(),
      });
      const result = JSON.parse(out.toString()) as { keys: string[]; problems: unknown[] };
      assert.deepEqual(result.keys.sort(), ['', 'open']);
      assert.deepEqual(result.problems, [
        { path: 'secret', message: 'permission denied; not synced' },
      ]);
    });
  });
});

describe('scanDirty', () => {
  async function setup(root: string) {
    await writeTree(root, { a: 'A', d: { b: 'B', e: { f: 'F' } }, g: {} });
    const ctx = context(root);
    const cache = await scanFull(ctx, undefined);
    ctx.calls.length = 0;
    return { ctx, cache };
  }

  it('matches a full scan after creates, modifies, deletes and renames', async () => {
    await withTempDir(async (root) => {
      const { ctx, cache } = await setup(root);
      await writeFile(`${root}/a`, 'A2');
      await writeFile(`${root}/n`, 'N');
      await rm(`${root}/d/e`, { recursive: true });
      await rename(`${root}/g`, `${root}/g2`);
      await mkdir(`${root}/new/deep`, { recursive: true });
      await writeFile(`${root}/new/deep/x`, 'X');
      await scanDirty(ctx, cache, ['a', 'n', 'd/e', 'd/e/f', 'g', 'g2', 'new/deep/x']);
      const full = await scanFull(context(root), undefined);
      assert.deepEqual(entries(cache), entries(full));
      assert.deepEqual(ctx.calls.sort(), ['a', 'n', 'new/deep/x']);
    });
  });

  it('handles type changes and a dirty directory re-reads its listing', async () => {
    await withTempDir(async (root) => {
      const { ctx, cache } = await setup(root);
      await rm(`${root}/d`, { recursive: true });
      await writeFile(`${root}/d`, 'now a file');
      await rm(`${root}/a`);
      await mkdir(`${root}/a`);
      await writeFile(`${root}/a/inside`, 'I');
      await writeFile(`${root}/g/quiet`, 'Q'); // only the directory is reported dirty
      await scanDirty(ctx, cache, ['d', 'a', 'g']);
      const full = await scanFull(context(root), undefined);
      assert.deepEqual(entries(cache), entries(full));
    });
  });

  it('drops everything when the root vanishes and rebuilds when it returns', async () => {
    await withTempDir(async (dir) => {
      const root = `${dir}/r`;
      await mkdir(root);
      const { ctx, cache } = await setup(root);
      await rm(root, { recursive: true });
      await scanDirty(ctx, cache, ['']);
      assert.equal(cache.snapshot().size, 0);
      await writeTree(root, { z: 'Z' });
      await scanDirty(ctx, cache, ['z']);
      assert.deepEqual(Object.keys(entries(cache)), ['', 'z']);
    });
  });

  it('does not follow a parent directory that became a symlink', async () => {
    await withTempDir(async (dir) => {
      const root = `${dir}/r`;
      await writeTree(dir, { outside: { secret: 'S' } });
      await mkdir(root);
      const { ctx, cache } = await setup(root);
      await rm(`${root}/d`, { recursive: true });
      await symlink(`${dir}/outside`, `${root}/d`);
      await scanDirty(ctx, cache, ['d/secret']);
      await scanDirty(ctx, cache, ['d']);
      const snap = entries(cache);
      assert.equal(snap['d/secret'], undefined);
      assert.equal(snap['d'], undefined);
      assert.ok(!ctx.calls.some((p) => p.includes('secret')));
    });
  });
});

describe('symlinkStaysInside', () => {
  it('resolves lexically from the link directory', () => {
    assert.equal(symlinkStaysInside('a/l', '../b'), true);
    assert.equal(symlinkStaysInside('a/l', '../../b'), false);
    assert.equal(symlinkStaysInside('l', 'x/../../y'), false);
    assert.equal(symlinkStaysInside('l', '/abs'), false);
    assert.equal(symlinkStaysInside('l', ''), false);
    assert.equal(symlinkStaysInside('a/b/l', './../c'), true);
  });
});
