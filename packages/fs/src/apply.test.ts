import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmod,
  chown,
  link,
  lstat,
  mkdir,
  readFile,
  readlink,
  readdir,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { DIRECTORY, type Change } from '@ksync/core';
import { digestBytes } from './hash.ts';
import { openLocalEndpoint, type LocalEndpoint } from './local-endpoint.ts';
import { fileMode } from './apply.ts';
import { contentFor, fileEntry, listTree, withTempDir, writeTree } from './test-helpers.ts';

/** Content offered to each endpoint's next `applyOffered`. */
const offers = new WeakMap<LocalEndpoint, string[]>();

/** Offers `content` to go with the next `applyOffered` on `endpoint`. */
async function stage(endpoint: LocalEndpoint, content: string): Promise<void> {
  offers.set(endpoint, [...(offers.get(endpoint) ?? []), content]);
  await Promise.resolve();
}

/** Applies `changes` with the offered contents in their content stream. */
function applyOffered(endpoint: LocalEndpoint, changes: readonly Change[]) {
  const contents = offers.get(endpoint) ?? [];
  offers.delete(endpoint);
  return endpoint.apply(changes, contentFor(changes, contents));
}

async function withEndpoint(
  spec: Parameters<typeof writeTree>[1],
  body: (endpoint: LocalEndpoint, root: string, dir: string) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    const root = `${dir}/root`;
    await writeTree(root, spec);
    const endpoint = openLocalEndpoint({ root, watch: false });
    try {
      await endpoint.scan({ full: true });
      await body(endpoint, root, dir);
    } finally {
      await endpoint.close();
    }
  });
}

