/**
 * The engine end to end in one process: a running Session between two real directories, with
 * real inotify watchers, nedb state and the file conflict store. Edits are made with plain fs
 * calls, the way editors and tools make them.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { TEMP_PREFIX } from '@ksync/core';
import { startPair, waitFor, type EnginePair } from './helpers/engine-pair.ts';

const read = (path: string): string | undefined =>
  existsSync(path) ? readFileSync(path, 'utf8') : undefined;

/** Every file under `dir` (relative path → content), skipping ksync's temp names. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    for (const d of readdirSync(join(dir, rel), { withFileTypes: true })) {
      if (d.name.startsWith(TEMP_PREFIX)) continue;
      const path = rel === '' ? d.name : `${rel}/${d.name}`;
      if (d.isDirectory()) {
        out[`${path}/`] = '';
        walk(path);
      } else if (d.isSymbolicLink()) out[path] = `-> ${readlinkSync(join(dir, path))}`;
      else out[path] = readFileSync(join(dir, path), 'utf8');
    }
  };
  walk('');
  return out;
}

const pairs: EnginePair[] = [];
after(async () => {
  for (const p of pairs) await p.close();
});

async function pair(options: Parameters<typeof startPair>[0] = {}): Promise<EnginePair> {
  const p = await startPair(options);
  pairs.push(p);
  await p.session.flush();
  return p;
}

describe('engine: two real directories', () => {
  it('syncs edits both ways, including new directories', async () => {
    const p = await pair();
    writeFileSync(join(p.local, 'a.txt'), 'from local');
    mkdirSync(join(p.remote, 'gen/deep'), { recursive: true });
    writeFileSync(join(p.remote, 'gen/deep/out.js'), 'generated');
    await waitFor('local edit on remote', () => read(join(p.remote, 'a.txt')) === 'from local');
    await waitFor(
      'remote edit locally',
      () => read(join(p.local, 'gen/deep/out.js')) === 'generated',
    );
    writeFileSync(join(p.remote, 'a.txt'), 'edited in container');
    await waitFor('edit back', () => read(join(p.local, 'a.txt')) === 'edited in container');
    assert.equal(p.session.conflicts().length, 0);
  });

  it('concurrent edits: local wins on both sides and the remote version is kept', async () => {
    const p = await pair();
    writeFileSync(join(p.local, 'c.txt'), 'base');
    await waitFor('base synced', () => read(join(p.remote, 'c.txt')) === 'base');
    await p.session.pause();
    writeFileSync(join(p.local, 'c.txt'), 'local edit');
    writeFileSync(join(p.remote, 'c.txt'), 'remote edit');
    await p.session.resume();
    await p.session.flush();
    assert.equal(read(join(p.remote, 'c.txt')), 'local edit');
    const [conflict] = p.session.conflicts();
    assert.equal(conflict?.path, 'c.txt');
    assert.equal(conflict?.state, 'local-kept');
    const saved = join(p.state, 'conflicts', conflict?.id ?? '', 'c.txt');
    assert.equal(read(saved), 'remote edit', 'the losing version is in the conflict store');

    await p.session.resolve('c.txt', 'remote');
    await p.session.flush();
    assert.equal(read(join(p.local, 'c.txt')), 'remote edit');
    assert.equal(read(join(p.remote, 'c.txt')), 'remote edit');
  });

  it('propagates deletes, renames and directory moves', async () => {
    const p = await pair();
    mkdirSync(join(p.local, 'src/lib'), { recursive: true });
    writeFileSync(join(p.local, 'src/lib/x.ts'), 'x'.repeat(10_000));
    writeFileSync(join(p.local, 'gone.txt'), 'bye');
    await p.session.flush();
    unlinkSync(join(p.local, 'gone.txt'));
    renameSync(join(p.local, 'src/lib'), join(p.local, 'src/util'));
    await waitFor('move on remote', () => existsSync(join(p.remote, 'src/util/x.ts')));
    await p.session.flush();
    assert.deepEqual(tree(p.remote), tree(p.local));
    assert.equal(existsSync(join(p.remote, 'gone.txt')), false);
  });

  it('a rename moves no content bytes', async () => {
    const p = await pair({ manual: true });
    writeFileSync(join(p.local, 'big.bin'), Buffer.alloc(1 << 20, 7));
    await p.session.flush();
    renameSync(join(p.local, 'big.bin'), join(p.local, 'renamed.bin'));
    const report = await p.session.cycle({ full: true });
    assert.equal(report.transferredBytes, 0);
    assert.equal(statSync(join(p.remote, 'renamed.bin')).size, 1 << 20);
    assert.equal(existsSync(join(p.remote, 'big.bin')), false);
  });

  it('handles a directory replaced by a file and back', async () => {
    const p = await pair();
    mkdirSync(join(p.local, 'node'));
    writeFileSync(join(p.local, 'node/child'), 'c');
    await p.session.flush();
    rmSync(join(p.local, 'node'), { recursive: true });
    writeFileSync(join(p.local, 'node'), 'now a file');
    await p.session.flush();
    assert.equal(read(join(p.remote, 'node')), 'now a file');
    rmSync(join(p.remote, 'node'));
    mkdirSync(join(p.remote, 'node'));
    writeFileSync(join(p.remote, 'node/again'), 'dir again');
    await p.session.flush();
    assert.equal(read(join(p.local, 'node/again')), 'dir again');
  });

  it('syncs symlinks inside the root and the exec bit; refuses escaping links', async () => {
    const p = await pair();
    writeFileSync(join(p.local, 'run.sh'), '#!/bin/sh\necho hi\n');
    symlinkSync('run.sh', join(p.local, 'link'));
    symlinkSync('/etc/passwd', join(p.local, 'escape'));
    // Everything else lands; the escaping link is a problem, so flush does not claim success.
    const flushed = await p.session.flush();
    assert.deepEqual(
      flushed.problems.map((x) => [x.side, x.path, x.message]),
      [['local', 'escape', 'symlink points outside the sync root; not synced']],
    );
    assert.equal(readlinkSync(join(p.remote, 'link')), 'run.sh');
    assert.equal(existsSync(join(p.remote, 'escape')), false);
    assert.ok(p.session.status().problems.some((x) => x.path === 'escape'));
    unlinkSync(join(p.local, 'escape'));
    chmodSync(join(p.local, 'run.sh'), 0o755);
    await p.session.flush();
    assert.equal(statSync(join(p.remote, 'run.sh')).mode & 0o111, 0o111);
  });

  it("sees vim's and JetBrains' save sequences as one content change", async () => {
    const p = await pair();
    writeFileSync(join(p.local, 'app.py'), 'v1');
    await p.session.flush();
    // vim (backupcopy=no): probe file 4913, rename the original to a backup, write anew.
    writeFileSync(join(p.local, '4913'), '');
    unlinkSync(join(p.local, '4913'));
    renameSync(join(p.local, 'app.py'), join(p.local, 'app.py~'));
    writeFileSync(join(p.local, 'app.py'), 'v2 from vim');
    unlinkSync(join(p.local, 'app.py~'));
    await waitFor('vim save', () => read(join(p.remote, 'app.py')) === 'v2 from vim');
    // JetBrains safe write: write a temp, rename the original away, rename the temp in.
    writeFileSync(join(p.local, 'app.py___jb_tmp___'), 'v3 from idea');
    renameSync(join(p.local, 'app.py'), join(p.local, 'app.py___jb_old___'));
    renameSync(join(p.local, 'app.py___jb_tmp___'), join(p.local, 'app.py'));
    unlinkSync(join(p.local, 'app.py___jb_old___'));
    await waitFor('idea save', () => read(join(p.remote, 'app.py')) === 'v3 from idea');
    await p.session.flush();
    assert.deepEqual(Object.keys(tree(p.remote)).sort(), ['app.py']);
    assert.equal(p.session.conflicts().length, 0);
  });

  it('halts instead of propagating an emptied remote root, and resets to re-seed it', async () => {
    const p = await pair();
    for (let i = 0; i < 5; i++) writeFileSync(join(p.local, `f${i}`), `${i}`);
    await p.session.flush();
    // Emptied at once, as a container restart without a volume does.
    await p.session.pause();
    for (const name of readdirSync(p.remote)) rmSync(join(p.remote, name), { recursive: true });
    await p.session.resume();
    await waitFor('halt', () => p.session.status().state === 'halted-root-emptied');
    assert.equal(readdirSync(p.local).length, 5, 'nothing deleted locally');
    await p.session.reset();
    await p.session.flush();
    assert.equal(readdirSync(p.remote).filter((n) => !n.startsWith(TEMP_PREFIX)).length, 5);
  });

  it('halts on a remote root emptied file by file while the sync runs, deleting nothing locally', async () => {
    const p = await pair();
    for (let i = 0; i < 5; i++) writeFileSync(join(p.local, `f${i}`), `${i}`);
    await p.session.flush();
    // One file at a time, each gap long enough for the watcher to start a cycle, each shorter
    // than the deletion hold: a cleanup loop in the container, or an `rm` caught mid-way.
    for (let i = 0; i < 5; i++) {
      unlinkSync(join(p.remote, `f${i}`));
      await new Promise((r) => setTimeout(r, 700));
    }
    await waitFor('halt', () => p.session.status().state === 'halted-root-emptied');
    assert.deepEqual(Object.keys(tree(p.local)).sort(), ['f0', 'f1', 'f2', 'f3', 'f4']);
  });

  it('halts on a deleted root and on a cycle over the deletion bound', async () => {
    const p = await pair({ deletionBound: 3 });
    for (let i = 0; i < 6; i++) writeFileSync(join(p.local, `f${i}`), `${i}`);
    await p.session.flush();
    for (let i = 0; i < 5; i++) unlinkSync(join(p.local, `f${i}`));
    await waitFor('deletion halt', () => p.session.status().state === 'halted-deletion-bound');
    assert.equal(readdirSync(p.remote).filter((n) => n.startsWith('f')).length, 6);
    await p.session.resume();
    await p.session.flush();
    assert.deepEqual(
      readdirSync(p.remote).filter((n) => !n.startsWith(TEMP_PREFIX)),
      ['f5'],
    );

    rmSync(p.remote, { recursive: true });
    await waitFor('root halt', () => p.session.status().state === 'halted-root-deleted');
    assert.deepEqual(readdirSync(p.local), ['f5'], 'nothing deleted locally');
  });

  it('syncs a 10,000-file tree', async () => {
    const p = await pair({ manual: true });
    for (let d = 0; d < 100; d++) {
      mkdirSync(join(p.local, `d${d}`));
      for (let f = 0; f < 100; f++) writeFileSync(join(p.local, `d${d}/f${f}.txt`), `${d}/${f}`);
    }
    const started = Date.now();
    const report = await p.session.flush();
    const ms = Date.now() - started;
    assert.equal(report.inSync, true);
    assert.equal(p.session.status().files, 10_000);
    assert.equal(read(join(p.remote, 'd99/f99.txt')), '99/99');
    console.log(`# 10k-file initial sync: ${ms} ms`);
  });
});

describe('engine: crash safety', () => {
  it('a sync killed in the middle of applying resumes with no loss and no torn file', async () => {
    const base = mkdtempSync(join(tmpdir(), 'ksync-crash-'));
    const local = join(base, 'local');
    mkdirSync(local, { recursive: true });
    const content = (i: number): string => `file ${i} `.repeat(2000);
    for (let i = 0; i < 2000; i++) writeFileSync(join(local, `f${i}.txt`), content(i));
    // A child process runs the first sync; it is killed once files start landing remotely.
    const child = spawn(
      process.execPath,
      [join(import.meta.dirname, 'helpers/engine-flush.ts'), base],
      {
        stdio: 'inherit',
      },
    );
    const remote = join(base, 'remote');
    await waitFor(
      'first files landing',
      () => existsSync(remote) && readdirSync(remote).length > 50,
      30_000,
    );
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const landed = readdirSync(remote).filter((n) => !n.startsWith(TEMP_PREFIX)).length;
    assert.ok(landed < 2000, `killed mid-apply (${landed} of 2000 landed)`);
    for (const name of readdirSync(remote)) {
      if (name.startsWith(TEMP_PREFIX) || lstatSync(join(remote, name)).isDirectory()) continue;
      const i = Number(name.slice(1, -4));
      assert.equal(read(join(remote, name)), content(i), `${name} is whole`);
    }
    // Restart on the same state: it completes, and nothing is lost or conflicting.
    const p = await startPair({ base, manual: true });
    try {
      await p.session.flush();
      assert.equal(readdirSync(remote).filter((n) => !n.startsWith(TEMP_PREFIX)).length, 2000);
      assert.equal(read(join(remote, 'f1999.txt')), content(1999));
      assert.equal(p.session.conflicts().length, 0);
    } finally {
      await p.close();
      rmSync(base, { recursive: true, force: true });
    }
  });
});
