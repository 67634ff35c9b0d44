// `ksync create --selector` and `ksync watch` against pods of a real Deployment on the local
// cluster, driven through bin/ksync and checked with kubectl exec: edits both ways, a killed
// container (restarted: re-synced, local unchanged, no conflict records) and a deleted pod (its
// replacement gets the local state).

import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  REPO_ROOT,
  agentPodNames,
  createNamespace,
  deleteNamespace,
  kubectl,
  podFile,
  readRestartCount,
  runningPods,
  terminateContainer,
  waitFor,
  waitPodFile,
} from './helpers/cluster.ts';
import { NAMESPACE } from '@ksync/kube';
import { ksync, ksyncOk } from './helpers/ksync.ts';

async function localTree(dir: string): Promise<Record<string, string>> {
  const tree: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort())
    tree[name] = await readFile(join(dir, name), 'utf8');
  return tree;
}

interface GetJson {
  name: string;
  state: string;
  conflicts: number;
  transferredFiles: number;
  error?: string;
  targets?: { pod: string; container: string; node: string; state: string; conflicts: number }[];
}

async function getSync(name: string): Promise<GetJson> {
  const r = await ksyncOk(['get', name, '-o', 'json']);
  return JSON.parse(r.stdout) as GetJson;
}

describe('ksync syncing pods by selector', { timeout: 600_000 }, () => {
  let ns = '';
  let local = '';

  before(async () => {
    await ksyncOk(['init']);
    ns = await createNamespace('ksync-sync');
    await kubectl(['-n', ns, 'apply', '-f', join(REPO_ROOT, 'deploy/examples/demo.yaml')]);
    await kubectl(['-n', ns, 'rollout', 'status', 'deployment/demo', '--timeout=90s'], {
      timeoutMs: 100_000,
    });
    local = await mkdtemp(join(tmpdir(), 'ksync-e2e-src-'));
    await writeFile(join(local, 'index.html'), 'hello\n');
    await ksyncOk(['create', '--name', 'demo', '--selector', 'app=demo', '-n', ns, local, '/app']);
    await ksyncOk(['watch', '--daemon']);
  });
  after(async () => {
    await ksync(['stop']);
    if (ns !== '') await deleteNamespace(ns);
  });

  it('a spec with no matching pod waits and says for what', async () => {
    const elsewhere = await mkdtemp(join(tmpdir(), 'ksync-e2e-none-'));
    await ksyncOk(['create', '--name', 'none', '-l', 'app=nothing', '-n', ns, elsewhere, '/app']);
    await waitFor(
      'the spec to wait',
      30_000,
      async () => (await getSync('none')).state === 'waiting',
    );
    const table = await ksyncOk(['get', 'none']);
    assert.match(
      table.stdout,
      new RegExp(`waiting for pods matching app=nothing in namespace ${ns}`),
    );
    await ksyncOk(['delete', 'none']);
  });

  it('the local tree reaches the pod, and get lists the target', async () => {
    const [pod] = await runningPods(ns);
    assert.ok(pod);
    await waitPodFile(ns, pod, '/app/index.html', 'hello\n');
    await ksyncOk(['flush', 'demo', '--timeout', '60s']);
    const view = await getSync('demo');
    assert.equal(view.state, 'watching');
    assert.deepEqual(
      view.targets?.map((t) => [t.pod, t.container, t.state]),
      [[pod, 'app', 'watching']],
    );
  });

  it('a local edit shows in the container, a container write shows locally', async () => {
    const [pod] = await runningPods(ns);
    assert.ok(pod);
    await writeFile(join(local, 'index.html'), 'edited locally\n');
    await waitPodFile(ns, pod, '/app/index.html', 'edited locally\n');
    await kubectl(['-n', ns, 'exec', pod, '--', 'sh', '-c', 'echo from pod > /app/pod.txt']);
    await waitFor('pod.txt locally', 60_000, async () =>
      readFile(join(local, 'pod.txt'), 'utf8').then(
        (t) => t === 'from pod\n',
        () => false,
      ),
    );
  });

  it('a killed container is restarted and re-synced; local is unchanged, no conflicts', async () => {
    await ksyncOk(['flush', 'demo', '--timeout', '60s']);
    const before = await localTree(local);
    const [pod] = await runningPods(ns);
    assert.ok(pod);
    await terminateContainer(ns, pod);
    await waitFor('the container to restart', 90_000, async () => {
      return (await readRestartCount(ns, pod)) >= 1 && (await runningPods(ns)).includes(pod);
    });
    await waitPodFile(ns, pod, '/app/index.html', 'edited locally\n');
    await waitPodFile(ns, pod, '/app/pod.txt', 'from pod\n');
    await ksyncOk(['flush', 'demo', '--timeout', '60s']);
    assert.deepEqual(await localTree(local), before);
    const conflicts = await ksyncOk(['conflicts', 'demo', '-o', 'json']);
    assert.deepEqual(JSON.parse(conflicts.stdout), []);
  });

  it('a deleted pod is replaced, and the replacement gets the local state', async () => {
    const before = await localTree(local);
    const [old] = await runningPods(ns);
    assert.ok(old);
    await kubectl(['-n', ns, 'delete', 'pod', old, '--wait=false']);
    let replacement = '';
    await waitFor('a replacement pod', 90_000, async () => {
      replacement = (await runningPods(ns)).find((p) => p !== old) ?? '';
      return replacement !== '';
    });
    await waitPodFile(ns, replacement, '/app/index.html', 'edited locally\n');
    await waitPodFile(ns, replacement, '/app/pod.txt', 'from pod\n');
    await waitFor('get to list only the replacement', 60_000, async () => {
      const view = await getSync('demo');
      return view.targets?.map((t) => t.pod).join() === replacement && view.state === 'watching';
    });
    assert.deepEqual(await localTree(local), before);
    const conflicts = await ksyncOk(['conflicts', 'demo', '-o', 'json']);
    assert.deepEqual(JSON.parse(conflicts.stdout), []);
  });

  it('scaled to 3, every replica holds the local state and a write in one reaches all', async () => {
    await kubectl(['-n', ns, 'scale', 'deployment/demo', '--replicas=3']);
    let pods: string[] = [];
    await waitFor('three running pods', 90_000, async () => {
      pods = await runningPods(ns);
      return pods.length === 3;
    });
    for (const pod of pods) await waitPodFile(ns, pod, '/app/index.html', 'edited locally\n');
    const [one, two, three] = pods as [string, string, string];
    await kubectl(['-n', ns, 'exec', two, '--', 'sh', '-c', 'echo from two > /app/two.txt']);
    await waitFor('two.txt locally', 60_000, async () =>
      readFile(join(local, 'two.txt'), 'utf8').then(
        (t) => t === 'from two\n',
        () => false,
      ),
    );
    await waitPodFile(ns, one, '/app/two.txt', 'from two\n');
    await waitPodFile(ns, three, '/app/two.txt', 'from two\n');
    await waitFor('three watching targets', 60_000, async () => {
      const view = await getSync('demo');
      return view.targets?.length === 3 && view.targets.every((t) => t.state === 'watching');
    });
    const conflicts = await ksyncOk(['conflicts', 'demo', '-o', 'json']);
    assert.deepEqual(JSON.parse(conflicts.stdout), []);
  });

  it('a true conflict between local and one pod is listed and resolvable', async () => {
    const [pod, ...others] = await runningPods(ns);
    assert.ok(pod);
    await ksyncOk(['pause', 'demo']);
    await writeFile(join(local, 'index.html'), 'local side\n');
    await kubectl(['-n', ns, 'exec', pod, '--', 'sh', '-c', 'echo pod side > /app/index.html']);
    await ksyncOk(['resume', 'demo']);
    await ksyncOk(['flush', 'demo', '--timeout', '60s']);
    const listed = JSON.parse((await ksyncOk(['conflicts', 'demo', '-o', 'json'])).stdout) as {
      path: string;
      target?: string;
    }[];
    assert.deepEqual(
      listed.map((c) => [c.path, c.target]),
      [['index.html', `${pod}/app`]],
    );
    // two-way kept local everywhere; keeping the pod's version brings it to local and the others.
    assert.equal(await readFile(join(local, 'index.html'), 'utf8'), 'local side\n');
    await ksyncOk(['resolve', 'demo', 'index.html', '--keep', 'remote']);
    await waitFor('the pod version locally', 60_000, async () =>
      readFile(join(local, 'index.html'), 'utf8').then((t) => t === 'pod side\n'),
    );
    for (const other of others) await waitPodFile(ns, other, '/app/index.html', 'pod side\n');
    assert.deepEqual(JSON.parse((await ksyncOk(['conflicts', 'demo', '-o', 'json'])).stdout), []);
    await kubectl(['-n', ns, 'scale', 'deployment/demo', '--replicas=1']);
  });

  it('the sync survives the agent pod being replaced, without a full re-transfer', async () => {
    const before = await getSync('demo');
    const agents = await agentPodNames();
    await kubectl(['-n', NAMESPACE, 'delete', 'pod', ...agents, '--wait=true']);
    await kubectl(
      ['-n', NAMESPACE, 'rollout', 'status', 'daemonset/ksync-agent', '--timeout=90s'],
      {
        timeoutMs: 100_000,
      },
    );
    await writeFile(join(local, 'after-agent.txt'), 'still syncing\n');
    const [pod] = await runningPods(ns);
    assert.ok(pod);
    await waitPodFile(ns, pod, '/app/after-agent.txt', 'still syncing\n');
    await ksyncOk(['flush', 'demo', '--timeout', '60s']);
    const after = await getSync('demo');
    assert.ok(
      after.transferredFiles - before.transferredFiles <= 2,
      `transferred ${after.transferredFiles - before.transferredFiles} files after the agent came back`,
    );
  });

  it('ksync delete stops the sync', async () => {
    await ksyncOk(['delete', 'demo']);
    await writeFile(join(local, 'after-delete.txt'), 'not synced\n');
    const [pod] = await runningPods(ns);
    assert.ok(pod);
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(await podFile(ns, pod, '/app/after-delete.txt'), undefined);
    const list = JSON.parse((await ksyncOk(['get', '-o', 'json'])).stdout) as GetJson[];
    assert.deepEqual(
      list.map((v) => v.name),
      [],
    );
  });
});
