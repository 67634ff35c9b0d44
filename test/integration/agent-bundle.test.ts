/**
 * The single-file agent bundle (what the agent image runs) works on its own: built with
 * esbuild into a temp dir, run by node with nothing else around it, it serves a real session.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bundleAgent } from '../../packages/agent/bundle.ts';
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
    const bundle = join(dir, 'ksync-agent.mjs');
    const bytes = await bundleAgent(bundle);
    assert.equal((await stat(bundle)).size, bytes);
    const agent = await startAgent({
      root: fixture.root,
      tokenFile: fixture.tokenFile,
      command: [process.execPath, bundle],
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
