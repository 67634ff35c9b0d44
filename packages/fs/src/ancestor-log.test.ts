import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFile, copyFile, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DIRECTORY, type AncestorUpdate, type Entry } from '@ksync/core';
import { AncestorLog } from './ancestor-log.ts';
import { withTempDir } from './test-helpers.ts';

const file = (digest: string): Entry => ({ kind: 'file', digest, executable: false, size: 1 });
/** A file entry with a full-length digest, so that many of them make a log of realistic size. */
const numbered = (i: number): Entry => file(String(i).padStart(64, '0'));

/** Opens the log in `dir`, collecting its warnings. */
async function openWithWarnings(dir: string): Promise<{ log: AncestorLog; warnings: string[] }> {
  const warnings: string[] = [];
  const log = await AncestorLog.open(dir, { onWarning: (m) => warnings.push(m) });
  return { log, warnings };
}

const contents = (log: AncestorLog): Record<string, Entry> => Object.fromEntries(log.snapshot());

/** Flips one byte of `path` at `offset` from the end. */
async function corrupt(path: string, fromEnd: number): Promise<void> {
  const bytes = await readFile(path);
  const at = bytes.length - fromEnd;
  bytes[at] = (bytes[at] as number) ^ 0x01;
  await writeFile(path, bytes);
}

