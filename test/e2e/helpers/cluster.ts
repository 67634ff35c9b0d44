// Access to the local test cluster for every e2e suite: where its kubeconfig and kubectl
// are, which images it has, and small helpers to run kubectl, apply fixtures, wait for
// conditions and port-forward. `make cluster-up` writes .cluster/cluster.json, which this
// module reads, so the shell scripts stay the single source of versions and names.
//
// Network rule: tests reach pods only through the API server (exec, logs, port-forward to
// 127.0.0.1), never pod IPs or any non-loopback address.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig, loadYaml } from '@kubernetes/client-node';
import { AGENT_SELECTOR, NAMESPACE } from '@ksync/kube';
import type { V1Pod, V1PodSpec } from '@kubernetes/client-node';

/** The repository root (test/e2e/helpers is three levels below it). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** One node of the local cluster, as `make cluster-up` records it. */
export interface ClusterNode {
  /** The node's name, also its InternalIP: 127.0.0.1, 127.0.0.2. */
  name: string;
  /** The OCI runtime of the node's containerd: runc on node 1, crun on node 2. */
  runtime: 'runc' | 'crun';
  /** The kubelet's root dir on this machine (pods' volumes are under pods/<uid>/volumes). */
  kubeletDir: string;
  /** The OCI runtime's state dir; each running container has k8s.io/<container id> in it. */
  runtimeRoot: string;
}

/** What `make cluster-up` records about the running cluster in .cluster/cluster.json. */
export interface ClusterInfo {
  kubernetesVersion: string;
  kubeconfig: string;
  kubectl: string;
  /** The first node (nodes[0].name). */
  nodeName: string;
  /** Every node, the first one first (`make cluster-up NODES=2` starts two). */
  nodes: ClusterNode[];
  images: { pause: string; testApp: string; node: string; agent: string };
}

let cached: ClusterInfo | undefined;

/** Reads .cluster/cluster.json; throws a one-line error naming the command to run. */
export function readClusterInfo(): ClusterInfo {
  if (cached !== undefined) return cached;
  const file = join(REPO_ROOT, '.cluster', 'cluster.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new Error(`no local cluster (${file} is missing): run 'make cluster-up' first`);
  }
  cached = JSON.parse(text) as ClusterInfo;
  return cached;
}

/** The admin kubeconfig: $KUBECONFIG when set, else the one cluster-up wrote. */
export function kubeconfigPath(): string {
  return process.env['KUBECONFIG'] ?? readClusterInfo().kubeconfig;
}

/** A client-node KubeConfig for the local cluster. */
export function loadKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath());
  return kc;
}

/** The result of one kubectl run. */
export interface KubectlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Options for one kubectl run. */
export interface KubectlOptions {
  /** Written to kubectl's stdin (e.g. a manifest for `apply -f -`). */
  input?: string;
  /** Kill kubectl after this long; default 60 s so a hung call cannot hang the suite. */
  timeoutMs?: number;
}

