/**
 * Connection life of the remote endpoint against the real agent: a frozen agent is detected by
 * missed pings, calls fail fast (retryable) while disconnected, the client reconnects by itself
 * and fires its watch listeners once, and `close()` stops all of that.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectRemoteEndpoint, RemoteError } from '@ksync/agent';
import {
  makeAgentFixture,
  waitUntil,
  type AgentFixture,
  type AgentProcess,
} from './helpers/agent-process.ts';

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

  it('detects a frozen agent by pings, fails calls fast, and comes back by itself', async () => {
    const events: { connected: boolean; error?: string }[] = [];
    const remote = await connectRemoteEndpoint({
      url: agent.url,
      token: fixture.token,
      root: '/app',
      ignore: [],
      pingIntervalMs: 200,
      handshakeTimeoutMs: 1000,
      onConnectionChange: (connected, error) =>
        events.push(error === undefined ? { connected } : { connected, error }),
    });
    let fired = 0;
    remote.watch(() => fired++);
    try {
      const first = await remote.scan({ full: true });
      assert.ok(first.snapshot.has(''));
      agent.child.kill('SIGSTOP');
      await waitUntil(() => !remote.connected, 5000, 'missed pings to be noticed');
      assert.match(events[0]?.error ?? '', /missed two pings/);
      await assert.rejects(remote.scan({ full: false }), (error) => {
        assert.ok(error instanceof RemoteError);
        assert.equal(error.code, 'closed');
        assert.equal(error.retryable, true);
        return true;
      });
      fired = 0;
      agent.child.kill('SIGCONT');
      await waitUntil(() => remote.connected, 20_000, 'reconnect');
      assert.ok(events.some((e) => e.connected));
      await waitUntil(() => fired >= 1, 5000, 'watch listeners after reconnect');
      // The new connection serves the same root, with changes made meanwhile.
      await writeFile(join(fixture.root, 'app/after.txt'), 'x');
      const again = await remote.scan({ full: true });
      assert.ok(again.snapshot.has('after.txt'));
    } finally {
      await remote.close();
    }
  });

  it('stops reconnecting after close()', async () => {
    const remote = await connectRemoteEndpoint({
      url: agent.url,
      token: fixture.token,
      root: '/app',
      ignore: [],
      minBackoffMs: 50,
    });
    await agent.stop('SIGKILL');
    await waitUntil(() => !remote.connected, 5000, 'disconnect');
    await remote.close();
    agent = await fixture.start({ port: agent.port });
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(remote.connected, false);
    assert.equal(agent.logs.filter((l) => l.msg === 'connection opened').length, 0);
    await assert.rejects(remote.scan({ full: true }), /closed/);
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
