/**
 * Crashes mid-sync, with real processes: a `kill -9` of the watch daemon, then a restart; and a
 * kill of the agent mid-transfer, then a restart on the same port. Both must end with the two
 * trees equal and nothing lost.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ControlClient } from '../../packages/cli/src/control-client.ts';
import { freePort, waitUntil } from './helpers/agent-process.ts';
import {
  alive,
  daemonPid,
  makeCliAgentFixture,
  readTree,
  type CliAgentFixture,
} from './helpers/cli-process.ts';

const FILES = 240;
const SIZE = 128 * 1024;

/** Writes FILES files of SIZE random bytes (base64, so readTree can compare text). */
async function writeBigTree(dir: string): Promise<void> {
  for (let d = 0; d < 8; d++) {
    await mkdir(join(dir, `d${d}`), { recursive: true });
    for (let i = 0; i < FILES / 8; i++) {
      await writeFile(
        join(dir, `d${d}`, `f${i}.txt`),
        randomBytes((SIZE * 3) / 4).toString('base64'),
      );
    }
  }
}

/** How many files the remote root holds so far. */
async function countFiles(dir: string): Promise<number> {
  let n = 0;
  try {
    for (const d of await readdir(dir)) {
      n += (await readdir(join(dir, d)).catch(() => [])).filter((f) => f.endsWith('.txt')).length;
    }
  } catch {
    return 0;
  }
  return n;
}

async function assertTreesEqual(local: string, remote: string): Promise<void> {
  const [l, r] = await Promise.all([readTree(local), readTree(remote)]);
  assert.equal(l.size, FILES);
  assert.equal(r.size, l.size, 'remote has every file');
  for (const [path, content] of l) assert.ok(r.get(path) === content, `same content: ${path}`);
}

describe('ksync survives crashes', () => {
  let f: CliAgentFixture;
  let remote: string;

  beforeEach(async () => {
    f = await makeCliAgentFixture({ port: await freePort(), pingIntervalMs: 500 });
    remote = f.remote;
    await f.createLocal();
  });

  afterEach(() => f.cleanup('SIGKILL'));

  it('a kill -9 of the watch daemon mid-sync, then a restart, loses nothing', async () => {
    await writeBigTree(f.local);
    await f.ok(['watch', '--daemon']);
    const pid = await daemonPid(f.home);
    assert.ok(pid !== undefined);
    await waitUntil(async () => (await countFiles(remote)) > 0, 30_000, 'the first files');
    const before = await countFiles(remote);
    process.kill(pid, 'SIGKILL');
    await waitUntil(() => !alive(pid), 10_000, 'the daemon to die');
    // The lock and socket it left behind are stale: commands work, and a new watch starts.
    assert.equal((await f.get('local')).state, 'stopped');
    await f.ok(['watch', '--daemon']);
    await f.ok(['flush', 'local', '--timeout', '120s'], { timeoutMs: 150_000 });
    await assertTreesEqual(f.local, remote);
    console.log(`killed the daemon with ${before}/${FILES} files on the remote`);
  });

  it('a dead agent shows as connecting at once, and flush waits for it to come back', async () => {
    await writeFile(join(f.local, 'before.txt'), 'before\n');
    await f.ok(['watch', '--daemon']);
    await f.ok(['flush', 'local', '--timeout', '30s']);
    assert.equal((await f.get('local')).state, 'watching');
    // Polled on the control socket (what `ksync get` asks), so that a slow CLI start on a busy
    // machine does not count.
    const control = await ControlClient.connect(join(f.home, 'ksync.sock'));
    assert.ok(control !== undefined);
    try {
      await f.server.stop('SIGKILL');
      const killedAt = Date.now();
      await waitUntil(
        async () => (await control.list('local'))[0]?.state === 'connecting',
        10_000,
        'connecting',
      );
      const after = Date.now() - killedAt;
      assert.ok(after < 2000, `connecting ${after} ms after the kill`);
      console.log(`connecting ${after} ms after the kill`);
    } finally {
      await control.close();
    }
    const view = await f.get('local');
    assert.match(view.error ?? '', /^lost the agent .*; reconnecting$/);
    // A local edit while the agent is away does not leave the sync in `scanning`.
    await writeFile(join(f.local, 'during.txt'), 'during\n');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal((await f.get('local')).state, 'connecting');
    const flushing = f.ksync(['flush', 'local', '--timeout', '60s'], { timeoutMs: 90_000 });
    let flushed = false;
    void flushing.then(() => (flushed = true));
    await new Promise((resolve) => setTimeout(resolve, 2000));
    assert.equal(flushed, false, 'flush waits for the agent instead of failing at once');
    await f.restartAgent();
    const result = await flushing;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await readFile(join(remote, 'during.txt'), 'utf8'), 'during\n');
    assert.equal((await f.get('local')).state, 'watching');
  });

  it('a kill of the agent mid-transfer, then a restart, resumes', async () => {
    await f.ok(['watch', '--daemon']);
    await writeBigTree(f.local);
    await waitUntil(async () => (await countFiles(remote)) > 0, 30_000, 'the first files');
    const before = await countFiles(remote);
    await f.server.stop('SIGKILL');
    await waitUntil(
      async () => (await f.get('local')).state === 'connecting',
      30_000,
      'get to report the lost agent',
    );
    const down = await f.ksync(['flush', 'local', '--timeout', '5s']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /^error: flush of local timed out after 5s; it is connecting: lost/);
    await f.restartAgent();
    await waitUntil(
      async () =>
        (await f.ksync(['flush', 'local', '--timeout', '60s'], { timeoutMs: 90_000 })).code === 0,
      150_000,
      'a flush after the agent restarted',
    );
    await assertTreesEqual(f.local, remote);
    console.log(`killed the agent with ${before}/${FILES} files on the remote`);
  });
});