/** Runs the cluster's own kubectl (same version as the apiserver) and never throws. */
export function runKubectl(
  args: readonly string[],
  opts: KubectlOptions = {},
): Promise<KubectlResult> {
  const { kubectl } = readClusterInfo();
  return new Promise((resolve, reject) => {
    const child = spawn(kubectl, ['--kubeconfig', kubeconfigPath(), ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 60_000,
      killSignal: 'SIGKILL',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs kubectl and returns stdout; throws one line with the command and its error on failure. */
export async function kubectl(args: readonly string[], opts: KubectlOptions = {}): Promise<string> {
  const r = await runKubectl(args, opts);
  if (r.code !== 0) {
    const why = r.stderr.trim().split('\n').pop() ?? '';
    throw new Error(`kubectl ${args.join(' ')} exited ${String(r.code)}: ${why}`);
  }
  return r.stdout;
}

/**
 * Sends SIGTERM to PID 1 of a pod's (first) container, which the test images' idle shell exits
 * on. The exec's own status is ignored: when the container stops under it, the exec may be
 * killed before it reports and end with 137 or a closed stream. The caller waits for the restart.
 */
export async function terminateContainer(ns: string, pod: string): Promise<void> {
  await runKubectl(['-n', ns, 'exec', pod, '--', 'kill', '-s', 'TERM', '1']);
}

/** How often the first container of `pod` has restarted. */
export async function readRestartCount(ns: string, pod: string): Promise<number> {
  const jsonpath = 'jsonpath={.status.containerStatuses[0].restartCount}';
  return Number(await kubectl(['-n', ns, 'get', 'pod', pod, '-o', jsonpath]));
}

/** Reads a fixture from test/e2e/fixtures. */
export function readFixture(name: string): string {
  return readFileSync(join(REPO_ROOT, 'test', 'e2e', 'fixtures', name), 'utf8');
}

/** The well-known label every kubelet puts on its node: here the node's name. */
const HOSTNAME_LABEL = 'kubernetes.io/hostname';

/**
 * A manifest (YAML, one object) with its pod, or its workload's pod template, pinned to
 * `node` by a nodeSelector, as JSON for `kubectl apply -f -`. The scheduler still places it.
 */
export function pinToNode(manifest: string, node: string): string {
  // A Pod's spec is the pod spec; a Deployment's or DaemonSet's has it in its template.
  const obj = loadYaml<{ spec: V1PodSpec & { template?: { spec: V1PodSpec } } }>(manifest);
  const pod = obj.spec.template?.spec ?? obj.spec;
  pod.nodeSelector = { ...pod.nodeSelector, [HOSTNAME_LABEL]: node };
  return JSON.stringify(obj);
}

/** Creates a fresh namespace for one suite and waits for its default ServiceAccount. */
export async function createNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${Date.now().toString(36)}`;
  await kubectl(['create', 'namespace', name]);
  await waitFor(`ServiceAccount default in ${name}`, 30_000, async () => {
    const r = await runKubectl(['-n', name, 'get', 'serviceaccount', 'default']);
    return r.code === 0;
  });
  return name;
}

/** Deletes a namespace without waiting (cluster-down removes whatever is left). */
export async function deleteNamespace(name: string): Promise<void> {
  await runKubectl(['delete', 'namespace', name, '--wait=false']);
}

/** Polls `check` every 250 ms until it returns true; throws naming `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  timeoutMs: number,
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Waits for a pod to be Ready (kubectl wait) and returns nothing; throws on timeout. */
export async function waitPodReady(namespace: string, pod: string, timeoutS = 90): Promise<void> {
  await kubectl(
    ['-n', namespace, 'wait', '--for=condition=Ready', `pod/${pod}`, `--timeout=${timeoutS}s`],
    {
      timeoutMs: (timeoutS + 10) * 1000,
    },
  );
}

/** A running `kubectl port-forward` bound to 127.0.0.1. */
export interface PortForwardHandle {
  localPort: number;
  stop(): void;
}

/** Starts `kubectl port-forward` to `target` (e.g. pod/x) on a free loopback port. */
export function startPortForward(
  namespace: string,
  target: string,
  remotePort: number,
): Promise<PortForwardHandle> {
  const { kubectl: bin } = readClusterInfo();
  const child: ChildProcess = spawn(
    bin,
    [
      '--kubeconfig',
      kubeconfigPath(),
      '-n',
      namespace,
      'port-forward',
      '--address',
      '127.0.0.1',
      target,
      `:${remotePort}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kubectl port-forward ${target} printed no port in 30 s: ${out.trim()}`));
    }, 30_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out);
      if (m?.[1] !== undefined) {
        clearTimeout(timer);
        resolve({ localPort: Number(m[1]), stop: () => void child.kill('SIGTERM') });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`kubectl port-forward ${target} exited ${String(code)}: ${out.trim()}`));
    });
  });
}

/** The pods of app=demo in `ns` whose container runs and that are not terminating. */
export async function runningPods(ns: string): Promise<string[]> {
  const list = JSON.parse(
    await kubectl(['-n', ns, 'get', 'pods', '-l', 'app=demo', '-o', 'json']),
  ) as { items: V1Pod[] };
  return list.items
    .filter(
      (p) =>
        p.metadata?.deletionTimestamp === undefined &&
        p.status?.containerStatuses?.[0]?.state?.running !== undefined,
    )
    .map((p) => p.metadata?.name ?? '')
    .sort();
}

/** The names of the ksync agent pods (the DaemonSet's), terminating ones included. */
export async function agentPodNames(): Promise<string[]> {
  const out = await kubectl([
    '-n',
    NAMESPACE,
    'get',
    'pods',
    '-l',
    AGENT_SELECTOR,
    '-o',
    'jsonpath={.items[*].metadata.name}',
  ]);
  return out.split(' ').filter((n) => n !== '');
}

/** A file in a pod's container, or undefined when it is not there. */
export async function podFile(ns: string, pod: string, path: string): Promise<string | undefined> {
  const r = await runKubectl(['-n', ns, 'exec', pod, '--', 'cat', path]);
  return r.code === 0 ? r.stdout : undefined;
}

/** Waits (up to 60 s) until the file at `path` in `pod` holds `content`. */
export async function waitPodFile(
  ns: string,
  pod: string,
  path: string,
  content: string,
): Promise<void> {
  await waitFor(`${path} = ${JSON.stringify(content)} in ${pod}`, 60_000, async () => {
    return (await podFile(ns, pod, path)) === content;
  });
}
