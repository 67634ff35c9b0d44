// Smoke suite for the local cluster (`make cluster-up`): proves the behaviours ksync relies on
// work against a real kubelet and containerd, not a mock: DaemonSet rollout, exec, cp, logs,
// port-forward (kubectl and client-node), list+watch, ReplicaSet replacement and container
// restarts, on every node (`make cluster-up NODES=2`: node 2 runs crun, node 1 runc).
// Everything reaches pods through the API server only.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, PortForward, Watch } from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import {
  createNamespace,
  deleteNamespace,
  kubectl,
  loadKubeConfig,
  pinToNode,
  readClusterInfo,
  readFixture,
  runKubectl,
  startPortForward,
  terminateContainer,
  waitFor,
  waitPodReady,
} from './helpers/cluster.ts';

/** GET http://127.0.0.1:port/ and return the body; loopback only. */
function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error(`GET 127.0.0.1:${port} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

async function readPod(ns: string, name: string): Promise<V1Pod> {
  return JSON.parse(await kubectl(['-n', ns, 'get', 'pod', name, '-o', 'json'])) as V1Pod;
}

/** The node a pod was scheduled to. */
async function nodeOf(ns: string, pod: string): Promise<string> {
  return (await readPod(ns, pod)).spec?.nodeName ?? '';
}

/** The container ID of a pod's first container, without the `containerd://` prefix. */
async function containerIdOf(ns: string, pod: string): Promise<string> {
  const id = (await readPod(ns, pod)).status?.containerStatuses?.[0]?.containerID ?? '';
  assert.match(id, /^containerd:\/\/[0-9a-f]{64}$/);
  return id.slice('containerd://'.length);
}

describe('local cluster smoke', { timeout: 600_000 }, () => {
  const { nodes } = readClusterInfo();
  let clusterNs = '';

  before(async () => {
    clusterNs = await createNamespace('smoke');
  });

  after(async () => {
    if (clusterNs !== '') await deleteNamespace(clusterNs);
  });

  it('has every node Ready on its own address, running the built version with the project images', async () => {
    const info = readClusterInfo();
    const listed = JSON.parse(await kubectl(['get', 'nodes', '-o', 'json'])) as {
      items: {
        metadata: { name: string };
        status: {
          addresses: { type: string; address: string }[];
          nodeInfo: { kubeletVersion: string };
          conditions: { type: string; status: string }[];
          images: { names: string[] }[];
        };
      }[];
    };
    assert.deepEqual(
      listed.items.map((n) => n.metadata.name).sort(),
      nodes.map((n) => n.name).sort(),
    );
    for (const node of listed.items) {
      const { name } = node.metadata;
      assert.equal(node.status.nodeInfo.kubeletVersion, info.kubernetesVersion, name);
      assert.equal(node.status.conditions.find((c) => c.type === 'Ready')?.status, 'True', name);
      // The apiserver dials the kubelet there (exec, logs, port-forward).
      const internal = node.status.addresses.find((a) => a.type === 'InternalIP');
      assert.equal(internal?.address, name);
      const names = node.status.images.flatMap((i) => i.names);
      for (const image of Object.values(info.images)) assert.ok(names.includes(image), image);
    }
  });

  it('rolls out a DaemonSet with a pod on every node', async () => {
    await kubectl(['-n', clusterNs, 'apply', '-f', '-'], {
      input: readFixture('smoke-daemonset.yaml'),
    });
    await kubectl(['-n', clusterNs, 'rollout', 'status', 'daemonset/smoke-ds', '--timeout=120s'], {
      timeoutMs: 130_000,
    });
    const ds = JSON.parse(
      await kubectl(['-n', clusterNs, 'get', 'daemonset', 'smoke-ds', '-o', 'json']),
    ) as {
      status: { numberReady: number; desiredNumberScheduled: number };
    };
    assert.equal(ds.status.desiredNumberScheduled, nodes.length);
    assert.equal(ds.status.numberReady, nodes.length);
    const placed = await kubectl([
      '-n',
      clusterNs,
      'get',
      'pods',
      '-l',
      'app=smoke-ds',
      '-o',
      'jsonpath={range .items[*]}{.spec.nodeName}{"\\n"}{end}',
    ]);
    assert.deepEqual(placed.trim().split('\n').sort(), nodes.map((n) => n.name).sort());
  });

  it('lists and watches pods with @kubernetes/client-node', async () => {
    const kc = loadKubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    const listed = await core.listNamespacedPod({ namespace: clusterNs });
    assert.ok(listed.items.length >= 1, 'the namespace already has pods');

    const seen: string[] = [];
    let resolveRunning: () => void = () => {};
    let rejectWatch: (err: Error) => void = () => {};
    const running = new Promise<void>((resolve, reject) => {
      resolveRunning = resolve;
      rejectWatch = reject;
    });
    const watch = new Watch(kc);
    const controller = await watch.watch(
      `/api/v1/namespaces/${clusterNs}/pods`,
      { resourceVersion: listed.metadata?.resourceVersion },
      (phase: string, obj: V1Pod) => {
        if (obj.metadata?.name !== 'smoke-watched') return;
        seen.push(phase);
        if (phase === 'MODIFIED' && obj.status?.phase === 'Running') resolveRunning();
      },
      (err: unknown) => {
        if (err)
          rejectWatch(err instanceof Error ? err : new Error('pod watch failed', { cause: err }));
      },
    );
    try {
      await core.createNamespacedPod({
        namespace: clusterNs,
        body: {
          metadata: { name: 'smoke-watched' },
          spec: {
            terminationGracePeriodSeconds: 2,
            containers: [
              { name: 'main', image: readClusterInfo().images.testApp, imagePullPolicy: 'Never' },
            ],
          },
        },
      });
      const timeout = new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('watch saw no Running pod in 60 s')), 60_000).unref(),
      );
      await Promise.race([running, timeout]);
      assert.equal(seen[0], 'ADDED');
    } finally {
      controller.abort();
    }
  });

  for (const [i, node] of nodes.entries()) {
    describe(`on node ${node.name} (${node.runtime})`, () => {
      let ns = '';
      /** Applies a fixture with its pods pinned to this node. */
      const apply = (fixture: string) =>
        kubectl(['-n', ns, 'apply', '-f', '-'], {
          input: pinToNode(readFixture(fixture), node.name),
        });

      before(async () => {
        ns = await createNamespace(`smoke-n${i + 1}`);
      });

      after(async () => {
        if (ns !== '') await deleteNamespace(ns);
      });

      describe('the test-app pod', () => {
        /** kubectl arguments that exec `cmd` in the test-app pod. */
        const appExec = (...cmd: string[]) => ['-n', ns, 'exec', 'smoke-app', '--', ...cmd];

        before(async () => {
          await apply('smoke-app.yaml');
          await waitPodReady(ns, 'smoke-app');
          assert.equal(await nodeOf(ns, 'smoke-app'), node.name);
        });

        it(`runs the container with ${node.runtime}, the runtime of its node`, async () => {
          const id = await containerIdOf(ns, 'smoke-app');
          // The runc shim keeps each container's runtime state in <root>/<namespace>/<id>.
          for (const other of nodes) {
            const state = join(other.runtimeRoot, 'k8s.io', id);
            assert.equal(existsSync(state), other.name === node.name, state);
          }
        });

        it('runs a command with kubectl exec, as the non-root user', async () => {
          const out = await kubectl(appExec('sh', '-c', 'echo hello; id -u'));
          assert.equal(out, 'hello\n1000\n');
          const failed = await runKubectl(appExec('sh', '-c', 'exit 7'));
          assert.equal(failed.code, 7, 'exec must report the command exit status');
        });

        it('copies a file in with kubectl cp', async () => {
          const dir = await mkdtemp(join(tmpdir(), 'ksync-smoke-'));
          try {
            const content = `ksync smoke ${Date.now()}\nsecond line\n`;
            await writeFile(join(dir, 'hello.txt'), content);
            // kubectl cp needs a relative local path or it warns about the leading '/'.
            await kubectl(['-n', ns, 'cp', join(dir, 'hello.txt'), 'smoke-app:/tmp/hello.txt']);
            const back = await kubectl(appExec('cat', '/tmp/hello.txt'));
            assert.equal(back, content);
            const owner = await kubectl(appExec('stat', '-c', '%u', '/tmp/hello.txt'));
            assert.equal(owner.trim(), '1000');
          } finally {
            await rm(dir, { recursive: true, force: true });
          }
        });

        it('restarts the container with a new ID when its main process is killed', async () => {
          const before = await readPod(ns, 'smoke-app');
          const first = before.status?.containerStatuses?.[0];
          assert.ok(first?.containerID);
          // restartPolicy is Always.
          await terminateContainer(ns, 'smoke-app');
          let after: V1Pod = before;
          await waitFor('a restarted smoke-app container', 60_000, async () => {
            after = await readPod(ns, 'smoke-app');
            const s = after.status?.containerStatuses?.[0];
            return s?.restartCount === (first.restartCount ?? 0) + 1 && s.ready === true;
          });
          const second = after.status?.containerStatuses?.[0];
          assert.ok(second?.containerID);
          assert.notEqual(second.containerID, first.containerID);
        });
      });

      it('reaches a server inside a pod with kubectl port-forward', async () => {
        await apply('smoke-httpd.yaml');
        await waitPodReady(ns, 'smoke-httpd');
        const pf = await startPortForward(ns, 'pod/smoke-httpd', 8080);
        try {
          assert.equal(await httpGet(pf.localPort), 'ksync-port-forward-ok\n');
        } finally {
          pf.stop();
        }
      });

      describe('the node24 pod', () => {
        before(async () => {
          await apply('smoke-node.yaml');
          await waitPodReady(ns, 'smoke-node');
          await waitFor('smoke-node to listen', 30_000, async () => {
            const r = await runKubectl(['-n', ns, 'logs', 'smoke-node']);
            return r.stdout.includes('listening');
          });
        });

        it('reads the container log with kubectl logs', async () => {
          assert.equal(await kubectl(['-n', ns, 'logs', 'smoke-node']), 'listening\n');
        });

        it('port-forwards from Node with @kubernetes/client-node', async () => {
          const forward = new PortForward(loadKubeConfig());
          // A loopback server whose every connection is one port-forward stream into the pod.
          const server: Server = createServer((socket) => {
            forward
              .portForward(ns, 'smoke-node', [8080], socket, null, socket)
              .catch(() => socket.destroy());
          });
          await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
          try {
            const { port } = server.address() as AddressInfo;
            assert.equal(await httpGet(port), `node ${'v' + (await nodeVersionInImage(ns))}`);
          } finally {
            server.close();
          }
        });
      });

      it('replaces a deleted pod on the same node through its ReplicaSet', async () => {
        await apply('smoke-deployment.yaml');
        await kubectl(
          ['-n', ns, 'rollout', 'status', 'deployment/smoke-deploy', '--timeout=120s'],
          {
            timeoutMs: 130_000,
          },
        );
        const podNames = async () =>
          (await kubectl(['-n', ns, 'get', 'pods', '-l', 'app=smoke-deploy', '-o', 'name']))
            .trim()
            .split('\n');
        const [original] = await podNames();
        assert.ok(original);
        await kubectl(['-n', ns, 'delete', original, '--wait=false']);
        let replacement: string[] = [];
        await waitFor('a replacement smoke-deploy pod', 90_000, async () => {
          const r = await runKubectl([
            '-n',
            ns,
            'get',
            'pods',
            '-l',
            'app=smoke-deploy',
            '-o',
            'jsonpath={range .items[?(@.status.phase=="Running")]}{.metadata.name} {.spec.nodeName}{"\\n"}{end}',
          ]);
          replacement =
            r.stdout
              .split('\n')
              .map((line) => line.split(' '))
              .find(([name]) => name !== undefined && name !== '' && `pod/${name}` !== original) ??
            [];
          return replacement.length > 0;
        });
        assert.equal(replacement[1], node.name, 'the replacement runs on the same node');
      });
    });
  }
});

/** The Node version inside the node24 image, read with exec (not from the host). */
async function nodeVersionInImage(ns: string): Promise<string> {
  const out = await kubectl([
    '-n',
    ns,
    'exec',
    'smoke-node',
    '--',
    'node',
    '-p',
    'process.versions.node',
  ]);
  return out.trim();
}
