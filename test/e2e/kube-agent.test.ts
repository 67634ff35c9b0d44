// The ksync agent, installed by `ksync init`, serving a real container on the local cluster.
// The test is the client: it port-forwards to the agent on the pod's node (dialPortForward,
// through the API server) and opens a container target with the agent client, the way the CLI
// will. Checked with kubectl exec and the host's view of the pod's emptyDir: writes land in the
// container and its volume, a uid-1000 container can edit them, its own writes come back,
// a planted symlink is never followed, a restarted container is `target-gone` until its new ID
// is used, and the agent's only listener is 127.0.0.1 in its own network namespace.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Duplex } from 'node:stream';
import { promisify } from 'node:util';
import type { V1Pod } from '@kubernetes/client-node';
import { RemoteError } from '@ksync/agent';
import { connectRemoteEndpoint } from '@ksync/agent/client';
import type { ContainerTarget } from '@ksync/core';
import { NAMESPACE, readAgentToken, type KubeTarget } from '@ksync/kube';
import { waitUntil } from '../integration/helpers/agent-process.ts';
import { startAgentSession } from '../integration/helpers/agent-session.ts';
import {
  createNamespace,
  deleteNamespace,
  kubectl,
  readClusterInfo,
  runKubectl,
  terminateContainer,
  waitFor,
  waitPodReady,
} from './helpers/cluster.ts';
import { adminTarget, agentDialer, containerTarget, ksyncOk, readPod } from './helpers/ksync.ts';

const run = promisify(execFile);

/** A pod of the test-app image as uid 1000 with an emptyDir at /home/app/cache. */
function appPod(name: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: {
      terminationGracePeriodSeconds: 2,
      securityContext: { runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000 },
      containers: [
        {
          name: 'main',
          image: readClusterInfo().images.testApp,
          imagePullPolicy: 'Never',
          volumeMounts: [{ name: 'cache', mountPath: '/home/app/cache' }],
        },
      ],
      volumes: [{ name: 'cache', emptyDir: {} }],
    },
  });
}

