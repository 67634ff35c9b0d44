import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { queryObjects } from 'node:v8';
import { mkdir, readdir, rename, symlink, unlink, writeFile } from 'node:fs/promises';
import { entriesEqual, type Snapshot } from '@ksync/core';
import { digestBytes, hashFile, type FileHasher } from './hash.ts';
import { openLocalEndpoint, type LocalEndpoint } from './local-endpoint.ts';
import { contentFor, sleep, waitFor, withTempDir, writeTree } from './test-helpers.ts';
import { TrackedStatCache } from './tracked-stat-cache.ts';

interface Harness {
  readonly endpoint: LocalEndpoint;
  readonly root: string;
  readonly hashed: string[];
  events: number;
  readonly warnings: string[];
}

async function withWatchedEndpoint(
  spec: Parameters<typeof writeTree>[1],
  body: (h: Harness) => Promise<void>,
  extra: { ignore?: string[] } = {},
): Promise<void> {
  await withTempDir(async (dir) => {
    const root = `${dir}/root`;
    await writeTree(root, spec);
    const hashed: string[] = [];
    const hasher: FileHasher = (absolute, expected) => {
      hashed.push(absolute.slice(root.length + 1));
      return hashFile(absolute, expected);
    };
    const warnings: string[] = [];
    const endpoint = openLocalEndpoint({
      root,
      hasher,
      onWarning: (m) => warnings.push(m),
      ...(extra.ignore ? { ignore: extra.ignore } : {}),
    });
    const h: Harness = { endpoint, root, hashed, events: 0, warnings };
    endpoint.watch(() => h.events++);
    try {
      await endpoint.scan({ full: false });
      hashed.length = 0;
      await body(h);
    } finally {
      await endpoint.close();
    }
  });
}

/** The entry of a regular file holding `content`. */
function fileEntry(content: string) {
  return {
    kind: 'file',
    digest: digestBytes(content),
    executable: false,
    size: Buffer.byteLength(content),
  } as const;
}

/** Waits until the watcher reported something and then stayed quiet for 100 ms. */
async function settle(h: Harness): Promise<void> {
  await waitFor(() => h.events > 0, 5000, 'a watcher event');
  let seen = -1;
  while (seen !== h.events) {
    seen = h.events;
    await sleep(100);
  }
  h.events = 0;
}

/**
 * Scans and checks that the result's `changes` name exactly the paths that differ from `before`
 * (a copy of the previous result), each with its entry there. Returns the new snapshot.
 */
async function scanChanged(h: Harness, before: Snapshot): Promise<Snapshot> {
  const { snapshot, changes } = await h.endpoint.scan({ full: false });
  assert.deepEqual([...(changes?.keys() ?? [])].sort(), diff(before, snapshot));
  for (const [path, old] of changes ?? []) assert.deepEqual(old, before.get(path));
  return snapshot;
}

function diff(before: Snapshot, after: Snapshot): string[] {
  const paths = new Set([...before.keys(), ...after.keys()]);
  return [...paths].filter((p) => !entriesEqual(before.get(p), after.get(p))).sort();
}

async function assertMatchesFullScan(h: Harness, incremental: Snapshot): Promise<void> {
  const fresh = openLocalEndpoint({ root: h.root, watch: false });
  const full = await fresh.scan({ full: true });
  await fresh.close();
  assert.deepEqual(diff(full.snapshot, incremental), []);
}

