/**
 * Crashes mid-sync, with real processes: a `kill -9` of the watch daemon, then a restart; and a
 * kill of the agent mid-transfer, then a restart on the same port. Both must end with the two
 * trees equal and nothing lost.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
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

  it('a kill of the agent mid-transfer, then a restart, resumes', async () => {
    await f.ok(['watch', '--daemon']);
    await writeBigTree(f.local);
    await waitUntil(async () => (await countFiles(remote)) > 0, 30_000, 'the first files');
    const before = await countFiles(remote);
    await f.server.stop('SIGKILL');
    await waitUntil(
      async () => (await f.get('local')).state === 'error',
      30_000,
      'get to report the error',
    );
    const down = await f.ksync(['flush', 'local', '--timeout', '5s']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /^error: /);
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
