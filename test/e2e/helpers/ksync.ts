// Driving `bin/ksync` against the local cluster, and what the Kubernetes suites share: the
// admin's KubeTarget, reading pods, a container target from a pod's status, a dialer to the
// agent on a node, and kubeconfigs for narrower users (a ServiceAccount token from the
// TokenRequest API).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import type { ContainerTarget } from '@ksync/core';
import { dialAgent, findAgentPod, readKubeTarget, type KubeTarget } from '@ksync/kube';
import { KSYNC_BIN, runKsync, type CliResult } from '../../integration/helpers/cli-process.ts';
import { REPO_ROOT, kubeconfigPath, kubectl, loadKubeConfig } from './cluster.ts';

let home: string | undefined;

/** The suite's KSYNC_HOME (a temp directory, made on first use): specs, logs, state. */
export async function ksyncHome(): Promise<string> {
  home ??= await mkdtemp(join(tmpdir(), 'ksync-e2e-home-'));
  return home;
}

/** Runs `bin/ksync ...args` against the cluster ($KUBECONFIG) with a temp KSYNC_HOME. */
export async function ksync(args: readonly string[], timeoutMs = 240_000): Promise<CliResult> {
  return runKsync(args, { home: await ksyncHome(), cwd: REPO_ROOT, timeoutMs });
}

/**
 * Runs `bin/ksync ...args` on a real terminal (a pty from util-linux `script`, 100 columns) and
 * returns what the terminal showed, stdout and stderr together, and the exit code.
 */
export async function ksyncOnTerminal(
  args: readonly string[],
): Promise<{ code: number; screen: string }> {
  const home = await ksyncHome();
  const command = `stty cols 100 rows 30; exec ${[KSYNC_BIN, ...args].join(' ')}`;
  const env: NodeJS.ProcessEnv = { ...process.env, KSYNC_HOME: home, TERM: 'xterm-256color' };
  delete env.CI;
  delete env.NO_COLOR;
  return new Promise((resolve) => {
    execFile(
      'script',
      ['-qfec', command, '/dev/null'],
      { env, timeout: 240_000 },
      (error, stdout) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, screen: stdout });
      },
    );
  });
}

/** Like `ksync`, but fails unless it exits 0. */
export async function ksyncOk(args: readonly string[], timeoutMs?: number): Promise<CliResult> {
  const r = await ksync(args, timeoutMs);
  assert.equal(r.code, 0, `ksync ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r;
}

/** The admin's target, resolved by @ksync/kube as the CLI resolves it. */
export function adminTarget(): KubeTarget {
  return readKubeTarget({ env: { KUBECONFIG: kubeconfigPath() } });
}

/** A pod as JSON. */
export async function readPod(namespace: string, name: string): Promise<V1Pod> {
  return JSON.parse(await kubectl(['-n', namespace, 'get', 'pod', name, '-o', 'json'])) as V1Pod;
}

/** The container target of a running container, as the CLI reads it from the pod. */
export function containerTarget(pod: V1Pod, container: string): ContainerTarget {
  const status = pod.status?.containerStatuses?.find((s) => s.name === container);
  assert.ok(status?.containerID && status.state?.running, `${container} is running`);
  return {
    kind: 'container',
    namespace: pod.metadata?.namespace ?? '',
    pod: pod.metadata?.name ?? '',
    podUid: pod.metadata?.uid ?? '',
    container,
    containerId: status.containerID,
    nodeName: pod.spec?.nodeName ?? '',
  };
}

/** A dialer to the ksync agent on `node`, through the API server's port-forward. */
export async function agentDialer(target: KubeTarget, node: string) {
  const pod = await findAgentPod(target, node);
  return () => dialAgent(target, pod);
}

/** What a Role grants: `verbs` on core `resources` (comma-separated), only `resourceName` if set. */
export interface RoleRules {
  readonly verbs: string;
  readonly resources: string;
  readonly resourceName?: string;
}

/** Finding the agent pods (in ksync-system). */
export const FIND_AGENTS: RoleRules = { verbs: 'get,list', resources: 'pods' };

/** Reading the agent token Secret (in ksync-system). */
export const READ_TOKEN: RoleRules = {
  verbs: 'get',
  resources: 'secrets',
  resourceName: 'ksync-agent-token',
};

/**
 * Creates Role `name` in `namespace` with `rules` and binds it to ServiceAccount `account`
 * ("namespace:name"); `rules: 'view'` binds the built-in ClusterRole view there instead.
 */
export async function grant(
  namespace: string,
  name: string,
  account: string,
  rules: RoleRules | 'view',
): Promise<void> {
  const subject = `--serviceaccount=${account}`;
  if (rules === 'view') {
    await kubectl(['-n', namespace, 'create', 'rolebinding', name, '--clusterrole=view', subject]);
    return;
  }
  const only = rules.resourceName === undefined ? [] : [`--resource-name=${rules.resourceName}`];
  await kubectl([
    ...['-n', namespace, 'create', 'role', name],
    ...[`--verb=${rules.verbs}`, `--resource=${rules.resources}`, ...only],
  ]);
  await kubectl(['-n', namespace, 'create', 'rolebinding', name, `--role=${name}`, subject]);
}

/** A kubeconfig for ServiceAccount `sa` in `namespace`, with a token from the TokenRequest API. */
export async function serviceAccountKubeconfig(namespace: string, sa: string): Promise<string> {
  const token = (await kubectl(['-n', namespace, 'create', 'token', sa, '--duration=1h'])).trim();
  const admin = loadKubeConfig();
  const cluster = admin.getCurrentCluster();
  assert.ok(cluster);
  const ca = cluster.caData ?? '';
  const file = join(await mkdtemp(join(tmpdir(), 'ksync-e2e-sa-')), 'kubeconfig');
  await writeFile(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'current-context: sa',
      'clusters:',
      `- {name: local, cluster: {server: '${cluster.server}', certificate-authority-data: '${ca}'}}`,
      'users:',
      `- {name: ${sa}, user: {token: '${token}'}}`,
      'contexts:',
      `- {name: sa, context: {cluster: local, user: ${sa}, namespace: ${namespace}}}`,
      '',
    ].join('\n'),
  );
  return file;
}
