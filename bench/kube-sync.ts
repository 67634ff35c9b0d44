/**
 * Kubernetes sync through port-forward on the local cluster (run once, by hand, with the cluster
 * up and KUBECONFIG set; never in a loop):
 * - single-file edit latency both ways over 100 edits, p50/p99: a local write until the file
 *   holds it in the container, and a container write until the local file holds it, with the
 *   `kubectl cp` of the same file as the baseline;
 * - the initial sync of a 10k-file tree (`create` + `flush`) next to
 *   `tar c | kubectl exec -i POD -- tar x`.
 * The container's files are read and written from the host through /proc/<pid>/root (this
 * machine is the node), which is what a write inside the container is, without paying for an
 * exec per poll.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { percentile, waitForContent } from './helpers.ts';

const run = promisify(execFile);
const repo = join(import.meta.dirname, '..');
const cluster = JSON.parse(await readFile(join(repo, '.cluster/cluster.json'), 'utf8')) as {
  kubectl: string;
  kubeconfig: string;
};
const env = {
  ...process.env,
  KUBECONFIG: cluster.kubeconfig,
  KSYNC_HOME: await mkdtemp(join(tmpdir(), 'ksync-bench-home-')),
};
const ns = `ksync-bench-${Date.now().toString(36)}`;
const EDITS = 100;

async function kubectl(...args: string[]): Promise<string> {
  return (await run(cluster.kubectl, args, { env, maxBuffer: 1 << 26 })).stdout;
}
async function ksync(...args: string[]): Promise<void> {
  await run(join(repo, 'bin/ksync'), args, { env });
}

/** The host pid of the container whose ID is `id` (the oldest process in its cgroup). */
async function hostPid(id: string): Promise<number> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cgroup = await readFile(`/proc/${name}/cgroup`, 'utf8').catch(() => '');
    if (cgroup.includes(id)) pids.push(Number(name));
  }
  const pid = pids.sort((a, b) => a - b)[0];
  if (pid === undefined) throw new Error(`no process of container ${id}`);
  return pid;
}

function summary(label: string, ms: number[]): string {
  const sorted = [...ms].sort((a, b) => a - b);
  return `${label}: p50 ${percentile(sorted, 50).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms (n=${ms.length})`;
}

await kubectl('create', 'namespace', ns);
try {
  await ksync('init');
  await kubectl('-n', ns, 'apply', '-f', join(repo, 'deploy/examples/demo.yaml'));
  await kubectl('-n', ns, 'rollout', 'status', 'deployment/demo', '--timeout=90s');
  const pod = (
    await kubectl(
      '-n',
      ns,
      'get',
      'pods',
      '-l',
      'app=demo',
      '-o',
      'jsonpath={.items[0].metadata.name}',
    )
  ).trim();
  const containerId = (
    await kubectl(
      '-n',
      ns,
      'get',
      'pod',
      pod,
      '-o',
      'jsonpath={.status.containerStatuses[0].containerID}',
    )
  )
    .trim()
    .replace(/^.*:\/\//, '');
  const root = `/proc/${await hostPid(containerId)}/root`;

  // Latency.
  const local = await mkdtemp(join(tmpdir(), 'ksync-bench-src-'));
  await writeFile(join(local, 'edit.txt'), 'start');
  await ksync('create', '--name', 'lat', '-l', 'app=demo', '-n', ns, local, '/app');
  await ksync('watch', '--daemon');
  await ksync('flush', 'lat', '--timeout', '120s');
  const up: number[] = [];
  const down: number[] = [];
  const cp: number[] = [];
  for (let i = 0; i < EDITS; i++) {
    const content = `local edit ${i}`;
    const t0 = performance.now();
    await writeFile(join(local, 'edit.txt'), content);
    await waitForContent(join(root, 'app/edit.txt'), content);
    up.push(performance.now() - t0);
  }
  for (let i = 0; i < EDITS; i++) {
    const content = `container edit ${i}`;
    const t0 = performance.now();
    await writeFile(join(root, 'app/edit.txt'), content);
    await waitForContent(join(local, 'edit.txt'), content);
    down.push(performance.now() - t0);
  }
  await ksync('delete', 'lat');
  for (let i = 0; i < EDITS; i++) {
    const content = `kubectl cp ${i}`;
    await writeFile(join(local, 'cp.txt'), content);
    const t0 = performance.now();
    await kubectl('-n', ns, 'cp', join(local, 'cp.txt'), `${pod}:/app/cp.txt`);
    await waitForContent(join(root, 'app/cp.txt'), content);
    cp.push(performance.now() - t0);
  }
  console.log(summary('local -> container (ksync)', up));
  console.log(summary('container -> local (ksync)', down));
  console.log(summary('local -> container (kubectl cp)', cp));

  // Initial sync of 10k files.
  const tree = await mkdtemp(join(tmpdir(), 'ksync-bench-10k-'));
  let bytes = 0;
  for (let d = 0; d < 100; d++) {
    await mkdir(join(tree, `d${d}`));
    for (let f = 0; f < 100; f++) {
      const text = `file ${d}/${f} `.repeat(40);
      bytes += text.length;
      await writeFile(join(tree, `d${d}`, `f${f}.txt`), text);
    }
  }
  let t0 = performance.now();
  await ksync('create', '--name', 'tenk', '-l', 'app=demo', '-n', ns, tree, '/tenk');
  await ksync('flush', 'tenk', '--timeout', '600s');
  const ksyncMs = performance.now() - t0;
  await ksync('delete', 'tenk');
  t0 = performance.now();
  await kubectl('-n', ns, 'exec', pod, '--', 'mkdir', '-p', '/tartenk');
  await new Promise<void>((resolve, reject) => {
    const tar = spawn('tar', ['c', '-C', tree, '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exec = spawn(
      cluster.kubectl,
      ['-n', ns, 'exec', '-i', pod, '--', 'tar', 'x', '-C', '/tartenk'],
      {
        env,
        stdio: ['pipe', 'inherit', 'inherit'],
      },
    );
    tar.stdout.pipe(exec.stdin);
    exec.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`tar x exited ${code}`)),
    );
  });
  const tarMs = performance.now() - t0;
  console.log(
    `initial sync of 10,000 files (${(bytes / 1e6).toFixed(1)} MB): ksync create+flush ${(ksyncMs / 1000).toFixed(1)} s; tar | kubectl exec tar x ${(tarMs / 1000).toFixed(1)} s`,
  );
} finally {
  await ksync('stop').catch(() => undefined);
  await kubectl('delete', 'namespace', ns, '--wait=false').catch(() => undefined);
}
