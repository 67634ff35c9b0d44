/**
 * A sync busy with a large first transfer does not starve the rest: another sync's edit still
 * lands within seconds, the running watch answers control requests (get, pause, resume) within
 * a second, measured on the control socket, and SIGTERM stops it within a few seconds.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ControlClient } from '../../packages/cli/src/control-client.ts';
import { waitUntil, writeBigFile } from './helpers/agent-process.ts';
import {
  alive,
  daemonPid,
  hasContent,
  makeCliAgentFixture,
  type CliAgentFixture,
} from './helpers/cli-process.ts';

/** Runs `fn` over a fresh control connection; how long the answer took, in ms. */
async function timed(socket: string, fn: (client: ControlClient) => Promise<unknown>) {
  const client = await ControlClient.connect(socket);
  assert.ok(client !== undefined, 'the watch listens');
  const started = performance.now();
  try {
    await fn(client);
    return performance.now() - started;
  } finally {
    await client.close();
  }
}

describe('a busy sync', () => {
  let f: CliAgentFixture;

  before(async () => {
    f = await makeCliAgentFixture();
    for (let d = 0; d < 40; d++) {
      await mkdir(join(f.local, `d${d}`));
      for (let i = 0; i < 150; i++) {
        await writeFile(join(f.local, `d${d}`, `f${i}.txt`), `${d}/${i}\n`.repeat(400));
      }
    }
    // The small files alone travel in one content stream in a second or two; a large file keeps
    // the first sync busy while the figures below are taken.
    await writeBigFile(join(f.local, 'big-first.bin'), 400_000_000);
    await f.createLocal();
    await mkdir(join(f.agent.dir, 'small'));
    await mkdir(join(f.agent.root, 'small'));
    await f.ok([
      'create',
      '--name',
      'small',
      ...f.direct(f.server.url),
      join(f.agent.dir, 'small'),
      '/small',
    ]);
  });
  after(() => f.cleanup());

  it('answers control requests within a second and stops on SIGTERM within seconds', async () => {
    await f.ok(['watch', '--daemon']);
    const socket = join(f.home, 'ksync.sock');
    await waitUntil(async () => (await f.get('local')).state === 'transferring', 60_000, 'busy');
    const edited = Date.now();
    await writeFile(join(f.agent.dir, 'small', 'edit.txt'), 'small edit\n');
    await waitUntil(
      () => hasContent(join(f.agent.root, 'small', 'edit.txt'), 'small edit\n'),
      10_000,
      'the other sync',
    );
    const otherSync = Date.now() - edited;
    // Still in the middle of its cycle (moving or applying content), so the figures below were
    // taken while it was busy.
    assert.match((await f.get('local')).state, /^(transferring|applying)$/, 'the big sync is busy');
    const latencies: Record<string, number> = { otherSync };
    latencies.get = await timed(socket, (c) => c.list('local'));
    latencies.pause = await timed(socket, (c) => c.pause('local'));
    assert.equal((await f.get('local')).state, 'paused');
    latencies.resume = await timed(socket, (c) => c.resume('local'));
    latencies.getAgain = await timed(socket, (c) => c.list());
    console.log('control latencies (ms)', latencies);
    for (const [request, ms] of Object.entries(latencies)) {
      assert.ok(ms < (request === 'otherSync' ? 5000 : 1000), `${request}: ${Math.round(ms)} ms`);
    }
    const pid = await daemonPid(f.home);
    assert.ok(pid !== undefined);
    // The first transfer may be over by now (a quiet machine is quick): stop the daemon in the
    // middle of a large transfer instead.
    await writeBigFile(join(f.local, 'big.bin'), 300_000_000);
    await waitUntil(
      async () => (await f.get('local')).state === 'transferring',
      20_000,
      'busy with the large file',
    );
    const stopping = Date.now();
    process.kill(pid, 'SIGTERM');
    await waitUntil(() => !alive(pid), 10_000, 'the daemon to exit');
    const took = Date.now() - stopping;
    assert.ok(took < 9000, `stopped in ${took} ms`);
  });
});