describe('the ksync agent serving a real container', { timeout: 600_000 }, () => {
  let ns = '';
  let target: KubeTarget;
  let token = '';
  let pod: V1Pod;
  let dial: () => Promise<Duplex>;
  const exec = (...cmd: string[]) => kubectl(['-n', ns, 'exec', 'app', '--', ...cmd]);

  before(async () => {
    await ksyncOk(['init']);
    ns = await createNamespace('ksync-agent');
    await kubectl(['-n', ns, 'apply', '-f', '-'], { input: appPod('app') });
    await waitPodReady(ns, 'app');
    target = adminTarget();
    token = await readAgentToken(target);
    pod = await readPod(ns, 'app');
    dial = await agentDialer(target, pod.spec?.nodeName ?? '');
  });
  after(async () => {
    if (ns !== '') await deleteNamespace(ns);
  });

  const open = (root: string, t: ContainerTarget) =>
    connectRemoteEndpoint({ url: 'ws://ksync-agent', dial, token, root, ignore: [], target: t });

  it('syncs both ways with the container: its files, its volume, its user', async () => {
    const s = await startAgentSession({
      url: 'ws://ksync-agent',
      dial,
      token,
      remoteRoot: '/home/app',
      target: containerTarget(pod, 'main'),
    });
    try {
      await writeFile(join(s.local, 'hello.txt'), 'from local\n');
      await mkdir(join(s.local, 'cache'));
      await writeFile(join(s.local, 'cache/inner.txt'), 'into the volume\n');
      await waitFor(
        'hello.txt in the container',
        30_000,
        async () => (await exec('cat', '/home/app/hello.txt').catch(() => '')) === 'from local\n',
      );
      // The emptyDir as the kubelet of the pod's node keeps it: the write went into the volume.
      const node = readClusterInfo().nodes.find((n) => n.name === pod.spec?.nodeName);
      assert.ok(node, `the pod's node ${String(pod.spec?.nodeName)} is one of the cluster's`);
      const uid = pod.metadata?.uid ?? '';
      const volume = join(node.kubeletDir, 'pods', uid, 'volumes/kubernetes.io~empty-dir/cache');
      await waitUntil(
        () => existsSync(join(volume, 'inner.txt')),
        30_000,
        'inner.txt in the emptyDir',
      );
      assert.equal(await readFile(join(volume, 'inner.txt'), 'utf8'), 'into the volume\n');
      // New files take their directory's owner, so the uid-1000 container can edit them.
      assert.equal((await exec('stat', '-c', '%u:%g', '/home/app/hello.txt')).trim(), '1000:1000');
      await exec('sh', '-c', 'echo edited by the container >> /home/app/hello.txt');
      await waitUntil(
        async () =>
          (await readFile(join(s.local, 'hello.txt'), 'utf8')) ===
          'from local\nedited by the container\n',
        30_000,
        'the edit to come back',
      );
      // A file the container writes itself is seen by the agent's watcher.
      await exec('sh', '-c', 'echo by the container > /home/app/cache/own.txt');
      await waitUntil(() => existsSync(join(s.local, 'cache/own.txt')), 30_000, 'own.txt locally');
      assert.equal(await readFile(join(s.local, 'cache/own.txt'), 'utf8'), 'by the container\n');
    } finally {
      await s.stop();
    }
  });

  it('never follows a symlink planted by the container', async () => {
    await exec('ln', '-s', '/', '/home/app/to-root');
    await exec('ln', '-s', '../../..', '/home/app/up');
    const remote = await open('/home/app', containerTarget(pod, 'main'));
    try {
      const result = await remote.apply(
        ['to-root/escaped', 'up/escaped'].map((path) => ({
          path,
          old: undefined,
          new: { kind: 'directory' as const },
        })),
      );
      assert.deepEqual(result.applied, []);
      assert.equal(result.problems.length, 2);
    } finally {
      await remote.close();
    }
    assert.equal(existsSync('/escaped'), false, 'not on the node');
    const inContainer = await runKubectl(['-n', ns, 'exec', 'app', '--', 'ls', '/escaped']);
    assert.notEqual(inContainer.code, 0, 'not in the container');
    await assert.rejects(
      open('/home/app/to-root', containerTarget(pod, 'main')),
      /bad-root|symlink/,
    );
  });

  it('answers target-gone after the container restarts, and serves its new ID', async () => {
    const first = containerTarget(pod, 'main');
    const remote = await open('/home/app', first);
    try {
      await remote.scan({ full: true });
      await terminateContainer(ns, 'app');
      await waitFor('the restarted container', 60_000, async () => {
        pod = await readPod(ns, 'app');
        const status = pod.status?.containerStatuses?.[0];
        return status?.containerID !== first.containerId && status?.state?.running !== undefined;
      });
      await assert.rejects(remote.scan({ full: true }), (error) => {
        assert.ok(error instanceof RemoteError, String(error));
        assert.equal(error.code, 'target-gone');
        return true;
      });
    } finally {
      await remote.close();
    }
    const second = await open('/home/app', containerTarget(pod, 'main'));
    try {
      const result = await second.scan({ full: true });
      assert.ok(
        result.snapshot.has('cache/inner.txt'),
        'the new container is served, volume and all',
      );
    } finally {
      await second.close();
    }
  });

  it("has one listener, on 127.0.0.1, in the agent pod's network namespace", async () => {
    const agentPod = JSON.parse(
      await kubectl([
        '-n',
        NAMESPACE,
        'get',
        'pods',
        '-l',
        'app.kubernetes.io/name=ksync-agent',
        '-o',
        'json',
      ]),
    ) as { items: V1Pod[] };
    const id =
      agentPod.items[0]?.status?.containerStatuses?.[0]?.containerID?.replace(/^.*:\/\//, '') ?? '';
    assert.match(id, /^[0-9a-f]{64}$/);
    // From the host: the agent's pid is the process whose cgroup ends in its container ID.
    let pid = '';
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const cgroup = await readFile(`/proc/${entry}/cgroup`, 'utf8').catch(() => '');
      if (cgroup.split('\n').some((l) => l.endsWith(`/${id}`))) {
        pid = entry;
        break;
      }
    }
    assert.notEqual(pid, '', 'the agent process is visible from the host');
    const { stdout } = await run('nsenter', ['-t', pid, '-n', 'ss', '-Hltnu']);
    const listeners = stdout
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[4]);
    assert.deepEqual(listeners, ['127.0.0.1:7475'], stdout);
  });
});