describe('apply', () => {
  it('creates, updates and removes files, dirs and symlinks, then rescans to the same state', async () => {
    await withEndpoint(
      { keep: 'K', old: 'O', gone: 'G', d: { x: 'X' } },
      async (endpoint, root) => {
        await stage(endpoint, 'NEW');
        await stage(endpoint, 'O2');
        const changes: Change[] = [
          { path: 'gone', old: fileEntry('G'), new: undefined },
          { path: 'd/x', old: fileEntry('X'), new: undefined },
          { path: 'd', old: DIRECTORY, new: undefined },
          { path: 'old', old: fileEntry('O'), new: fileEntry('O2') },
          { path: 'n', old: undefined, new: DIRECTORY },
          { path: 'n/f', old: undefined, new: fileEntry('NEW', true) },
          { path: 'n/copy', old: undefined, new: fileEntry('K') }, // from a local copy: no staging
          { path: 'l', old: undefined, new: { kind: 'symlink', target: 'n/f' } },
        ];
        const result = await applyOffered(endpoint, changes);
        assert.deepEqual(result.problems, []);
        assert.equal(result.applied.length, changes.length);
        assert.equal(await readFile(`${root}/old`, 'utf8'), 'O2');
        assert.equal(await readFile(`${root}/n/f`, 'utf8'), 'NEW');
        assert.equal((await stat(`${root}/n/f`)).mode & 0o777, 0o755);
        assert.equal((await stat(`${root}/n/copy`)).mode & 0o777, 0o644);
        assert.equal(await readlink(`${root}/l`), 'n/f');
        assert.deepEqual(await listTree(root), ['keep', 'l', 'n', 'n/copy', 'n/f', 'old']);
        const { snapshot } = await endpoint.scan({ full: false });
        assert.deepEqual(snapshot.get('n/f'), fileEntry('NEW', true));
        assert.deepEqual(snapshot.get('old'), fileEntry('O2'));
      },
    );
  });

  it('never clobbers a file that appeared between scan and apply', async () => {
    await withEndpoint({}, async (endpoint, root) => {
      await stage(endpoint, 'ours');
      await writeFile(`${root}/f`, 'theirs');
      const result = await applyOffered(endpoint, [
        { path: 'f', old: undefined, new: fileEntry('ours') },
      ]);
      assert.deepEqual(result.applied, []);
      assert.match(result.problems[0]?.message ?? '', /appeared since scan/);
      assert.equal(await readFile(`${root}/f`, 'utf8'), 'theirs');
      // No temp file left next to the target, and nothing staged.
      assert.deepEqual(await listTree(root), ['f']);
    });
  });

  it('refuses to update or remove a file modified since the scan', async () => {
    await withEndpoint({ f: 'v1', g: 'g1' }, async (endpoint, root) => {
      await stage(endpoint, 'v2');
      await writeFile(`${root}/f`, 'edit'); // a concurrent user edit
      await writeFile(`${root}/g`, 'g1'); // same content, but rewritten: stat differs
      const result = await applyOffered(endpoint, [
        { path: 'f', old: fileEntry('v1'), new: fileEntry('v2') },
        { path: 'g', old: fileEntry('g1'), new: undefined },
      ]);
      assert.deepEqual(result.applied, []);
      assert.deepEqual(
        result.problems.map((p) => p.message),
        ['modified since scan; will retry', 'modified since scan; will retry'],
      );
      assert.equal(await readFile(`${root}/f`, 'utf8'), 'edit');
      assert.equal(await readFile(`${root}/g`, 'utf8'), 'g1');
    });
  });

  it('refuses a change whose old does not match what was scanned', async () => {
    await withEndpoint({ f: 'v1' }, async (endpoint, root) => {
      const result = await applyOffered(endpoint, [
        { path: 'f', old: fileEntry('other'), new: undefined },
      ]);
      assert.equal(result.problems.length, 1);
      assert.equal(await readFile(`${root}/f`, 'utf8'), 'v1');
    });
  });

  it('does not remove a directory holding untracked (ignored) content', async () => {
    await withTempDir(async (dir) => {
      const root = `${dir}/root`;
      await writeTree(root, { d: { 'x.log': 'ignored', a: 'A' } });
      const endpoint = openLocalEndpoint({ root, watch: false, ignore: ['*.log'] });
      try {
        await endpoint.scan({ full: true });
        const result = await applyOffered(endpoint, [
          { path: 'd/a', old: fileEntry('A'), new: undefined },
          { path: 'd', old: DIRECTORY, new: undefined },
        ]);
        assert.equal(result.applied.length, 1);
        assert.deepEqual(result.problems, [
          { path: 'd', message: 'directory contains untracked content; not removed' },
        ]);
        assert.equal(await readFile(`${root}/d/x.log`, 'utf8'), 'ignored');
      } finally {
        await endpoint.close();
      }
    });
  });

  it('replaces a directory with a file only when nothing unsynced is left in it', async () => {
    await withTempDir(async (dir) => {
      const root = `${dir}/root`;
      await writeTree(root, { m: { 'x.log': 'ignored', a: 'unsynced edit' } });
      const endpoint = openLocalEndpoint({ root, watch: false, ignore: ['*.log'] });
      try {
        await endpoint.scan({ full: true });
        await stage(endpoint, 'local file');
        const result = await applyOffered(endpoint, [
          { path: 'm/a', old: fileEntry('unsynced edit'), new: undefined },
          { path: 'm', old: DIRECTORY, new: fileEntry('local file') },
        ]);
        assert.equal(result.applied.length, 0);
        assert.deepEqual(
          result.problems.map((p) => p.path),
          ['m/a', 'm'],
        );
        assert.match(result.problems[1]?.message ?? '', /holds "m\/x.log", which is not synced/);
        assert.equal(await readFile(`${root}/m/a`, 'utf8'), 'unsynced edit');
        assert.equal(await readFile(`${root}/m/x.log`, 'utf8'), 'ignored');
      } finally {
        await endpoint.close();
      }
    });
  });

  it('handles type changes file→dir, dir→file, symlink→file and file→symlink', async () => {
    await withEndpoint(
      { a: 'A', b: { inner: 'I' }, c: { symlink: 'a' }, e: 'E' },
      async (endpoint, root) => {
        await stage(endpoint, 'B-file');
        await stage(endpoint, 'C-file');
        const result = await applyOffered(endpoint, [
          { path: 'b/inner', old: fileEntry('I'), new: undefined },
          { path: 'a', old: fileEntry('A'), new: DIRECTORY },
          { path: 'b', old: DIRECTORY, new: fileEntry('B-file') },
          { path: 'c', old: { kind: 'symlink', target: 'a' }, new: fileEntry('C-file') },
          { path: 'e', old: fileEntry('E'), new: { kind: 'symlink', target: 'b' } },
        ]);
        assert.deepEqual(result.problems, []);
        assert.ok((await lstat(`${root}/a`)).isDirectory());
        assert.equal(await readFile(`${root}/b`, 'utf8'), 'B-file');
        assert.equal(await readFile(`${root}/c`, 'utf8'), 'C-file');
        assert.equal(await readlink(`${root}/e`), 'b');
        const { snapshot } = await endpoint.scan({ full: true });
        assert.deepEqual(snapshot.get('a'), DIRECTORY);
        assert.deepEqual(snapshot.get('e'), { kind: 'symlink', target: 'b' });
      },
    );
  });

  it('changes only the exec bit, keeping other permission bits', async () => {
    await withEndpoint({ s: 'script' }, async (endpoint, root) => {
      await chmod(`${root}/s`, 0o640);
      await endpoint.scan({ full: true });
      const result = await applyOffered(endpoint, [
        { path: 's', old: fileEntry('script'), new: fileEntry('script', true) },
      ]);
      assert.deepEqual(result.problems, []);
      assert.equal((await stat(`${root}/s`)).mode & 0o777, 0o750);
      assert.equal(fileMode(0o750, false), 0o640);
      assert.equal(fileMode(0o4755, true), 0o755); // setuid never survives
    });
  });

  it('keeps an updated file non-exec bits and owner', async () => {
    await withEndpoint({ f: 'v1' }, async (endpoint, root) => {
      await chmod(`${root}/f`, 0o600);
      await chown(`${root}/f`, 1234, 1234);
      await endpoint.scan({ full: true });
      await stage(endpoint, 'v2');
      const result = await applyOffered(endpoint, [
        { path: 'f', old: fileEntry('v1'), new: fileEntry('v2') },
      ]);
      assert.deepEqual(result.problems, []);
      const st = await stat(`${root}/f`);
      assert.equal(st.mode & 0o777, 0o600);
      assert.equal(st.uid, 1234);
    });
  });

  it('gives created paths the owner of their parent directory (or the owner option)', async () => {
    await withEndpoint({ home: {} }, async (endpoint, root) => {
      await chown(`${root}/home`, 1000, 1000);
      await endpoint.scan({ full: true });
      await stage(endpoint, 'mine');
      const result = await applyOffered(endpoint, [
        { path: 'home/f', old: undefined, new: fileEntry('mine') },
        { path: 'home/d', old: undefined, new: DIRECTORY },
        { path: 'home/l', old: undefined, new: { kind: 'symlink', target: 'f' } },
      ]);
      assert.deepEqual(result.problems, []);
      for (const p of ['home/f', 'home/d', 'home/l']) {
        const st = await lstat(`${root}/${p}`);
        assert.deepEqual([st.uid, st.gid], [1000, 1000], p);
      }
    });
    await withTempDir(async (dir) => {
      const endpoint = openLocalEndpoint({
        root: `${dir}/r`,
        watch: false,
        owner: { uid: 7, gid: 8 },
      });
      try {
        await endpoint.scan({ full: true });
        await applyOffered(endpoint, [{ path: '', old: undefined, new: DIRECTORY }]);
        const st = await stat(`${dir}/r`);
        assert.deepEqual([st.uid, st.gid], [7, 8]);
      } finally {
        await endpoint.close();
      }
    });
  });

  it('creates a missing root, staging outside it until it exists', async () => {
    await withTempDir(async (dir) => {
      const root = `${dir}/deep/root`;
      const endpoint = openLocalEndpoint({ root, watch: false });
      try {
        const first = await endpoint.scan({ full: true });
        assert.equal(first.snapshot.size, 0);
        await stage(endpoint, 'hello');
        const result = await applyOffered(endpoint, [
          { path: '', old: undefined, new: DIRECTORY },
          { path: 'h', old: undefined, new: fileEntry('hello') },
        ]);
        assert.deepEqual(result.problems, []);
        assert.equal(await readFile(`${root}/h`, 'utf8'), 'hello');
        assert.deepEqual(await readdir(root), ['h']);
      } finally {
        await endpoint.close();
      }
    });
  });

  it('reports content that is neither staged nor present locally', async () => {
    await withEndpoint({ a: 'A' }, async (endpoint) => {
      assert.deepEqual(await endpoint.missingContent([digestBytes('A'), digestBytes('Z')]), [
        digestBytes('Z'),
      ]);
      const result = await applyOffered(endpoint, [
        { path: 'z', old: undefined, new: fileEntry('Z') },
      ]);
      assert.match(result.problems[0]?.message ?? '', /not staged/);
    });
  });

  it('leaves no staged content in the root when the changes that needed it are refused', async () => {
    await withEndpoint({}, async (endpoint, root) => {
      await stage(endpoint, 'twice');
      // Both targets appear between scan and apply: the content, staged for the second change
      // after the first refused it, is needed by no change once the second is refused too.
      await writeFile(`${root}/a`, 'theirs');
      await writeFile(`${root}/b`, 'theirs');
      const result = await applyOffered(endpoint, [
        { path: 'a', old: undefined, new: fileEntry('twice') },
        { path: 'b', old: undefined, new: fileEntry('twice') },
      ]);
      assert.deepEqual(result.applied, []);
      assert.equal(result.problems.length, 2);
      assert.deepEqual(await listTree(root), ['a', 'b']);
    });
  });

  it('copies staged content used twice in a batch instead of hard-linking', async () => {
    await withEndpoint({}, async (endpoint, root) => {
      await stage(endpoint, 'twice');
      const result = await applyOffered(endpoint, [
        { path: 'a', old: undefined, new: fileEntry('twice') },
        { path: 'b', old: undefined, new: fileEntry('twice', true) },
      ]);
      assert.deepEqual(result.problems, []);
      const [a, b] = [await stat(`${root}/a`), await stat(`${root}/b`)];
      assert.notEqual(a.ino, b.ino);
      assert.equal(a.nlink, 1);
      assert.equal(b.nlink, 1);
    });
  });
});

