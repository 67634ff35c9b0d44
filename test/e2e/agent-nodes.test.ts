// The ksync agent on a two-node cluster (`make e2e` runs two): every node's agent sees every
// container's process on this machine (hostPID, one kernel), so each must serve only the
// containers of its own node. For a pod pinned to each node, the agents on the other nodes
// refuse its container (`wrong-node`) and the agent on its node serves it: a file the
// container wrote shows in the agent's scan. The test reaches each agent the way the CLI does,
// through the API server's port-forward to that node's agent pod (the agent locator).

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { RemoteError } from '@ksync/agent';
import { connectRemoteEndpoint } from '@ksync/agent/client';
import { UserError } from '@ksync/core';
import { readAgentToken, type KubeTarget } from '@ksync/kube';
import {
  createNamespace,
  deleteNamespace,
  kubectl,
  pinToNode,
  readClusterInfo,
  readFixture,
  waitPodReady,
} from './helpers/cluster.ts';
import { adminTarget, agentDialer, containerTarget, ksyncOk, readPod } from './helpers/ksync.ts';

/** The wire error code a refused open carried (the client wraps it in a one-line UserError). */
async function refusal(open: Promise<unknown>): Promise<string> {
  try {
    await open;
  } catch (error) {
    assert.ok(error instanceof UserError, String(error));
    assert.ok(error.cause instanceof RemoteError, String(error.cause));
    return error.cause.code;
  }
  throw new Error('the agent served a container of another node');
}

describe('the agent on each node serves only its own node', { timeout: 300_000 }, () => {
  const { nodes } = readClusterInfo();
  let ns = '';
  let target: KubeTarget;
  let token = '';

  before(async () => {
    assert.ok(nodes.length >= 2, 'this suite needs two nodes: run make e2e (NODES=2 by default)');
    await ksyncOk(['init']);
    ns = await createNamespace('agent-nodes');
    target = adminTarget();
    token = await readAgentToken(target);
  });

  after(async () => {
    if (ns !== '') await deleteNamespace(ns);
  });

  for (const [i, node] of nodes.entries()) {
    it(`serves a container on ${node.name} only through that node's agent`, async () => {
      const name = `app-n${i + 1}`;
      const manifest = readFixture('smoke-app.yaml').replace('name: smoke-app', `name: ${name}`);
      await kubectl(['-n', ns, 'apply', '-f', '-'], { input: pinToNode(manifest, node.name) });
      await waitPodReady(ns, name);
      const marker = `written in ${name} at ${Date.now()}`;
      await kubectl([
        '-n',
        ns,
        'exec',
        name,
        '--',
        'sh',
        '-c',
        `echo '${marker}' > /home/app/marker.txt`,
      ]);
      const container = containerTarget(await readPod(ns, name), 'main');
      assert.equal(container.nodeName, node.name);
      const open = async (agentNode: string) =>
        connectRemoteEndpoint({
          url: 'ws://ksync-agent',
          dial: await agentDialer(target, agentNode),
          token,
          root: '/home/app',
          ignore: [],
          target: container,
        });

      for (const other of nodes.filter((n) => n.name !== node.name)) {
        assert.equal(await refusal(open(other.name)), 'wrong-node', `agent on ${other.name}`);
      }
      const remote = await open(node.name);
      try {
        assert.equal(remote.agent.node?.name, node.name);
        const { snapshot } = await remote.scan({ full: true });
        const entry = snapshot.get('marker.txt');
        assert.ok(entry?.kind === 'file', 'marker.txt is in the scan');
        assert.equal(entry.digest, createHash('sha256').update(`${marker}\n`).digest('hex'));
      } finally {
        await remote.close();
      }
    });
  }
});
