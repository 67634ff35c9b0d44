// Smoke suite for the local cluster (`make cluster-up`): proves the behaviours ksync relies on
// work against a real kubelet and containerd, not a mock: DaemonSet rollout, exec, cp,
// port-forward (kubectl and client-node), list+watch, ReplicaSet replacement and container
// restarts. Everything reaches pods through the API server only.

import assert from 'node:assert/strict';
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
  readClusterInfo,
  readFixture,
  runKubectl,
  startPortForward,
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

describe('local cluster smoke', { timeout: 600_000 }, () => {
  let ns = '';

  before(async () => {
    ns = await createNamespace('smoke');
  });

  after(async () => {
    if (ns !== '') await deleteNamespace(ns);
  });

  it('has a Ready node running the built version with the project images', async () => {
    const info = readClusterInfo();
    const node = JSON.parse(await kubectl(['get', 'node', info.nodeName, '-o', 'json'])) as {
      status: {
        nodeInfo: { kubeletVersion: string };
        conditions: { type: string; status: string }[];
        images: { names: string[] }[];
      };
    };
    assert.equal(node.status.nodeInfo.kubeletVersion, info.kubernetesVersion);
    assert.equal(node.status.conditions.find((c) => c.type === 'Ready')?.status, 'True');
    const names = node.status.images.flatMap((i) => i.names);
    for (const image of Object.values(info.images)) assert.ok(names.includes(image), image);
  });

  it('rolls out a DaemonSet on the node', async () => {
    await kubectl(['-n', ns, 'apply', '-f', '-'], { input: readFixture('smoke-daemonset.yaml') });
    await kubectl(['-n', ns, 'rollout', 'status', 'daemonset/smoke-ds', '--timeout=120s'], {
      timeoutMs: 130_000,
    });
    const ds = JSON.parse(
      await kubectl(['-n', ns, 'get', 'daemonset', 'smoke-ds', '-o', 'json']),
    ) as {
      status: { numberReady: number; desiredNumberScheduled: number };
    };
    assert.equal(ds.status.desiredNumberScheduled, 1);
    assert.equal(ds.status.numberReady, 1);
  });

  describe('the test-app pod', () => {
    before(async () => {
      await kubectl(['-n', ns, 'apply', '-f', '-'], { input: readFixture('smoke-app.yaml') });
      await waitPodReady(ns, 'smoke-app');
    });

    it('runs a command with kubectl exec, as the non-root user', async () => {
      const out = await kubectl([
        '-n',
        ns,
        'exec',
        'smoke-app',
        '--',
        'sh',
        '-c',
        'echo hello; id -u',
      ]);
      assert.equal(out, 'hello\n1000\n');
      const failed = await runKubectl(['-n', ns, 'exec', 'smoke-app', '--', 'sh', '-c', 'exit 7']);
      assert.equal(failed.code, 7, 'exec must report the command exit status');
    });

    it('copies a file in with kubectl cp', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'ksync-smoke-'));
      try {
        const content = `ksync smoke ${Date.now()}\nsecond line\n`;
        await writeFile(join(dir, 'hello.txt'), content);
        // kubectl cp needs a relative local path or it warns about the leading '/'.
        await kubectl(['-n', ns, 'cp', join(dir, 'hello.txt'), 'smoke-app:/tmp/hello.txt']);
        const back = await kubectl(['-n', ns, 'exec', 'smoke-app', '--', 'cat', '/tmp/hello.txt']);
        assert.equal(back, content);
        const owner = await kubectl([
          '-n',
          ns,
          'exec',
          'smoke-app',
          '--',
          'stat',
          '-c',
          '%u',
          '/tmp/hello.txt',
        ]);
        assert.equal(owner.trim(), '1000');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('restarts the container with a new ID when its main process is killed', async () => {
      const before = await readPod(ns, 'smoke-app');
      const first = before.status?.containerStatuses?.[0];
      assert.ok(first?.containerID);
      // PID 1 is the image's idle shell, which exits on SIGTERM; restartPolicy is Always.
      await kubectl(['-n', ns, 'exec', 'smoke-app', '--', 'kill', '-TERM', '1']);
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
    await kubectl(['-n', ns, 'apply', '-f', '-'], { input: readFixture('smoke-httpd.yaml') });
    await waitPodReady(ns, 'smoke-httpd');
    const pf = await startPortForward(ns, 'pod/smoke-httpd', 8080);
    try {
      assert.equal(await httpGet(pf.localPort), 'ksync-port-forward-ok\n');
    } finally {
      pf.stop();
    }
  });

  describe('@kubernetes/client-node', () => {
    it('lists and watches pods', async () => {
      const kc = loadKubeConfig();
      const core = kc.makeApiClient(CoreV1Api);
      const listed = await core.listNamespacedPod({ namespace: ns });
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
        `/api/v1/namespaces/${ns}/pods`,
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
          namespace: ns,
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

    it('port-forwards from Node to the node24 image', async () => {
      await kubectl(['-n', ns, 'apply', '-f', '-'], { input: readFixture('smoke-node.yaml') });
      await waitPodReady(ns, 'smoke-node');
      await waitFor('smoke-node to listen', 30_000, async () => {
        const r = await runKubectl(['-n', ns, 'logs', 'smoke-node']);
        return r.stdout.includes('listening');
      });
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

  it('replaces a deleted pod through its ReplicaSet', async () => {
    await kubectl(['-n', ns, 'apply', '-f', '-'], { input: readFixture('smoke-deployment.yaml') });
    await kubectl(['-n', ns, 'rollout', 'status', 'deployment/smoke-deploy', '--timeout=120s'], {
      timeoutMs: 130_000,
    });
    const podNames = async () =>
      (await kubectl(['-n', ns, 'get', 'pods', '-l', 'app=smoke-deploy', '-o', 'name']))
        .trim()
        .split('\n');
    const [original] = await podNames();
    assert.ok(original);
    await kubectl(['-n', ns, 'delete', original, '--wait=false']);
    await waitFor('a replacement smoke-deploy pod', 90_000, async () => {
      const r = await runKubectl([
        '-n',
        ns,
        'get',
        'pods',
        '-l',
        'app=smoke-deploy',
        '-o',
        'jsonpath={range .items[?(@.status.phase=="Running")]}{.metadata.name}{"\\n"}{end}',
      ]);
      return r.stdout.split('\n').some((n) => n !== '' && `pod/${n}` !== original);
    });
  });
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
