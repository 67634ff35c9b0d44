// A two-replica Deployment spread across both nodes of the local cluster (required pod
// anti-affinity on the hostname), synced by selector through bin/ksync: each pod is reached
// through the agent on its own node, a local edit reaches both, and a write in the pod on one
// node reaches local and the pod on the other. (That an agent refuses a container of another
// node is shown by agent-nodes.test.ts.)

import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import {
  createNamespace,
  deleteNamespace,
  kubectl,
  readClusterInfo,
  waitFor,
  waitPodFile,
} from './helpers/cluster.ts';
import { ksync, ksyncOk } from './helpers/ksync.ts';

const SPREAD = `
apiVersion: apps/v1
kind: Deployment
metadata: { name: spread }
spec:
  replicas: 2
  selector: { matchLabels: { app: spread } }
  template:
    metadata: { labels: { app: spread } }
    spec:
      terminationGracePeriodSeconds: 2
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - labelSelector: { matchLabels: { app: spread } }
              topologyKey: kubernetes.io/hostname
      containers:
        - name: app
          image: localhost/ksync/test-app:1
          imagePullPolicy: Never
`;

/** The running pods of app=spread with their nodes, sorted by node. */
async function spreadPods(ns: string): Promise<{ pod: string; node: string }[]> {
  const list = JSON.parse(
    await kubectl(['-n', ns, 'get', 'pods', '-l', 'app=spread', '-o', 'json']),
  ) as { items: V1Pod[] };
  return list.items
    .filter((p) => p.status?.containerStatuses?.[0]?.state?.running !== undefined)
    .map((p) => ({ pod: p.metadata?.name ?? '', node: p.spec?.nodeName ?? '' }))
    .sort((a, b) => a.node.localeCompare(b.node));
}

describe('ksync syncing a Deployment spread across two nodes', { timeout: 600_000 }, () => {
  let ns = '';
  let local = '';
  let pods: { pod: string; node: string }[] = [];

  before(async () => {
    await ksyncOk(['init']);
    ns = await createNamespace('ksync-nodes');
    const file = join(await mkdtemp(join(tmpdir(), 'ksync-e2e-spread-')), 'spread.yaml');
    await writeFile(file, SPREAD);
    await kubectl(['-n', ns, 'apply', '-f', file]);
    await kubectl(['-n', ns, 'rollout', 'status', 'deployment/spread', '--timeout=90s'], {
      timeoutMs: 100_000,
    });
    pods = await spreadPods(ns);
    local = await mkdtemp(join(tmpdir(), 'ksync-e2e-spread-src-'));
    await writeFile(join(local, 'index.html'), 'hello both nodes\n');
    await ksyncOk(['create', '--name', 'spread', '-l', 'app=spread', '-n', ns, local, '/app']);
    await ksyncOk(['watch', '--daemon']);
  });
  after(async () => {
    await ksync(['stop']);
    if (ns !== '') await deleteNamespace(ns);
  });

  it('has one pod on each node', () => {
    assert.deepEqual(
      pods.map((p) => p.node),
      readClusterInfo()
        .nodes.map((n) => n.name)
        .sort(),
    );
    assert.equal(pods.length, 2, 'this suite needs the two-node cluster (make cluster-up NODES=2)');
  });

  it('syncs both pods, each through the agent on its node, both ways', async () => {
    for (const { pod } of pods) await waitPodFile(ns, pod, '/app/index.html', 'hello both nodes\n');
    await ksyncOk(['flush', 'spread', '--timeout', '90s']);
    const view = JSON.parse((await ksyncOk(['get', 'spread', '-o', 'json'])).stdout) as {
      targets?: { pod: string; node: string; state: string }[];
    };
    assert.deepEqual(
      (view.targets ?? []).map((t) => [t.pod, t.node, t.state]).sort(),
      pods.map((p) => [p.pod, p.node, 'watching']).sort(),
    );
    // A local edit reaches both nodes.
    await writeFile(join(local, 'index.html'), 'edited locally\n');
    for (const { pod } of pods) await waitPodFile(ns, pod, '/app/index.html', 'edited locally\n');
    // A write in the pod on the second node reaches local, then the pod on the first.
    const [first, second] = pods;
    assert.ok(first && second);
    await kubectl([
      '-n',
      ns,
      'exec',
      second.pod,
      '--',
      'sh',
      '-c',
      'echo from node 2 > /app/n2.txt',
    ]);
    await waitFor('n2.txt locally', 60_000, async () =>
      readFile(join(local, 'n2.txt'), 'utf8').then(
        (t) => t === 'from node 2\n',
        () => false,
      ),
    );
    await waitPodFile(ns, first.pod, '/app/n2.txt', 'from node 2\n');
  });
});
