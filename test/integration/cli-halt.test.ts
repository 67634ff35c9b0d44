/**
 * A safety halt seen through the CLI: emptying the remote root while a watch runs halts the sync
 * instead of deleting the local files; get shows it, flush fails with the reason, more changes
 * do not wedge the watch, and reset re-seeds the remote from local.
 */
import assert from 'node:assert/strict';
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { waitUntil } from './helpers/agent-process.ts';
import {
  hasContent,
  makeCliAgentFixture,
  readTree,
  type CliAgentFixture,
} from './helpers/cli-process.ts';

describe('a halted sync', () => {
  let f: CliAgentFixture;
  let remote: string;

  before(async () => {
    f = await makeCliAgentFixture();
    remote = f.remote;
    for (const name of ['a.txt', 'b.txt', 'c.txt']) await writeFile(join(f.local, name), name);
    await f.createLocal();
    await f.ok(['watch', '--daemon']);
    await f.ok(['flush', 'local', '--timeout', '30s']);
  });
  after(() => f.cleanup());

  const state = async (): Promise<string> => (await f.get('local')).state;

  it('halts on an emptied remote root and keeps the local files', async () => {
    for (const name of await readdir(remote)) await rm(join(remote, name), { recursive: true });
    await waitUntil(async () => (await state()) === 'halted-root-emptied', 20_000, 'the halt');
    // Changes while halted must not wedge the watch: it still answers.
    await writeFile(join(f.local, 'd.txt'), 'd.txt');
    assert.equal(await state(), 'halted-root-emptied');
    const flush = await f.ksync(['flush', 'local', '--timeout', '20s']);
    assert.equal(flush.code, 1);
    const halt =
      'halted: the remote sync root was emptied (a container restart without a volume?); propagating that would delete 3 files locally; see which with: ksync describe local; allow it once: ksync resume local; or merge both sides afresh: ksync reset local';
    assert.equal(flush.stderr, `error: local: ${halt}\n`);
    assert.equal((await readTree(f.local)).size, 4, 'no local file was deleted');
    // get -o wide says the same; describe lists the files that would go.
    assert.ok((await f.ok(['get', 'local', '-o', 'wide'])).stdout.includes(halt));
    const described = (await f.ok(['describe', 'local'])).stdout;
    assert.match(described, /^State:\s+halted-root-emptied: halted: the remote sync root/m);
    assert.match(
      described,
      /Would delete \(all 3\):\nSIDE\s+PATH\nlocal\s+a\.txt\nlocal\s+b\.txt\nlocal\s+c\.txt\n$/,
    );
  });

  it('reset re-seeds the remote and both sides end equal', async () => {
    await f.ok(['reset', 'local']);
    await f.ok(['flush', 'local', '--timeout', '30s']);
    assert.equal(await state(), 'watching');
    await waitUntil(() => hasContent(join(remote, 'a.txt'), 'a.txt'), 10_000, 'the re-seed');
    assert.deepEqual(await readTree(remote), await readTree(f.local));
  });

  it('resume lets the halted change through once', async () => {
    for (const name of await readdir(remote)) await rm(join(remote, name), { recursive: true });
    await waitUntil(async () => (await state()) === 'halted-root-emptied', 20_000, 'the halt');
    await f.ok(['resume', 'local']);
    await f.ok(['flush', 'local', '--timeout', '30s']);
    assert.equal((await readTree(f.local)).size, 0, 'the emptying was propagated');
    await waitUntil(async () => (await state()) === 'watching', 20_000, 'watching again');
    await writeFile(join(f.local, 'after.txt'), 'after');
    await waitUntil(() => hasContent(join(remote, 'after.txt'), 'after'), 20_000, 'syncing again');
  });
});
