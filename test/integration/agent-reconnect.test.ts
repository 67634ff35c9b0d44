/**
 * Connection life of the remote endpoint against the real agent: a frozen agent is detected by
 * missed pings, the client reports the loss once and stays down (calls fail fast, retryable),
 * and never dials again by itself; the CLI's `SyncRunner` is the one owner of reconnecting, and
 * it comes back once the agent answers again.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectRemoteEndpoint, RemoteError } from '@ksync/agent';
import {
  makeAgentFixture,
  waitUntil,
  type AgentFixture,
  type AgentProcess,
} from './helpers/agent-process.ts';
import { startAgentRunner } from './helpers/agent-session.ts';

describe('agent: reconnecting', () => {
  let fixture: AgentFixture;
  let agent: AgentProcess;

  before(async () => {
    fixture = await makeAgentFixture();
    await mkdir(join(fixture.root, 'app'));
    agent = await fixture.start();
  });

  after(async () => {
    agent.child.kill('SIGCONT');
    await fixture.cleanup();
  });

  it('detects a frozen agent by pings, fails calls fast, and stays down', async () => {
    const lost: string[] = [];
    const remote = await connectRemoteEndpoint({
      url: agent.url,
      token: fixture.token,
      root: '/app',
      ignore: [],
      pingIntervalMs: 200,
      handshakeTimeoutMs: 1000,
      onLost: (reason) => lost.push(reason),
    });
    try {
      const first = await remote.scan({ full: true });
      assert.ok(first.snapshot.has(''));
      agent.child.kill('SIGSTOP');
      await waitUntil(() => !remote.connected, 5000, 'missed pings to be noticed');
      assert.deepEqual(lost.length, 1);
      assert.match(lost[0] ?? '', /missed two pings/);
      await assert.rejects(remote.scan({ full: false }), (error) => {
        assert.ok(error instanceof RemoteError);
        assert.equal(error.code, 'closed');
        assert.equal(error.retryable, true);
        return true;
      });
      agent.child.kill('SIGCONT');
      await new Promise((resolve) => setTimeout(resolve, 1000));
      assert.equal(remote.connected, false, 'the client does not re-dial by itself');
      assert.equal(lost.length, 1);
    } finally {
      await remote.close();
    }
  });

  it('the sync runner reconnects a frozen agent once it answers, and rescans', async () => {
    const s = await startAgentRunner({ url: agent.url, token: fixture.token, remoteRoot: '/app' });
    try {
      await waitUntil(() => s.runner.view().state === 'watching', 20_000, 'first sync');
      await agent.stop('SIGKILL');
      await waitUntil(() => s.runner.view().state === 'connecting', 5000, 'connecting');
      await writeFile(join(fixture.root, 'app/after.txt'), 'x');
      agent = await fixture.start({ port: agent.port });
      await waitUntil(
        async () => (await readFile(join(s.local, 'after.txt'), 'utf8').catch(() => '')) === 'x',
        20_000,
        'the file written while away',
      );
      const view = s.runner.view();
      assert.equal(view.state, 'watching');
      assert.ok(view.reconnects >= 1, `reconnects ${view.reconnects}`);
      assert.match(view.lastError ?? '', /^lost the agent .*; reconnecting$/);
      // One owner: the runner logged the loss and its retries; nobody else retried.
      assert.ok(s.logs.some((l) => /lost the agent/.test(l)));
    } finally {
      await s.stop();
    }
  });

  it('the agent drops a client that stops answering pings', async () => {
    const pingy = await fixture.start({ pingIntervalMs: 100 });
    try {
      const { default: WebSocket } = await import('ws');
      // autoPong off: this client never answers pings.
      const ws = new WebSocket(pingy.url, { autoPong: false });
      await new Promise((resolve) => ws.once('open', resolve));
      const closed = await new Promise<number>((resolve) => ws.once('close', resolve));
      assert.equal(closed, 1006);
      await waitUntil(
        () => pingy.logs.some((l) => l.msg === 'peer missed two pings; dropping the connection'),
        5000,
        'the agent log line',
      );
    } finally {
      await pingy.stop('SIGTERM');
    }
  });
});
