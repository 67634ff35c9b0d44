/**
 * The local cluster in the benchmarks (`make cluster-up`): the bench pod, the host pid of a
 * pod's container (this machine is the node, so a container's files are at /proc/<pid>/root),
 * and the cluster baselines of issue 11: `kubectl cp` of one small file, a tree copied by
 * `tar c | kubectl exec -i POD -- tar x`, and raw bytes through `kubectl exec -i` stdin counted by
 * the pod (busybox `cat > /dev/null` alone ends early, so the receiving side counts with
 * `wc -c`). Runs only when KUBECONFIG points at a running cluster.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeBigFile } from '../test/integration/helpers/agent-process.ts';
import {
  createNamespace,
  deleteNamespace,
  kubeconfigPath,
  kubectl,
  readClusterInfo,
  runKubectl,
  waitPodReady,
} from '../test/e2e/helpers/cluster.ts';
import { containerPid } from '../test/reliability/harness.ts';
import { writeTree, type TreeShape } from './measure.ts';

/** Why the cluster baselines cannot run, or undefined when they can. */
export async function clusterUnavailable(): Promise<string | undefined> {
  if (process.env.KUBECONFIG === undefined) return '`KUBECONFIG` not set';
  try {
    readClusterInfo();
  } catch (error) {
    return (error as Error).message;
  }
  const ready = await runKubectl(['get', '--raw', '/readyz'], { timeoutMs: 10_000 });
  return ready.code === 0 ? undefined : `the cluster at ${kubeconfigPath()} is not ready`;
}

/** The bench pod's name; its one container is `app`. */
export const BENCH_POD = 'bench';

/** Where the bench pod mounts an emptyDir, so large trees do not fill the container's overlay. */
export const BENCH_POD_DIR = '/sync';

/** Starts the bench pod (the test app image, an emptyDir at BENCH_POD_DIR) and waits until it is Ready. */
export async function startBenchPod(namespace: string): Promise<void> {
  const volume = 'sync';
  await kubectl(['-n', namespace, 'apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: BENCH_POD },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            name: 'app',
            image: readClusterInfo().images.testApp,
            imagePullPolicy: 'Never',
            volumeMounts: [{ name: volume, mountPath: BENCH_POD_DIR }],
          },
        ],
        volumes: [{ name: volume, emptyDir: {} }],
      },
    }),
  });
  await waitPodReady(namespace, BENCH_POD);
}

/** The host pid of the first container of `pod` (this machine is the cluster's node). */
export async function readContainerPid(namespace: string, pod: string): Promise<number> {
  const jsonpath = 'jsonpath={.status.containerStatuses[0].containerID}';
  return containerPid((await kubectl(['-n', namespace, 'get', 'pod', pod, '-o', jsonpath])).trim());
}

/** Runs `tar c -C dir .` into `kubectl exec -i POD -- tar x -C dest`; resolves when both end. */
function tarInto(
  namespace: string,
  pod: string,
  options: { dir: string; dest: string },
): Promise<void> {
  const { kubectl: bin } = readClusterInfo();
  return new Promise((resolve, reject) => {
    const tar = spawn('tar', ['c', '-C', options.dir, '.'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exec = spawn(
      bin,
      [
        '--kubeconfig',
        kubeconfigPath(),
        '-n',
        namespace,
        'exec',
        '-i',
        pod,
        '--',
        'tar',
        'x',
        '-C',
        options.dest,
      ],
      { stdio: ['pipe', 'ignore', 'pipe'] },
    );
    tar.stdout.pipe(exec.stdin);
    let stderr = '';
    exec.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    exec.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`tar over exec exited ${code}: ${stderr}`)),
    );
  });
}

/** Streams `path` into the pod's stdin; resolves with the byte count the pod read. */
function execStdin(namespace: string, pod: string, path: string): Promise<number> {
  const { kubectl: bin } = readClusterInfo();
  return new Promise((resolve, reject) => {
    const exec = spawn(
      bin,
      [
        '--kubeconfig',
        kubeconfigPath(),
        '-n',
        namespace,
        'exec',
        '-i',
        pod,
        '--',
        'sh',
        '-c',
        'wc -c',
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    let stdout = '';
    exec.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    createReadStream(path).pipe(exec.stdin);
    exec.once('exit', (code) =>
      code === 0 ? resolve(Number(stdout.trim())) : reject(new Error(`exec stdin exited ${code}`)),
    );
  });
}

/** One round of the cluster baselines; each value goes to `record(row, value)`. */
export async function clusterBaselines(options: {
  edits: number;
  medium: TreeShape;
  bigMiB: number;
  record: (row: string, value: number) => void;
}): Promise<void> {
  const namespace = await createNamespace('ksync-bench');
  const work = await mkdtemp(join(tmpdir(), 'ksync-bench-cluster-'));
  const pod = BENCH_POD;
  try {
    await startBenchPod(namespace);
    const file = join(work, 'edited.txt');
    for (let i = 0; i < options.edits; i++) {
      await writeFile(file, `kubectl cp edit ${i}\n`);
      const started = performance.now();
      await kubectl(['-n', namespace, 'cp', file, `${pod}:/tmp/edited.txt`]);
      options.record('kubectl-cp', performance.now() - started);
    }
    const tree = join(work, 'tree');
    await mkdir(tree);
    writeTree(tree, options.medium);
    await kubectl(['-n', namespace, 'exec', pod, '--', 'mkdir', '-p', '/tmp/tree']);
    const started = performance.now();
    await tarInto(namespace, pod, { dir: tree, dest: '/tmp/tree' });
    const seconds = (performance.now() - started) / 1000;
    const count = await kubectl([
      '-n',
      namespace,
      'exec',
      pod,
      '--',
      'sh',
      '-c',
      'find /tmp/tree -type f | wc -l',
    ]);
    if (Number(count.trim()) !== options.medium.files) {
      throw new Error(`tar over exec left ${count.trim()} of ${options.medium.files} files`);
    }
    options.record('tar-exec', seconds);
    const big = join(work, 'big');
    const bytes = options.bigMiB * 1024 * 1024;
    await writeBigFile(big, bytes);
    const sent = performance.now();
    const received = await execStdin(namespace, pod, big);
    if (received !== bytes)
      throw new Error(`exec stdin: the pod read ${received} of ${bytes} bytes`);
    options.record('exec-stdin', options.bigMiB / ((performance.now() - sent) / 1000));
  } finally {
    await deleteNamespace(namespace);
    await rm(work, { recursive: true, force: true });
  }
}
