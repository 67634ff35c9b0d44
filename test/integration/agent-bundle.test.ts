/**
 * The single-file agent bundle (what the agent image runs) works on its own: built by the one
 * build (packages/cli/build.ts) into a temp dir, run by node with no node_modules around it, it
 * serves a real session.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildKsync } from '../../packages/cli/build.ts';
import {
  makeAgentFixture,
  startAgent,
  waitUntil,
  type AgentFixture,
} from './helpers/agent-process.ts';
import { startAgentSession } from './helpers/agent-session.ts';

describe('agent bundle', () => {
  let dir: string;
  let fixture: AgentFixture;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ksync-bundle-'));
    fixture = await makeAgentFixture();
  });

  after(async () => {
    await fixture.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs alone under node and serves a session', async () => {
    const { agentBundle } = await buildKsync(dir);
    const agent = await startAgent({
      root: fixture.root,
      tokenFile: fixture.tokenFile,
      command: [process.execPath, agentBundle],
    });
    try {
      const s = await startAgentSession({
        url: agent.url,
        token: fixture.token,
        remoteRoot: '/app',
      });
      try {
        await writeFile(join(s.local, 'a.txt'), 'through the bundle\n');
        const remote = join(fixture.root, 'app/a.txt');
        await waitUntil(
          async () => (await readFile(remote, 'utf8').catch(() => '')) === 'through the bundle\n',
          20_000,
          'the file through the bundled agent',
        );
      } finally {
        await s.stop();
      }
    } finally {
      assert.deepEqual(await agent.stop(), { code: 0, signal: null });
    }
  });
});
