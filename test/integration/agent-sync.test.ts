/**
 * The real agent process, the real WebSocket client and a real session: edits made on either
 * side land on the other, and the agent's health and connection API behave as documented.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile, stat } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KSYNC_VERSION, UserError } from '@ksync/core';
import { readAgentWelcome } from '@ksync/agent';
import { connectRemoteEndpoint } from '@ksync/agent/client';
import {
  AGENT_BIN,
  freePort,
  startAgentFixture,
  waitUntil,
  type AgentFixture,
  type AgentProcess,
} from './helpers/agent-process.ts';
import { startAgentSession } from './helpers/agent-session.ts';

async function readOr(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

describe('agent: sync through the real agent', () => {
  let fixture: AgentFixture;
  let agent: AgentProcess;

  before(async () => ({ fixture, agent } = await startAgentFixture()));

  after(async () => {
    const exit = await agent.stop('SIGTERM');
    assert.deepEqual(exit, { code: 0, signal: null }, 'agent exits 0 on SIGTERM');
    await fixture.cleanup();
  });

  it('answers /healthz with its version', async () => {
    const res = await fetch(`http://127.0.0.1:${agent.port}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok', version: KSYNC_VERSION });
  });

  it('a directory in direct mode has no restart facts: no volumes, nothing changed', async () => {
    await mkdir(join(fixture.root, 'direct-facts/sub'), { recursive: true });
    await writeFile(join(fixture.root, 'direct-facts/sub/f'), 'x');
    const remote = await connectRemoteEndpoint({
      url: agent.url,
      token: fixture.token,
      root: '/direct-facts',
      ignore: [],
    });
    try {
      await remote.scan({ full: true });
      assert.deepEqual(await remote.readRestartFacts(), { mounts: [], changed: [] });
    } finally {
      await remote.close();
    }
  });

  it('syncs edits both ways with a running session', async () => {
    await mkdir(join(fixture.root, 'app'));
    await writeFile(join(fixture.root, 'app/remote-first.txt'), 'from the container\n');
    const s = await startAgentSession({
      url: agent.url,
      token: fixture.token,
      remoteRoot: '/app',
    });
    try {
      assert.equal(s.remote.connected, true);
      const remoteApp = join(fixture.root, 'app');
      // Initial sync brings the remote file down.
      await waitUntil(
        async () => (await readOr(join(s.local, 'remote-first.txt'))) === 'from the container\n',
        20_000,
        'remote file to reach local',
      );
      // local → remote
      await mkdir(join(s.local, 'src'));
      await writeFile(join(s.local, 'src/main.ts'), 'console.log(1);\n');
      await waitUntil(
        async () => (await readOr(join(remoteApp, 'src/main.ts'))) === 'console.log(1);\n',
        20_000,
        'local edit to reach the agent',
      );
      // remote → local
      await writeFile(join(remoteApp, 'src/main.ts'), 'console.log(2);\n');
      await waitUntil(
        async () => (await readOr(join(s.local, 'src/main.ts'))) === 'console.log(2);\n',
        20_000,
        'remote edit to reach local',
      );
      // deletion local → remote
      await rm(join(s.local, 'remote-first.txt'));
      await waitUntil(
        async () => (await readOr(join(remoteApp, 'remote-first.txt'))) === undefined,
        20_000,
        'deletion to reach the agent',
      );
      // executable bit
      await writeFile(join(s.local, 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
      await waitUntil(
        async () =>
          ((await stat(join(remoteApp, 'run.sh')).catch(() => undefined))?.mode ?? 0) & 0o100
            ? true
            : false,
        20_000,
        'executable file to reach the agent',
      );
    } finally {
      await s.stop();
    }
  });

  it('counts what moved in /metrics, and reports its node in welcome', async () => {
    const text = await (await fetch(`http://127.0.0.1:${agent.port}/metrics`)).text();
    const value = (sample: string) =>
      Number(
        text
          .split('\n')
          .find((line) => line.startsWith(`${sample} `))
          ?.slice(sample.length + 1),
      );
    // The previous test synced files both ways and closed its session.
    assert.equal(value('ksync_agent_open_targets'), 0);
    assert.ok(value('ksync_agent_bytes_total{direction="in"}') > 0, text);
    assert.ok(value('ksync_agent_files_total{direction="in"}') >= 2, text);
    assert.ok(value('ksync_agent_files_total{direction="out"}') >= 2, text);
    assert.ok(value('ksync_agent_apply_duration_seconds_count') >= 1, text);
    assert.equal(
      value('ksync_agent_apply_duration_seconds_bucket{le="+Inf"}'),
      value('ksync_agent_apply_duration_seconds_count'),
    );
    const remote = await connectRemoteEndpoint({
      url: agent.url,
      token: fixture.token,
      root: '/app',
      ignore: [],
    });
    try {
      const again = await (await fetch(`http://127.0.0.1:${agent.port}/metrics`)).text();
      assert.match(again, /^ksync_agent_open_targets 1$/m);
      const watches = Number(await readFile('/proc/sys/fs/inotify/max_user_watches', 'utf8'));
      assert.equal(remote.agent.version, KSYNC_VERSION);
      assert.equal(remote.agent.node?.inotify.maxUserWatches, watches);
      assert.equal(remote.agent.node?.name, undefined); // direct mode, no KSYNC_NODE_NAME
      // Without a token or a target, as `ksync doctor` asks.
      const welcome = await readAgentWelcome({ url: agent.url });
      assert.deepEqual(welcome.node, remote.agent.node);
      assert.equal(welcome.version, KSYNC_VERSION);
    } finally {
      await remote.close();
    }
  });

  it('`ksync-agent probe` exits 0 while the agent answers /healthz and 1 when it does not', async () => {
    const probe = (port: number) =>
      new Promise<number | null>((resolve) =>
        spawn(AGENT_BIN, ['probe', '--listen', `127.0.0.1:${port}`], { stdio: 'ignore' }).once(
          'exit',
          resolve,
        ),
      );
    assert.equal(await probe(agent.port), 0);
    assert.equal(await probe(await freePort()), 1);
  });

  it('rejects a wrong token, a bad root and an unreachable agent with one-line UserErrors', async () => {
    const base = { url: agent.url, token: fixture.token, root: '/app', ignore: [] };
    await assert.rejects(
      connectRemoteEndpoint({ ...base, token: 'wrong-token-000000000' }),
      (error) => {
        assert.ok(error instanceof UserError);
        assert.match(error.message, /refused the token/);
        assert.doesNotMatch(error.message, /\n/);
        return true;
      },
    );
    await assert.rejects(connectRemoteEndpoint({ ...base, root: 'relative' }), (error) => {
      assert.ok(error instanceof UserError);
      assert.match(error.message, /absolute/);
      return true;
    });
    await assert.rejects(connectRemoteEndpoint({ ...base, root: '/../etc' }), UserError);
    await assert.rejects(connectRemoteEndpoint({ ...base, url: 'ws://127.0.0.1:1' }), (error) => {
      assert.ok(error instanceof UserError);
      assert.match(
        error.message,
        /cannot reach the ksync agent at ws:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\)/,
      );
      return true;
    });
    const res = await fetch(`http://127.0.0.1:${agent.port}/healthz`);
    assert.equal(res.status, 200);
  });
});