describe('AncestorLog', () => {
  it('keeps updates across reopen, and folds a batch that would outgrow the base into it', async () => {
    await withTempDir(async (dir) => {
      const log = await AncestorLog.open(dir);
      await log.update([
        { path: '', entry: DIRECTORY },
        { path: 'a', entry: file('1') },
      ]);
      await assert.rejects(stat(join(dir, 'ancestor.snap')), { code: 'ENOENT' });
      const many: AncestorUpdate[] = [];
      for (let i = 0; i < 20_000; i++) many.push({ path: `f${i}`, entry: numbered(i) });
      // Larger than the (empty) base and 1 MiB: written as a new base, with an empty log.
      await log.update(many);
      assert.ok((await stat(join(dir, 'ancestor.snap')).then((s) => s.size)) > 1 << 20);
      assert.ok((await stat(join(dir, 'ancestor.log'))).size < 100);
      await log.update([
        { path: 'f0', entry: undefined },
        { path: 'f1', entry: file('x') },
        { path: 'l', entry: { kind: 'symlink', target: 'f1' } },
        { path: 'e', entry: { ...(file('y') as object), executable: true } as Entry },
      ]);
      assert.ok((await stat(join(dir, 'ancestor.log'))).size > 100, 'small batches are appended');
      const again = await AncestorLog.open(dir);
      const expected = log.snapshot();
      assert.equal(expected.size, 20_003);
      assert.deepEqual(again.snapshot(), expected);
      assert.equal(again.snapshot().get('f0'), undefined);
      assert.deepEqual(again.snapshot().get('a'), file('1'));
      await again.clear();
      assert.equal((await AncestorLog.open(dir)).snapshot().size, 0);
    });
  });

  it('drops a torn last record (crash mid-append), and appends after it cleanly', async () => {
    await withTempDir(async (dir) => {
      const log = await AncestorLog.open(dir);
      await log.update([
        { path: '', entry: DIRECTORY },
        { path: 'a', entry: file('1') },
      ]);
      await appendFile(join(dir, 'ancestor.log'), '1234abcd [["b","f","2",1');
      const { log: reopened, warnings } = await openWithWarnings(dir);
      assert.deepEqual(contents(reopened), { '': DIRECTORY, a: file('1') });
      assert.match(warnings.join('\n'), /torn or corrupt record; it was dropped/);
      await reopened.update([{ path: 'c', entry: file('3') }]);
      const { log: third, warnings: none } = await openWithWarnings(dir);
      assert.deepEqual(contents(third), { '': DIRECTORY, a: file('1'), c: file('3') });
      assert.deepEqual(none, []);
    });
  });

  it('stops at a corrupt record: later records are never applied without it', async () => {
    await withTempDir(async (dir) => {
      const log = await AncestorLog.open(dir);
      await log.update([{ path: '', entry: DIRECTORY }]);
      await log.update([{ path: 'a', entry: file('1') }]);
      const path = join(dir, 'ancestor.log');
      const afterSecond = (await readFile(path)).length;
      await log.update([{ path: 'a', entry: undefined }]);
      await log.update([{ path: 'b', entry: file('2') }]);
      const bytes = await readFile(path);
      // One bit of the third record's path flips: its checksum fails.
      const at = bytes.indexOf('"a"', afterSecond) + 1;
      bytes[at] = (bytes[at] as number) ^ 0x02;
      await writeFile(path, bytes);
      const { log: reopened, warnings } = await openWithWarnings(dir);
      assert.deepEqual(contents(reopened), { '': DIRECTORY, a: file('1') });
      assert.equal(warnings.length, 1);
    });
  });

  it('stops at a record whose checksum holds but whose entry is malformed', async () => {
    await withTempDir(async (dir) => {
      const log = await AncestorLog.open(dir);
      await log.update([{ path: '', entry: DIRECTORY }]);
      const { crc32 } = await import('node:zlib');
      const json = JSON.stringify([
        ['x', 'f', '1', 1, 0],
        ['../up', 'd'],
      ]);
      await appendFile(
        join(dir, 'ancestor.log'),
        `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`,
      );
      await log.update([{ path: 'y', entry: file('2') }]);
      // Neither the batch with the bad path (not even its good half) nor anything after it.
      const { log: reopened } = await openWithWarnings(dir);
      assert.deepEqual(contents(reopened), { '': DIRECTORY });
    });
  });

  it('treats a corrupt base as empty, says so, and works on from a new base', async () => {
    await withTempDir(async (dir) => {
      const log = await AncestorLog.open(dir);
      const many: AncestorUpdate[] = [{ path: '', entry: DIRECTORY }];
      for (let i = 1; i < 30_000; i++) many.push({ path: `p${i}`, entry: numbered(i) });
      await log.update(many);
      await log.update([{ path: 'p1', entry: undefined }]); // folds the log into the base
      assert.equal((await AncestorLog.open(dir)).snapshot().size, 29_999);
      await corrupt(join(dir, 'ancestor.snap'), 100);
      const { log: reopened, warnings } = await openWithWarnings(dir);
      assert.equal(reopened.snapshot().size, 0);
      assert.match(warnings.join('\n'), /ancestor\.snap is unreadable/);
      await reopened.update([{ path: '', entry: DIRECTORY }]);
      const { log: third, warnings: none } = await openWithWarnings(dir);
      assert.deepEqual(contents(third), { '': DIRECTORY });
      assert.deepEqual(none, []);
    });
  });

  it('ignores the old log after a crash between writing a new base and starting its log', async () => {
    await withTempDir(async (dir) => {
      const log = await AncestorLog.open(dir);
      await log.update([
        { path: '', entry: DIRECTORY },
        { path: 'a', entry: file('1') },
      ]);
      await log.clear(); // base of a later epoch; a fresh log
      await log.update([
        { path: '', entry: DIRECTORY },
        { path: 'b', entry: file('2') },
      ]);
      const oldLog = join(dir, 'old.log');
      await copyFile(join(dir, 'ancestor.log'), oldLog);
      await log.clear(); // the crash: the new base landed, the log did not
      await copyFile(oldLog, join(dir, 'ancestor.log'));
      await writeFile(join(dir, 'ancestor.snap.tmp'), 'torn half of a later compaction');
      const { log: reopened, warnings } = await openWithWarnings(dir);
      assert.deepEqual(contents(reopened), {});
      assert.deepEqual(warnings, []);
    });
  });

  it('loads a state some update left, whenever the writing process is killed', async () => {
    await withTempDir(async (parent) => {
      // The child writes batch i = { n: file(i), i: file(i) } plus, every 50th batch, 5,000 more
      // paths, so that it also folds its log into new bases while it runs. Killed at any point,
      // the store must hold exactly batches 1..k for some k.
      const script = `
        import { AncestorLog } from ${JSON.stringify(new URL('./ancestor-log.ts', import.meta.url).href)};
        const log = await AncestorLog.open(process.argv[1]);
        const file = (d) => ({ kind: 'file', digest: d, executable: false, size: 1 });
        await log.update([{ path: '', entry: { kind: 'directory' } }]);
        process.stdout.write('ready\\n');
        for (let i = 1; ; i++) {
          const batch = [{ path: 'n', entry: file(String(i)) }, { path: 'b' + i, entry: file(String(i)) }];
          if (i % 50 === 0) for (let j = 0; j < 5000; j++) batch.push({ path: 'x' + i + '-' + j, entry: file('x') });
          await log.update(batch);
        }`;
      for (const delayMs of [30, 150, 400]) {
        const dir = await mkdtemp(join(parent, 'kill-'));
        const child = spawn(process.execPath, ['--input-type=module', '-e', script, dir], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        child.kill('SIGKILL');
        await new Promise((resolve) => child.once('exit', resolve));
        const { log } = await openWithWarnings(dir);
        const snapshot = log.snapshot();
        const n = Number((snapshot.get('n') as { digest: string } | undefined)?.digest ?? 0);
        for (const [path, entry] of snapshot) {
          if (path === '' || path === 'n') continue;
          const i = Number(/^[bx](\d+)/.exec(path)?.[1]);
          assert.ok(i <= n, `${path} is from a batch after the last one loaded (${n})`);
          if (path.startsWith('b')) assert.deepEqual(entry, file(String(i)));
        }
        for (let i = 1; i <= n; i++) assert.ok(snapshot.has(`b${i}`), `batch ${i} of ${n} lost`);
        const bulk = [...snapshot.keys()].filter((p) => p.startsWith('x')).length;
        assert.equal(bulk, 5000 * Math.floor(n / 50));
      }
    });
  });
});