describe('LocalEndpoint with a real watcher', () => {
  it('notices an edit and rescans only that file', async () => {
    await withWatchedEndpoint({ a: 'A', d: { b: 'B', c: 'C' } }, async (h) => {
      const before = new Map((await h.endpoint.scan({ full: false })).snapshot);
      await writeFile(`${h.root}/d/b`, 'B2');
      await settle(h);
      const after = await scanChanged(h, before);
      assert.deepEqual(diff(before, after), ['d/b']);
      assert.deepEqual(h.hashed, ['d/b']);
      await assertMatchesFullScan(h, after);
    });
  });

  it('sees creates, deletes and directory renames incrementally', async () => {
    await withWatchedEndpoint({ a: 'A', d: { b: 'B', e: { f: 'F' } } }, async (h) => {
      const before = new Map((await h.endpoint.scan({ full: false })).snapshot);
      await rename(`${h.root}/d`, `${h.root}/d2`);
      await mkdir(`${h.root}/n/m`, { recursive: true });
      await writeFile(`${h.root}/n/m/x`, 'X');
      await unlink(`${h.root}/a`);
      await settle(h);
      const after = await scanChanged(h, before);
      assert.deepEqual(diff(before, after), [
        'a',
        'd',
        'd/b',
        'd/e',
        'd/e/f',
        'd2',
        'd2/b',
        'd2/e',
        'd2/e/f',
        'n',
        'n/m',
        'n/m/x',
      ]);
      // The renamed files keep their inode and stat, so only the new file is hashed... except
      // that a rename moves ctime on Linux, so the moved files are re-hashed too.
      assert.ok(h.hashed.includes('n/m/x'));
      await assertMatchesFullScan(h, after);
    });
  });

  for (const [editor, save] of [
    [
      'vim (backupcopy=no: 4913 probe, rename to f~, write new f, delete f~)',
      async (root: string) => {
        await writeFile(`${root}/4913`, '');
        await unlink(`${root}/4913`);
        await rename(`${root}/f`, `${root}/f~`);
        await writeFile(`${root}/f`, 'saved by vim');
        await unlink(`${root}/f~`);
      },
    ],
    [
      'JetBrains safe write (f___jb_tmp___, f → f___jb_old___, tmp → f, delete old)',
      async (root: string) => {
        await writeFile(`${root}/f___jb_tmp___`, 'saved by idea');
        await rename(`${root}/f`, `${root}/f___jb_old___`);
        await rename(`${root}/f___jb_tmp___`, `${root}/f`);
        await unlink(`${root}/f___jb_old___`);
      },
    ],
    [
      'Emacs (.#f lock symlink, rename f → f~ backup, write f, unlock)',
      async (root: string) => {
        await symlink('user@host.1234:1700000000', `${root}/.#f`);
        await rename(`${root}/f`, `${root}/f~`);
        await writeFile(`${root}/f`, 'saved by emacs');
        await unlink(`${root}/.#f`);
      },
    ],
  ] as const) {
    it(`converges a ${editor} to one content change`, async () => {
      await withWatchedEndpoint({ f: 'original', other: 'O' }, async (h) => {
        const before = new Map((await h.endpoint.scan({ full: false })).snapshot);
        await save(h.root);
        await settle(h);
        const { snapshot, problems } = await h.endpoint.scan({ full: false });
        assert.deepEqual(diff(before, snapshot), ['f']);
        assert.equal(snapshot.get('f')?.kind, 'file');
        assert.deepEqual(problems, []);
        await assertMatchesFullScan(h, snapshot);
      });
    });
  }

  it('does not announce the echo of its own writes, and reads nothing for it', async () => {
    await withWatchedEndpoint({ d: {} }, async (h) => {
      await sleep(50); // `d` is then recorded as not racy
      const initial = new Map((await h.endpoint.scan({ full: false })).snapshot);
      const changes = [
        { path: 'd/f', old: undefined, new: fileEntry('applied') },
        { path: 'e', old: undefined, new: { kind: 'directory' } as const },
        { path: 'e/g', old: undefined, new: fileEntry('also applied') },
      ];
      const result = await h.endpoint.apply(
        changes,
        contentFor(changes, ['applied', 'also applied']),
      );
      assert.deepEqual(result.problems, []);
      // The watcher sees these writes within its 10 ms batching; none of them is announced.
      await sleep(500);
      assert.equal(h.events, 0);
      const after = new Map(await scanChanged(h, initial));
      assert.deepEqual(diff(initial, after), ['d/f', 'e', 'e/g']);
      assert.deepEqual(h.hashed, []);
      await assertMatchesFullScan(h, after);
      // A user's edit afterwards is announced as ever.
      await writeFile(`${h.root}/d/f`, 'user!!!');
      await settle(h);
      assert.deepEqual(diff(after, await scanChanged(h, after)), ['d/f']);
    });
  });

  it('announces a user write made while its own writes are being reported', async () => {
    await withWatchedEndpoint({ d: { u: 'U' } }, async (h) => {
      await sleep(50);
      const initial = new Map((await h.endpoint.scan({ full: false })).snapshot);
      const changes = [{ path: 'd/f', old: undefined, new: fileEntry('applied') }];
      const result = await h.endpoint.apply(changes, contentFor(changes, ['applied']));
      assert.deepEqual(result.problems, []);
      // Right after our write, in the same batch of events: a same-size rewrite of our file and
      // an edit of another one.
      await writeFile(`${h.root}/d/f`, 'APPLIED');
      await writeFile(`${h.root}/d/u`, 'V');
      await settle(h);
      const after = await scanChanged(h, initial);
      assert.deepEqual(diff(initial, after), ['d/f', 'd/u']);
      assert.deepEqual(after.get('d/f'), fileEntry('APPLIED'));
      await assertMatchesFullScan(h, after);
    });
  });

  it('picks up .ksyncignore edits with a full rescan', async () => {
    await withWatchedEndpoint({ 'a.log': 'L', b: 'B', gen: { x: 'X' } }, async (h) => {
      let { snapshot } = await h.endpoint.scan({ full: false });
      assert.ok(snapshot.has('a.log'));
      await writeFile(`${h.root}/.ksyncignore`, '*.log\ngen/\n');
      await settle(h);
      ({ snapshot } = await h.endpoint.scan({ full: false }));
      assert.deepEqual([...snapshot.keys()].sort(), ['', '.ksyncignore', 'b']);
      await writeFile(`${h.root}/.ksyncignore`, '*.log\n');
      await settle(h);
      ({ snapshot } = await h.endpoint.scan({ full: false }));
      assert.deepEqual([...snapshot.keys()].sort(), ['', '.ksyncignore', 'b', 'gen', 'gen/x']);
      // The un-ignored directory is watched again.
      await writeFile(`${h.root}/gen/y`, 'Y');
      await settle(h);
      ({ snapshot } = await h.endpoint.scan({ full: false }));
      assert.ok(snapshot.has('gen/y'));
    });
  });

  it('watches a root that does not exist yet and sees it appear', async () => {
    await withTempDir(async (dir) => {
      const root = `${dir}/later`;
      const endpoint = openLocalEndpoint({ root });
      let events = 0;
      endpoint.watch(() => events++);
      try {
        assert.equal((await endpoint.scan({ full: false })).snapshot.size, 0);
        await mkdir(`${root}/sub`, { recursive: true });
        await writeFile(`${root}/sub/b`, 'B');
        await waitFor(() => events > 0, 5000, 'root creation event');
        await waitFor(
          async () => (await endpoint.scan({ full: false })).snapshot.has('sub/b'),
          5000,
          'sub/b in the snapshot',
        );
      } finally {
        await endpoint.close();
      }
    });
  });

  it('removes leftover temp files at start and never reports them', async () => {
    await withTempDir(async (dir) => {
      const root = `${dir}/root`;
      await writeTree(root, {
        a: 'A',
        '.ksync-tmp-0123': 'partial',
        d: { '.ksync-tmp-4567': 'partial' },
        '.ksync-tmp-staging': { 'abcd-1': 'staged' },
      });
      const endpoint = openLocalEndpoint({ root, watch: false });
      try {
        const { snapshot } = await endpoint.scan({ full: false });
        assert.deepEqual([...snapshot.keys()].sort(), ['', 'a', 'd']);
        assert.deepEqual((await readdir(root)).sort(), ['a', 'd']);
        assert.deepEqual(await readdir(`${root}/d`), []);
      } finally {
        await endpoint.close();
      }
    });
  });
});

