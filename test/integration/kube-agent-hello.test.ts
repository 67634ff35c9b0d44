/**
 * `readAgentHello` (what `ksync doctor` asks each agent) against a real agent process over TCP:
 * the version and node facts from `welcome`, the token accepted, and a wrong token refused in
 * one line.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { KSYNC_VERSION, PROTOCOL_VERSION, UserError } from '@ksync/core';
import { readAgentHello } from '@ksync/kube';
import {
  startAgentFixture,
  type AgentFixture,
  type AgentProcess,
} from './helpers/agent-process.ts';

describe('readAgentHello against a real agent', () => {
  let fixture: AgentFixture;
  let agent: AgentProcess;
  before(async () => {
    ({ fixture, agent } = await startAgentFixture());
  });
  after(async () => {
    await fixture.cleanup();
  });

  const stream = (): Promise<Duplex> =>
    new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: agent.port });
      socket.once('connect', () => resolve(socket));
      socket.once('error', reject);
    });

  it('reads the version and the inotify limits of the node, with the token accepted', async () => {
    const hello = await readAgentHello({ stream: await stream(), token: fixture.token });
    assert.equal(hello.version, KSYNC_VERSION);
    assert.equal(hello.protocol, PROTOCOL_VERSION);
    const watches = Number(
      (await readFile('/proc/sys/fs/inotify/max_user_watches', 'utf8')).trim(),
    );
    assert.equal(hello.node?.inotify.maxUserWatches, watches);
  });

  it('says in one line that the agent refused a wrong token', async () => {
    await assert.rejects(
      readAgentHello({ stream: await stream(), token: 'not-the-token-at-all' }),
      (error: unknown) => {
        assert.ok(error instanceof UserError);
        assert.match(error.message, /^the agent refused the token: .*\(unauthorized\)$/);
        return true;
      },
    );
  });
});
