/**
 * Content for a remote root that does not exist yet is written into that root as it arrives (the
 * apply creates the root first), under temp names that the next endpoint's first scan removes:
 * nothing is left in the system temp directory or the root, even after the agent is killed
 * mid-transfer and started again. The agent's own staging directory is emptied at start and stop.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, hashFileHex, waitUntil, writeBigFile } from './helpers/agent-process.ts';
import { makeCliAgentFixture, type CliAgentFixture } from './helpers/cli-process.ts';

/** Every path under `dir` whose name starts with `prefix`. */
async function named(dir: string, prefix: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.name.startsWith(prefix)).map((e) => join(e.parentPath, e.name));
}

describe('agent staging', () => {
  let f: CliAgentFixture;
  let tmp: string;

  before(async () => {
    const port = await freePort();
    // The agent's own system temp dir, so that the count is not disturbed by anything else.
    tmp = join(process.env.TMPDIR ?? '/tmp', `ksync-staging-test-${port}`);
    await mkdir(tmp);
    f = await makeCliAgentFixture({ port, env: { TMPDIR: tmp } });
  });
  after(async () => {
    await f.cleanup();
    const { rm } = await import('node:fs/promises');
    await rm(tmp, { recursive: true, force: true });
  });

  it('a kill mid-transfer into a missing root leaks nothing once the agent restarts', async () => {
    assert.deepEqual(await named(tmp, 'ksync-staging-'), []);
    await writeBigFile(join(f.local, 'big.bin'), 200_000_000);
    await f.ok(['create', ...f.direct(f.server.url), '--name', 'fresh', 'local', '/fresh']);
    await f.ok(['watch', '--daemon']);
    const fresh = join(f.agent.root, 'fresh');
    await waitUntil(
      async () => (await named(fresh, '.ksync-tmp-')).length > 0,
      30_000,
      'the transfer to start',
    );
    await f.server.stop('SIGKILL');
    assert.equal((await named(fresh, '.ksync-tmp-')).length, 1, 'the killed agent left its temp');
    assert.deepEqual(await named(tmp, 'ksync-staging-'), [], 'no staging outside the root');
    await f.restartAgent();
    await f.ok(['flush', 'fresh', '--timeout', '120s'], { timeoutMs: 150_000 });
    assert.deepEqual(await named(fresh, '.ksync-tmp-'), [], 'the first scan removed the temp');
    assert.equal(
      await hashFileHex(join(f.agent.root, 'fresh/big.bin')),
      await hashFileHex(join(f.local, 'big.bin')),
    );
    await f.ok(['stop']);
    assert.equal(existsSync(join(f.home, 'staging')), false, "the watch's staging is gone");
    await f.server.stop('SIGTERM');
    assert.deepEqual(await readdir(tmp), [], 'nothing left in the temp dir');
  });
});
