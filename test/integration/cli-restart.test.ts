/**
 * A restart re-reads nothing that did not change: the watch daemon keeps the local side's stat
 * cache under $KSYNC_HOME and the agent keeps each root's under its --state-dir, so after both
 * restart, the agent hashes only the file edited while they were down (its
 * `ksync_agent_hashed_files_total` counts every hash), and that edit still syncs. Real
 * `bin/ksync watch --daemon` and a real `bin/ksync-agent`.
 */
import assert from 'node:assert/strict';
import { appendFile, readFile, stat, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RACY_WINDOW_NS } from '../../packages/fs/src/stat-cache.ts';
import { freePort, waitUntil } from './helpers/agent-process.ts';
import { makeCliAgentFixture, type CliAgentFixture } from './helpers/cli-process.ts';

const FILES = 40;

async function hashedFiles(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('ksync_agent_hashed_files_total '));
  assert.ok(line !== undefined, text);
  return Number(line.split(' ')[1]);
}

describe('restart with kept stat caches', () => {
  let f: CliAgentFixture;

  before(async () => {
    f = await makeCliAgentFixture({ port: await freePort() });
  });
  after(async () => {
    await f.cleanup();
  });

  it('hashes only what changed while the watch and the agent were down', async () => {
    for (let i = 0; i < FILES; i++) {
      await writeFile(join(f.remote, `f${i}.txt`), `remote ${i}\n`);
    }
    // Past the racy window, so the first scan's records are trusted as they are.
    await sleep(Number(RACY_WINDOW_NS / 1_000_000n) * 2);
    await f.createLocal();
    await f.ok(['watch', '--daemon']);
    await f.ok(['flush', 'local', '--timeout', '60s']);
    assert.ok((await hashedFiles(f.server.port)) >= FILES, 'the first start hashes every file');

    await f.ok(['stop']);
    await stat(join(f.home, 'syncs/local/local.stat-cache'));
    await f.server.stop('SIGTERM');
    await writeFile(join(f.remote, 'f0.txt'), 'edited while nothing ran\n');
    await sleep(Number(RACY_WINDOW_NS / 1_000_000n) * 2);

    const agent = await f.restartAgent();
    await f.ok(['watch', '--daemon']);
    await f.ok(['flush', 'local', '--timeout', '60s']);
    await waitUntil(
      async () =>
        (await readFile(join(f.local, 'f0.txt'), 'utf8')) === 'edited while nothing ran\n',
      20_000,
      'the edit made while nothing ran',
    );
    assert.equal(await hashedFiles(agent.port), 1, 'only the edited file is hashed again');
  });

  it('a torn last-agreed-state log is said on a flush without the watch, and the flush goes on', async () => {
    await f.ok(['stop']);
    await appendFile(join(f.home, 'syncs/local/ancestor.log'), 'torn half of a record');
    const flushed = await f.ok(['flush', 'local', '--timeout', '60s']);
    assert.match(flushed.stderr, /ancestor\.log ends in a torn or corrupt record; it was dropped/);
  });
});
