/**
 * Content transfer through the real agent: renames and copies move no bytes (dedup on the
 * receiving side), a 1 GiB file goes both ways in bounded memory, and a SIGKILLed agent that
 * comes back on the same port lets the session finish with correct content and no partial files.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  hashFileHex,
  peakRssMiB,
  startAgentFixture,
  waitUntil,
  writeBigFile,
  type AgentFixture,
  type AgentProcess,
} from './helpers/agent-process.ts';
import { startAgentRunner, startAgentSession } from './helpers/agent-session.ts';

const MiB = 1024 * 1024;

async function tempLeftovers(dir: string): Promise<string[]> {
  const names = await readdir(dir, { recursive: true });
  return names.filter((n) => n.split('/').some((part) => part.startsWith('.ksync-tmp-')));
}

describe('agent: content transfer', () => {
  let fixture: AgentFixture;
  let agent: AgentProcess;

  before(async () => ({ fixture, agent } = await startAgentFixture()));
  after(() => fixture.cleanup());

  it('moves zero content bytes for a rename or a copy, either way', async () => {
    await mkdir(join(fixture.root, 'dedup'));
    const s = await startAgentSession({
      url: agent.url,
      token: fixture.token,
      remoteRoot: '/dedup',
      run: false,
    });
    try {
      const remote = join(fixture.root, 'dedup');
      const content = randomBytes(3 * MiB);
      await writeFile(join(s.local, 'a.bin'), content);
      await s.session.flush();
      assert.equal(s.session.status().transferredBytes, 3 * MiB);

      await rename(join(s.local, 'a.bin'), join(s.local, 'renamed.bin'));
      // Full cycles: this test does not wait for the watchers.
      const renamed = await s.session.cycle({ full: true });
      assert.equal(renamed.transferredBytes, 0, 'a rename moves no bytes');
      assert.equal(renamed.appliedRemote, 2);
      await copyFile(join(s.local, 'renamed.bin'), join(s.local, 'copy.bin'));
      const copied = await s.session.cycle({ full: true });
      assert.equal(copied.transferredBytes, 0, 'a copy moves no bytes');
      assert.equal(
        await hashFileHex(join(remote, 'copy.bin')),
        await hashFileHex(join(s.local, 'copy.bin')),
      );

      // The other way: a rename inside the container.
      await rename(join(remote, 'copy.bin'), join(remote, 'moved-in-container.bin'));
      const back = await s.session.cycle({ full: true });
      assert.equal(back.transferredBytes, 0);
      assert.equal(back.appliedLocal, 2);
      assert.equal(s.session.status().transferredBytes, 3 * MiB, 'nothing else was ever sent');
      assert.deepEqual((await readdir(s.local)).sort(), ['moved-in-container.bin', 'renamed.bin']);
    } finally {
      await s.stop();
    }
  });

  it('streams a 1 GiB file both ways in bounded memory', { timeout: 600_000 }, async () => {
    await mkdir(join(fixture.root, 'big'));
    const s = await startAgentSession({
      url: agent.url,
      token: fixture.token,
      remoteRoot: '/big',
      run: false,
    });
    try {
      const remote = join(fixture.root, 'big');
      const size = 1024 * MiB;
      await writeBigFile(join(s.local, 'up.bin'), size, 1);
      let started = Date.now();
      await s.session.flush();
      const upSeconds = (Date.now() - started) / 1000;
      assert.equal(
        await hashFileHex(join(remote, 'up.bin')),
        await hashFileHex(join(s.local, 'up.bin')),
      );

      await writeBigFile(join(remote, 'down.bin'), size, 2);
      started = Date.now();
      await s.session.flush();
      const downSeconds = (Date.now() - started) / 1000;
      assert.equal(
        await hashFileHex(join(s.local, 'down.bin')),
        await hashFileHex(join(remote, 'down.bin')),
      );
      assert.equal(s.session.status().transferredBytes, 2 * size);

      const agentPeak = (await peakRssMiB(agent.child.pid as number)) ?? NaN;
      const clientPeak = process.resourceUsage().maxRSS / 1024;
      console.log(
        `1 GiB up ${upSeconds.toFixed(1)} s, down ${downSeconds.toFixed(1)} s (each incl. hashing both sides); ` +
          `peak RSS agent ${agentPeak.toFixed(0)} MiB, test process ${clientPeak.toFixed(0)} MiB`,
      );
      assert.ok(agentPeak < 300, `agent peak RSS ${agentPeak} MiB`);
      assert.ok(clientPeak < 400, `client peak RSS ${clientPeak} MiB`);
      assert.deepEqual(await tempLeftovers(remote), []);
      assert.deepEqual(await tempLeftovers(s.local), []);
    } finally {
      await s.stop();
    }
  });
});

describe('agent: killed mid-transfer', () => {
  let fixture: AgentFixture;
  let agent: AgentProcess;

  before(async () => ({ fixture, agent } = await startAgentFixture()));
  after(() => fixture.cleanup());

  it(
    'resumes after SIGKILL and a restart on the same port, with no partial files',
    { timeout: 300_000 },
    async () => {
      await mkdir(join(fixture.root, 'app'));
      const remote = join(fixture.root, 'app');
      const s = await startAgentRunner({
        url: agent.url,
        token: fixture.token,
        remoteRoot: '/app',
      });
      try {
        await writeFile(join(s.local, 'small.txt'), 'hello\n');
        await waitUntil(
          async () => (await readdir(remote)).includes('small.txt'),
          20_000,
          'first sync',
        );
        await writeBigFile(join(s.local, 'big.bin'), 512 * MiB, 3);
        // Wait until content is being staged on the agent side, then kill it.
        await waitUntil(
          async () => (await tempLeftovers(remote)).length > 0,
          60_000,
          'staging to start on the agent',
        );
        const killed = await agent.stop('SIGKILL');
        assert.equal(killed.signal, 'SIGKILL');
        await waitUntil(
          () => s.runner.view().state === 'connecting',
          10_000,
          'the runner to notice',
        );
        assert.match(s.runner.view().error ?? '', /^lost the agent .*; reconnecting$/);
        // Edits made while the agent is down are picked up after it is back.
        await writeFile(join(s.local, 'while-down.txt'), 'queued\n');
        agent = await fixture.start({ port: agent.port });
        await waitUntil(() => s.runner.connected, 30_000, 'reconnect');
        const expected = await hashFileHex(join(s.local, 'big.bin'));
        await waitUntil(
          async () =>
            (await readdir(remote)).includes('big.bin') &&
            (await hashFileHex(join(remote, 'big.bin'))) === expected &&
            (await readdir(remote)).includes('while-down.txt'),
          120_000,
          'the big file to land after the restart',
        );
        await waitUntil(
          async () => (await tempLeftovers(remote)).length === 0,
          20_000,
          'temp files to be cleaned',
        );
        assert.ok(s.runner.view().reconnects >= 1, 'a reconnect counted');
      } finally {
        await s.stop();
      }
    },
  );
});