describe('inotify exhaustion', () => {
  it('degrades to polling the unwatched subtrees, warns, and still sees every edit', async (t) => {
    try {
      execFileSync('unshare', ['-Ur', 'true']);
    } catch {
      t.skip('unprivileged user namespaces are not available');
      return;
    }
    await withTempDir(async (dir) => {
      const root = `${dir}/root`;
      const spec: Record<string, Record<string, string>> = {};
      for (let i = 0; i < 40; i++) spec[`d${i}`] = { f: 'v1' };
      await writeTree(root, spec);
      // The child runs in its own user namespace, where the inotify limit is per-namespace
      // (/proc/sys/user/max_inotify_watches), so lowering it there leaves the host untouched.
      const endpointUrl = new URL('./local-endpoint.ts', import.meta.url).href;
      const script = `
        import { writeFileSync } from 'node:fs';
        import { openLocalEndpoint } from ${JSON.stringify(endpointUrl)};
        const root = ${JSON.stringify(root)};
        const warnings = [];
        let events = 0;
        const endpoint = openLocalEndpoint({ root, pollIntervalMs: 200, onWarning: (m) => warnings.push(m) });
        endpoint.watch(() => events++);
        const before = new Map((await endpoint.scan({ full: false })).snapshot);
        await new Promise((r) => setTimeout(r, 300));
        for (let i = 0; i < 40; i++) writeFileSync(root + '/d' + i + '/f', 'v2-' + i);
        const deadline = Date.now() + 5000;
        let changed = 0;
        while (Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 250));
          const after = (await endpoint.scan({ full: false })).snapshot;
          changed = [...after].filter(([p, e]) => p.endsWith('/f') && e.digest !== before.get(p)?.digest).length;
          if (changed === 40) break;
        }
        const polled = endpoint.polledPaths();
        await endpoint.close();
        process.stdout.write(JSON.stringify({ warnings, changed, polled, events: events > 0 }));
      `;
      const out = execFileSync(
        'unshare',
        [
          '-Ur',
          'sh',
          '-c',
          'echo 12 > /proc/sys/user/max_inotify_watches && exec "$0" --input-type=module -e "$1"',
          process.execPath,
          script,
        ],
        { cwd: process.cwd(), timeout: 30_000 },
      );
      const result = JSON.parse(out.toString()) as {
        warnings: string[];
        changed: number;
        polled: string[];
        events: boolean;
      };
      assert.ok(result.polled.length > 0, 'some directories are polled');
      assert.equal(result.warnings.length, 1);
      assert.match(result.warnings[0] ?? '', /inotify watches.*max_user_watches/);
      assert.equal(result.changed, 40);
      assert.ok(result.events);
    });
  });
});

describe('LocalEndpoint memory', () => {
  it('keeps one stat cache alive across full scans while it saves them', async () => {
    await withTempDir(async (dir) => {
      const root = `${dir}/root`;
      await writeTree(root, { a: 'A', d: { b: 'B' } });
      const endpoint = openLocalEndpoint({
        root,
        watch: false,
        statCacheFile: `${dir}/stat-cache`,
      });
      try {
        // Every scan is full without a watcher; the first one is saved at once, the later ones
        // only after a minute, so the first cache is no longer the current one.
        for (let i = 0; i < 3; i++) await endpoint.scan({ full: true });
        await sleep(50); // the save in flight
        // queryObjects collects garbage first, then counts what is still reachable.
        assert.equal(queryObjects(TrackedStatCache, { format: 'count' }), 1);
      } finally {
        await endpoint.close();
      }
    });
  });
});
