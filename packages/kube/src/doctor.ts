/**
 * `ksync doctor`: a checklist of what ksync needs from a cluster, each failure with its fix.
 * The checks, in order: the cluster answers (its version); the current user's RBAC (a
 * SelfSubjectAccessReview per permission ksync uses); and per node: the agent pod is Ready with
 * the CLI's version and answers hello through port-forward, the token Secret is readable, the node's
 * container runtime, and its inotify limits as the agent reads them.
 *
 * A check is `ok`, `warn` (worth knowing, ksync still works) or `fail`; the report is ok when
 * nothing failed. Checks that cannot run because an earlier one failed are not listed: a
 * cluster that does not answer gives one failure, not ten.
 */
import { AuthorizationV1Api, CoreV1Api, VersionApi } from '@kubernetes/client-node';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { readAgentWelcome, type AgentWelcome } from '@ksync/agent';
import { KSYNC_VERSION, PROTOCOL_VERSION, checkVersions } from '@ksync/core';
import { dialAgent, readAgentToken } from './agent-locator.ts';
import { kubeCall } from './call.ts';
import type { KubeTarget } from './config.ts';
import {
  AGENT_NAME,
  AGENT_SELECTOR,
  LABELS,
  NAMESPACE,
  TOKEN_SECRET,
  USER_ROLE,
} from './install/manifests.ts';
import { isPodReady } from './install/rollout.ts';

/** The outcome of one check. */
export type CheckStatus = 'ok' | 'warn' | 'fail';

/** One line of the checklist. */
export interface Check {
  /** Stable kebab-case id, e.g. `agent`, `rbac-ksync-system`. */
  readonly id: string;
  /** What was checked, e.g. `agent on node-1`. */
  readonly title: string;
  readonly status: CheckStatus;
  /** What was found. */
  readonly detail: string;
  /** The command or action that fixes a failure or warning. */
  readonly fix?: string;
}

/** The whole checklist. */
export interface DoctorReport {
  readonly context: string;
  readonly server: string;
  /** The namespace whose pods the RBAC check covers. */
  readonly namespace: string;
  readonly checks: readonly Check[];
  /** True when no check failed. */
  readonly ok: boolean;
}

/** Below this many inotify watches, large trees run out (a warning, not a failure). */
export const INOTIFY_WATCHES_WANTED = 65_536;

/** Runs every check against the target's cluster. */
export async function runDoctor(target: KubeTarget): Promise<DoctorReport> {
  const checks: Check[] = [];
  const cluster = await checkCluster(target);
  checks.push(cluster);
  if (cluster.status === 'ok') {
    checks.push(...(await checkRbac(target)));
    checks.push(...(await checkNodes(target)));
  }
  return {
    context: target.context,
    server: target.server,
    namespace: target.namespace,
    checks,
    ok: checks.every((c) => c.status !== 'fail'),
  };
}

async function checkCluster(target: KubeTarget): Promise<Check> {
  const title = 'cluster reachable';
  try {
    const version = await kubeCall(target, { verb: 'get', resource: 'version' }, () =>
      target.kc.makeApiClient(VersionApi).getCode(),
    );
    return {
      id: 'cluster',
      title,
      status: 'ok',
      detail: `Kubernetes ${version.gitVersion} at ${target.server} (context ${target.context})`,
    };
  } catch (error) {
    return {
      id: 'cluster',
      title,
      status: 'fail',
      detail: message(error),
      fix: `check the cluster with 'kubectl --context ${target.context} cluster-info'`,
    };
  }
}

/** A permission ksync uses: in ksync-system to reach the agent, in the target namespace to sync. */
interface Permission {
  readonly namespace: string;
  readonly verb: string;
  readonly resource: string;
  readonly subresource?: string;
  readonly name?: string;
}

function neededPermissions(namespace: string): Permission[] {
  return [
    { namespace: NAMESPACE, verb: 'get', resource: 'pods' },
    { namespace: NAMESPACE, verb: 'list', resource: 'pods' },
    { namespace: NAMESPACE, verb: 'get', resource: 'pods', subresource: 'portforward' },
    { namespace: NAMESPACE, verb: 'create', resource: 'pods', subresource: 'portforward' },
    { namespace: NAMESPACE, verb: 'get', resource: 'secrets', name: TOKEN_SECRET },
    { namespace, verb: 'get', resource: 'pods' },
    { namespace, verb: 'list', resource: 'pods' },
    { namespace, verb: 'watch', resource: 'pods' },
  ];
}

