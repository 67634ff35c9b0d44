// The ksync agent on a two-node cluster (`make e2e` runs two): every node's agent sees every
// container's process on this machine (hostPID, one kernel), so each must serve only the
// containers of its own node. For a pod pinned to each node, the agents on the other nodes
// refuse its container (`wrong-node`) and the agent on its node serves it: a file the
// container wrote shows in the agent's scan. The test reaches each agent through
// `kubectl port-forward` to its pod, so through the API server and that node's kubelet.
//
// The agent DaemonSet here is what `ksync init` installs cut down to what the agent needs to
// serve containers: hostPID, the node name from the downward API, a token from a Secret, and
// its listener on 127.0.0.1 inside its own network namespace.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { RemoteError } from '@ksync/agent';
import { connectRemoteEndpoint } from '@ksync/agent/client';
import { UserError, type ContainerTarget } from '@ksync/core';
import {
  createNamespace,
  deleteNamespace,
  kubectl,
  pinToNode,
  readClusterInfo,
  readFixture,
  startPortForward,
  waitFor,
  waitPodReady,
  type PortForwardHandle,
} from './helpers/cluster.ts';

const AGENT_PORT = 7475;
const TOKEN_DIR = '/etc/ksync-agent';

/** The agent DaemonSet: container mode on every node, as the agent image's entrypoint runs it. */
function agentDaemonSet(image: string): string {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'agent' },
    spec: {
      selector: { matchLabels: { app: 'agent' } },
      template: {
        metadata: { labels: { app: 'agent' } },
        spec: {
          hostPID: true,
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: 2,
          containers: [
            {
              name: 'agent',
              image,
              imagePullPolicy: 'Never',
              args: [
                '--containers',
                '--listen',
                `127.0.0.1:${AGENT_PORT}`,
                '--token-file',
                `${TOKEN_DIR}/token`,
              ],
              env: [
                {
                  name: 'KSYNC_NODE_NAME',
                  valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } },
                },
              ],
              securityContext: {
                runAsUser: 0,
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: {
                  drop: ['ALL'],
                  add: ['SYS_PTRACE', 'DAC_OVERRIDE', 'CHOWN', 'FOWNER', 'FSETID'],
                },
              },
              volumeMounts: [{ name: 'token', mountPath: TOKEN_DIR, readOnly: true }],
            },
          ],
          volumes: [{ name: 'token', secret: { secretName: 'agent-token', defaultMode: 0o400 } }],
        },
      },
    },
  });
}

/** The container target of a pod's first container, as the CLI sends it. */
function targetOf(pod: V1Pod): ContainerTarget {
  const status = pod.status?.containerStatuses?.[0];
  assert.ok(status?.containerID && status.state?.running, 'the container runs');
  return {
    kind: 'container',
    namespace: pod.metadata?.namespace ?? '',
    pod: pod.metadata?.name ?? '',
    podUid: pod.metadata?.uid ?? '',
    container: status.name,
    containerId: status.containerID,
    nodeName: pod.spec?.nodeName ?? '',
  };
}

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
  const { nodes, images } = readClusterInfo();
  const token = randomBytes(24).toString('hex');
  /** A port-forward to the agent, by node name. */
  const agents = new Map<string, PortForwardHandle>();
  let ns = '';

  before(async () => {
    assert.ok(nodes.length >= 2, 'this suite needs two nodes: run make e2e (NODES=2 by default)');
    ns = await createNamespace('agent-nodes');
    await kubectl([
      '-n',
      ns,
      'create',
      'secret',
      'generic',
      'agent-token',
      `--from-literal=token=${token}`,
    ]);
    await kubectl(['-n', ns, 'apply', '-f', '-'], { input: agentDaemonSet(images.agent) });
    await kubectl(['-n', ns, 'rollout', 'status', 'daemonset/agent', '--timeout=120s'], {
      timeoutMs: 130_000,
    });
    const pods = JSON.parse(
      await kubectl(['-n', ns, 'get', 'pods', '-l', 'app=agent', '-o', 'json']),
    ) as { items: V1Pod[] };
    for (const pod of pods.items) {
      const name = pod.metadata?.name ?? '';
      await waitFor(`agent ${name} to listen`, 30_000, async () =>
        (await kubectl(['-n', ns, 'logs', name])).includes('listening'),
      );
      agents.set(pod.spec?.nodeName ?? '', await startPortForward(ns, `pod/${name}`, AGENT_PORT));
    }
    assert.deepEqual([...agents.keys()].sort(), nodes.map((n) => n.name).sort());
  });

  after(async () => {
    for (const pf of agents.values()) pf.stop();
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
      const pod = JSON.parse(await kubectl(['-n', ns, 'get', 'pod', name, '-o', 'json'])) as V1Pod;
      const target = targetOf(pod);
      assert.equal(target.nodeName, node.name);
      const open = (agentNode: string) =>
        connectRemoteEndpoint({
          url: `ws://127.0.0.1:${agents.get(agentNode)?.localPort ?? 0}`,
          token,
          root: '/home/app',
          ignore: [],
          target,
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