describe('new directories (built under a temp name, moved into place complete)', () => {
  /**
   * Applies a new tree `n/{a, b, s/c}` then `z`, running `during` (once) when the stream is about
   * to deliver `n/b`: by then `n/a` is written, and `n` is still being built.
   */
  async function applyNewTree(
    endpoint: LocalEndpoint,
    during: () => Promise<void>,
  ): Promise<{ applied: readonly Change[]; problems: readonly { path: string }[] }> {
    const changes: Change[] = [
      { path: 'n', old: undefined, new: DIRECTORY },
      { path: 'n/a', old: undefined, new: fileEntry('A') },
      { path: 'n/b', old: undefined, new: fileEntry('B') },
      { path: 'n/s', old: undefined, new: DIRECTORY },
      { path: 'n/s/c', old: undefined, new: fileEntry('C') },
      { path: 'z', old: undefined, new: fileEntry('Z') },
    ];
    const plain = contentFor(changes, ['A', 'B', 'C', 'Z']);
    async function* stream(): AsyncGenerator<Uint8Array> {
      let chunk = 0;
      for await (const part of plain.stream) {
        // Each file is a status byte and then its content: part 2 is n/b's status byte.
        if (chunk++ === 2) await during();
        yield part;
      }
    }
    const result = await endpoint.apply(changes, { indexes: plain.indexes, stream: stream() });
    return { applied: result.applied, problems: result.problems };
  }

  it('shows nothing under the final name until the whole subtree is written', async () => {
    await withEndpoint({}, async (endpoint, root) => {
      const seen: string[][] = [];
      const result = await applyNewTree(endpoint, async () => {
        seen.push(await listTree(root));
      });
      assert.deepEqual(result.problems, []);
      assert.equal(result.applied.length, 6);
      // Midway, the root held only the temp directory with n/a in it.
      assert.equal(seen.length, 1);
      assert.ok(!(seen[0] ?? []).some((name) => name === 'n' || name.startsWith('n/')));
      assert.ok((seen[0] ?? []).some((name) => /^\.ksync-tmp-[0-9a-f]+\/a$/.test(name)));
      assert.deepEqual(await listTree(root), ['n', 'n/a', 'n/b', 'n/s', 'n/s/c', 'z']);
      assert.equal((await stat(`${root}/n`)).mode & 0o777, 0o755);
      // The cache recorded what is now in place: a fresh scan agrees, and apply trusts it.
      const fresh = openLocalEndpoint({ root, watch: false });
      try {
        const full = await fresh.scan({ full: true });
        const mine = await endpoint.scan({ full: false });
        assert.deepEqual(new Map(mine.snapshot), new Map(full.snapshot));
      } finally {
        await fresh.close();
      }
      const update = await endpoint.apply([{ path: 'n/s/c', old: fileEntry('C'), new: undefined }]);
      assert.deepEqual(update.problems, []);
    });
  });

  it('keeps what appeared under the final name meanwhile, and reports the subtree instead', async () => {
    await withEndpoint({}, async (endpoint, root) => {
      const result = await applyNewTree(endpoint, async () => {
        await mkdir(`${root}/n`);
        await writeFile(`${root}/n/user`, 'mine');
      });
      assert.deepEqual(
        result.applied.map((c) => c.path),
        ['z'],
      );
      assert.deepEqual(
        result.problems.map((p) => p.path),
        ['n', 'n/a', 'n/b', 'n/s', 'n/s/c'],
      );
      assert.deepEqual(await listTree(root), ['n', 'n/user', 'z']);
      assert.equal(await readFile(`${root}/n/user`, 'utf8'), 'mine');
      // The next scan sees the user's directory, not ours.
      const { snapshot } = await endpoint.scan({ full: false });
      assert.deepEqual([...snapshot.keys()].sort(), ['', 'n', 'n/user', 'z']);
    });
  });

  it('replaces an empty directory made meanwhile (it held nothing to lose)', async () => {
    await withEndpoint({}, async (endpoint, root) => {
      const result = await applyNewTree(endpoint, async () => {
        await mkdir(`${root}/n`);
      });
      assert.deepEqual(result.problems, []);
      assert.deepEqual(await listTree(root), ['n', 'n/a', 'n/b', 'n/s', 'n/s/c', 'z']);
    });
  });

  it('moves in what it wrote when the stream breaks midway, and reports the rest', async () => {
    await withEndpoint({}, async (endpoint, root) => {
      const result = await applyNewTree(endpoint, () => {
        throw new Error('connection lost');
      });
      assert.deepEqual(
        result.applied.map((c) => c.path),
        ['n', 'n/a', 'n/s'],
      );
      assert.deepEqual(
        result.problems.map((p) => p.path),
        ['n/b', 'n/s/c', 'z'],
      );
      assert.deepEqual(await listTree(root), ['n', 'n/a', 'n/s']);
    });
  });
});