function describePermission(p: Permission): string {
  const resource = p.subresource === undefined ? p.resource : `${p.resource}/${p.subresource}`;
  return `${p.verb} ${resource}${p.name === undefined ? '' : ` "${p.name}"`}`;
}

async function checkRbac(target: KubeTarget): Promise<Check[]> {
  const auth = target.kc.makeApiClient(AuthorizationV1Api);
  const permissions = neededPermissions(target.namespace);
  const allowed = await Promise.all(
    permissions.map(async (p) => {
      const review = await kubeCall(
        target,
        { verb: 'create', resource: 'selfsubjectaccessreviews.authorization.k8s.io' },
        () =>
          auth.createSelfSubjectAccessReview({
            body: {
              apiVersion: 'authorization.k8s.io/v1',
              kind: 'SelfSubjectAccessReview',
              spec: {
                resourceAttributes: {
                  namespace: p.namespace,
                  verb: p.verb,
                  resource: p.resource,
                  ...(p.subresource === undefined ? {} : { subresource: p.subresource }),
                  ...(p.name === undefined ? {} : { name: p.name }),
                },
              },
            },
          }),
      );
      return review.status?.allowed === true;
    }),
  );
  const namespaces = [...new Set(permissions.map((p) => p.namespace))];
  return namespaces.map((namespace) => {
    const missing = permissions.filter((p, i) => p.namespace === namespace && !allowed[i]);
    const title = `permissions in ${namespace}`;
    const id = namespace === NAMESPACE ? 'rbac-agent' : 'rbac-workloads';
    const wanted = permissions.filter((p) => p.namespace === namespace).map(describePermission);
    if (missing.length === 0) {
      return { id, title, status: 'ok', detail: wanted.join(', ') };
    }
    return {
      id,
      title,
      status: 'fail',
      detail: `you cannot ${missing.map(describePermission).join(', ')} in namespace ${namespace}`,
      fix:
        namespace === NAMESPACE
          ? `ask a cluster admin to bind the Role ${USER_ROLE} to you: 'kubectl -n ${NAMESPACE} ` +
            `create rolebinding ksync-<you> --role=${USER_ROLE} --user=<you>'`
          : `ask a cluster admin for get, list and watch on pods in ${namespace} (for example ` +
            `the built-in view ClusterRole)`,
    };
  });
}

async function checkNodes(target: KubeTarget): Promise<Check[]> {
  const core = target.kc.makeApiClient(CoreV1Api);
  const checks: Check[] = [];
  let pods: V1Pod[];
  try {
    pods = (
      await kubeCall(target, { verb: 'list', resource: 'pods', namespace: NAMESPACE }, () =>
        core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: AGENT_SELECTOR }),
      )
    ).items;
  } catch (error) {
    return [{ id: 'agent', title: 'ksync agent', status: 'fail', detail: message(error) }];
  }
  let nodes: V1Node[] | undefined;
  try {
    nodes = (await kubeCall(target, { verb: 'list', resource: 'nodes' }, () => core.listNode()))
      .items;
  } catch (error) {
    checks.push({
      id: 'nodes',
      title: 'nodes',
      status: 'warn',
      detail: `${message(error)}; only nodes with an agent pod are checked`,
    });
  }
  const nodeNames = nodes?.map((n) => n.metadata?.name ?? '') ?? [
    ...new Set(pods.map((p) => p.spec?.nodeName ?? '')),
  ];
  if (pods.length === 0) {
    checks.push({
      id: 'agent',
      title: 'ksync agent',
      status: 'fail',
      detail: `not installed (no agent pod in ${NAMESPACE})`,
      fix: "run 'ksync init'",
    });
    return checks;
  }
  try {
    await readAgentToken(target);
  } catch (error) {
    checks.push({
      id: 'token',
      title: 'agent token',
      status: 'fail',
      detail: message(error),
      fix: "run 'ksync init' to create it, or see the permissions check above",
    });
  }
  for (const node of nodeNames) {
    const pod = pods.find(
      (p) => p.spec?.nodeName === node && p.metadata?.deletionTimestamp === undefined,
    );
    const agent = await checkAgent({ target, node, pod });
    checks.push(agent.check);
    const info = nodes?.find((n) => n.metadata?.name === node);
    if (info !== undefined) checks.push(checkRuntime(node, info));
    if (agent.hello !== undefined) checks.push(checkInotify(node, agent.hello));
  }
  return checks;
}

