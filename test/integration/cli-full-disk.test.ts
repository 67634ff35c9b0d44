/**
 * A full disk on the remote (issue: reported as "in sync" while 2 of 5 files landed). The agent's
 * root is a 2 MiB tmpfs; five 700 kB files cannot all fit. Real `bin/ksync watch --daemon` and a
 * real agent: the state is `problems` with the side, the path and ENOSPC; `flush` fails with
 * that reason; the agent and the watch log say it; once space is freed the sync recovers by
 * itself, without any new edit.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { waitUntil } from './helpers/agent-process.ts';
import { hasContent, makeCliAgentFixture, type CliAgentFixture } from './helpers/cli-process.ts';

const FILES = 5;
const contentOf = (i: number): string => `${i}`.repeat(700_000);

describe('a full disk on the remote (needs root for the tmpfs mount)', () => {
  let f: CliAgentFixture;
  let mounted = false;

  before(async () => {
    f = await makeCliAgentFixture();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', f.remote]);
    mounted = true;
    for (let i = 0; i < FILES; i++) await writeFile(join(f.local, `f${i}.bin`), contentOf(i));
    await f.createLocal();
    await f.ok(['watch', '--daemon']);
  });

  after(async () => {
    await f.ksync(['stop']);
    if (mounted) execFileSync('umount', ['-l', f.remote]);
    await f.cleanup();
  });

  it('is a problem on the remote, not "in sync", and flush fails with the reason', async () => {
    const flushed = await f.ksync(['flush', 'local', '--timeout', '60s']);
    assert.equal(flushed.code, 1, flushed.stdout);
    assert.match(
      flushed.stderr,
      /not in sync .*problems?: remote f\d\.bin: .*no space left on device/,
    );
    const view = await f.get('local');
    assert.equal(view.state, 'problems');
    assert.ok(
      view.problems.some((p) => p.side === 'remote' && /no space left on device/.test(p.message)),
      JSON.stringify(view.problems),
    );
    const log = await readFile(join(f.home, 'watch.log'), 'utf8');
    assert.match(log, /warning: local: \d+ problems?: remote f\d\.bin: .*no space left on device/);
    assert.ok(
      f.server.logs.some((l) => /no space left on device/.test(JSON.stringify(l))),
      'the agent logs it',
    );
  });

  it('says so once, however many more paths fail for the same reason', async () => {
    for (let i = FILES; i < FILES + 3; i++)
      await writeFile(join(f.local, `f${i}.bin`), contentOf(i));
    await waitUntil(
      async () => (await f.get('local')).problems.some((p) => p.path === `f${FILES + 2}.bin`),
      30_000,
      'the new files fail too',
    );
    const log = await readFile(join(f.home, 'watch.log'), 'utf8');
    const told = log.split('\n').filter((l) => /no space left on device/.test(l));
    assert.equal(told.length, 1, told.join('\n'));
  });

  it('recovers by itself once space is freed', async () => {
    execFileSync('mount', ['-o', 'remount,size=16m', f.remote]);
    for (let i = 0; i < FILES; i++) {
      await waitUntil(
        () => hasContent(join(f.remote, `f${i}.bin`), contentOf(i)),
        60_000,
        `f${i}.bin lands after the space is freed`,
      );
    }
    await waitUntil(async () => (await f.get('local')).state === 'watching', 30_000, 'in sync');
    await f.ok(['flush', 'local', '--timeout', '60s']);
  });
});