describe('confinement', () => {
  it('never changes a hard-linked file in place: its other name may be outside the root', async () => {
    await withEndpoint({}, async (endpoint, root, dir) => {
      await writeFile(`${dir}/outside`, 'shared\n', { mode: 0o644 });
      await link(`${dir}/outside`, `${root}/hard`);
      await endpoint.scan({ full: true });
      const result = await endpoint.apply([
        { path: 'hard', old: fileEntry('shared\n'), new: fileEntry('shared\n', true) },
      ]);
      assert.deepEqual(result.problems, []);
      assert.equal((await stat(`${root}/hard`)).mode & 0o777, 0o755);
      assert.equal((await stat(`${root}/hard`)).nlink, 1);
      const outside = await stat(`${dir}/outside`);
      assert.equal(outside.mode & 0o777, 0o644, 'the outside name keeps its mode');
      assert.equal(await readFile(`${dir}/outside`, 'utf8'), 'shared\n');
      const { snapshot } = await endpoint.scan({ full: false });
      assert.deepEqual(snapshot.get('hard'), fileEntry('shared\n', true));
    });
  });

  it('refuses hostile paths and writes nothing outside the root', async () => {
    await withTempDir(async (dir) => {
      const root = `${dir}/root`;
      await writeTree(dir, { outside: { victim: 'V' } });
      await writeTree(root, { real: {} });
      await symlink(`${dir}/outside`, `${root}/link`);
      await symlink('/tmp', `${root}/tmplink`);
      const endpoint = openLocalEndpoint({ root, watch: false });
      try {
        await endpoint.scan({ full: true });
        await stage(endpoint, 'evil');
        const evil = fileEntry('evil');
        const hostile = [
          '../x',
          '/etc/passwd',
          'a/../../x',
          'link/victim',
          'link/new',
          'tmplink/ksync-evil',
          'real/./x',
          'real//x',
          '',
        ];
        const result = await applyOffered(
          endpoint,
          hostile.map((path) => ({ path, old: undefined, new: path === '' ? undefined : evil })),
        );
        assert.deepEqual(result.applied, []);
        assert.equal(result.problems.length, hostile.length);
        assert.deepEqual(await listTree(`${dir}/outside`), ['victim']);
        assert.equal(await readFile(`${dir}/outside/victim`, 'utf8'), 'V');
        await assert.rejects(stat('/tmp/ksync-evil'));
        await assert.rejects(stat(`${dir}/x`));
        // A symlink whose target escapes is refused too, and reading through a link is refused.
        const links = await applyOffered(endpoint, [
          { path: 'esc', old: undefined, new: { kind: 'symlink', target: '../outside/victim' } },
        ]);
        assert.match(links.problems[0]?.message ?? '', /outside the sync root/);
        await assert.rejects(async () => {
          for await (const _ of endpoint.readContent('link/victim', digestBytes('V'))) void _;
        }, /symlink/);
        await rm(`${root}/link`);
      } finally {
        await endpoint.close();
      }
      assert.deepEqual(await listTree(`${dir}/outside`), ['victim']);
    });
  });

  it('does not replace a planted staging symlink target', async () => {
    await withTempDir(async (dir) => {
      const root = `${dir}/root`;
      await writeTree(dir, { outside: {} });
      await mkdir(root);
      await symlink(`${dir}/outside`, `${root}/.ksync-tmp-staging`);
      const endpoint = openLocalEndpoint({ root, watch: false });
      try {
        await stage(endpoint, 'x');
        assert.deepEqual(await listTree(`${dir}/outside`), []);
      } finally {
        await endpoint.close();
      }
    });
  });
});