interface AgentCheckInput {
  readonly target: KubeTarget;
  readonly node: string;
  readonly pod: V1Pod | undefined;
}

async function checkAgent(input: AgentCheckInput): Promise<{ check: Check; hello?: AgentWelcome }> {
  const { target, node, pod } = input;
  const base = { id: 'agent', title: `agent on ${node}` } as const;
  if (pod === undefined) {
    return {
      check: {
        ...base,
        status: 'fail',
        detail: 'no agent pod on this node',
        fix: `run 'ksync init'; if it is installed, see 'kubectl -n ${NAMESPACE} describe daemonset ${AGENT_NAME}'`,
      },
    };
  }
  const podName = pod.metadata?.name ?? '';
  const labelled = pod.metadata?.labels?.[LABELS.version] ?? '(unknown)';
  if (labelled !== KSYNC_VERSION) {
    return {
      check: {
        ...base,
        status: 'fail',
        detail: `pod ${podName} runs agent ${labelled}; this CLI is ${KSYNC_VERSION}`,
        fix: versionFix(labelled),
      },
    };
  }
  if (!isPodReady(pod)) {
    return {
      check: {
        ...base,
        status: 'fail',
        detail: `pod ${podName} is not ready (${pod.status?.phase ?? 'unknown phase'})`,
        fix: `see 'kubectl -n ${NAMESPACE} describe pod ${podName}' and 'kubectl -n ${NAMESPACE} logs ${podName}'`,
      },
    };
  }
  let hello: AgentWelcome;
  try {
    hello = await readAgentWelcome({
      url: 'ws://ksync-agent/',
      dial: () => dialAgent(target, pod),
    });
  } catch (error) {
    return {
      check: {
        ...base,
        status: 'fail',
        detail: `pod ${podName} is ready but the handshake through port-forward failed: ${message(error)}`,
        fix: `see 'kubectl -n ${NAMESPACE} logs ${podName}'`,
      },
    };
  }
  const skew = checkVersions({
    cliVersion: KSYNC_VERSION,
    cliProtocol: PROTOCOL_VERSION,
    agentVersion: hello.version,
    agentProtocol: hello.protocol,
  });
  if (skew !== undefined) {
    return {
      check: { ...base, status: 'fail', detail: skew, fix: versionFix(hello.version) },
      hello,
    };
  }
  return {
    check: {
      ...base,
      status: 'ok',
      detail: `pod ${podName} ready, agent ${hello.version}, handshake ok`,
    },
    hello,
  };
}

function versionFix(agentVersion: string): string {
  return (
    checkVersions({
      cliVersion: KSYNC_VERSION,
      cliProtocol: PROTOCOL_VERSION,
      agentVersion,
      agentProtocol: PROTOCOL_VERSION,
    })?.replace(/^.*?: /, '') ?? "run 'ksync init --upgrade'"
  );
}

const KNOWN_RUNTIMES = ['containerd', 'cri-o', 'docker'];

function checkRuntime(node: string, info: V1Node): Check {
  const runtime = info.status?.nodeInfo?.containerRuntimeVersion ?? '';
  const known = KNOWN_RUNTIMES.some((r) => runtime.startsWith(`${r}://`));
  return {
    id: 'runtime',
    title: `runtime on ${node}`,
    status: known ? 'ok' : 'warn',
    detail: runtime === '' ? 'not reported' : runtime,
    ...(known
      ? {}
      : { fix: `ksync supports ${KNOWN_RUNTIMES.join(', ')}; other runtimes are untested` }),
  };
}

function checkInotify(node: string, hello: AgentWelcome): Check {
  const watches = hello.node?.inotify.maxUserWatches;
  const instances = hello.node?.inotify.maxUserInstances;
  const base = { id: 'inotify', title: `inotify on ${node}` } as const;
  const detail = `max_user_watches ${watches ?? 'unknown'}, max_user_instances ${instances ?? 'unknown'}`;
  if (watches !== undefined && watches >= INOTIFY_WATCHES_WANTED)
    return { ...base, status: 'ok', detail };
  return {
    ...base,
    status: 'warn',
    detail,
    fix: `large trees need more watches: 'sysctl -w fs.inotify.max_user_watches=524288' on the node`,
  };
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
