/**
 * Every object `ksync init` installs, as typed values: the one source of truth. The YAML in
 * deploy/kubernetes/ksync.yaml is rendered from these (`npm run -s manifests`) and a test checks
 * that the committed file still matches. docs/security.md justifies each privilege given here;
 * keep the two in step.
 *
 * Invariants:
 * - The agent gets no Kubernetes API access (no service-account token), no host network and no
 *   hostPath volume. It reaches containers through the host's /proc (hostPID) and needs exactly
 *   the capabilities in `AGENT_CAPABILITIES`.
 * - It listens on 127.0.0.1 inside its pod: port-forward (guarded by the Role below) plus the
 *   token in the Secret are the only way in. The probes are exec probes for that reason.
 * - The token value is never part of a rendered manifest: `secretManifest` is only built with
 *   the random token `init` generates, and only sent to the API server.
 */
import type {
  KubernetesObject,
  V1DaemonSet,
  V1Namespace,
  V1Role,
  V1Secret,
  V1ServiceAccount,
} from '@kubernetes/client-node';
import { KSYNC_VERSION } from '@ksync/core';

/** The namespace that holds everything ksync installs. */
export const NAMESPACE = 'ksync-system';
/** The name of the agent's DaemonSet and ServiceAccount. */
export const AGENT_NAME = 'ksync-agent';
/** The Secret holding the agent's token. */
export const TOKEN_SECRET = 'ksync-agent-token';
/** The key of the token in the Secret. */
export const TOKEN_KEY = 'token';
/** The Role a user of ksync needs (bind it to them in ksync-system). */
export const USER_ROLE = 'ksync-user';
/** The agent's port on 127.0.0.1 inside its pod. */
export const AGENT_PORT = 7475;
/** The field manager of every server-side apply. */
export const FIELD_MANAGER = 'ksync';
/** The image `init` installs unless told otherwise: tagged with the CLI's version. */
export const DEFAULT_IMAGE = `localhost/ksync/agent:${KSYNC_VERSION}`;

/** Labels on every object; the version label is what `doctor` and `init` compare. */
export const LABELS = {
  name: 'app.kubernetes.io/name',
  version: 'app.kubernetes.io/version',
  managedBy: 'app.kubernetes.io/managed-by',
  partOf: 'app.kubernetes.io/part-of',
} as const;

/** The label selector of the agent's pods. */
export const AGENT_SELECTOR = `${LABELS.name}=${AGENT_NAME}`;

/**
 * The capabilities the agent keeps after dropping all; test/e2e/kube-capabilities.test.ts shows
 * each one is needed and docs/security.md says why: SYS_PTRACE opens /proc/<pid>/root of other
 * processes; DAC_OVERRIDE reads and writes files whatever their mode; CHOWN gives new files the
 * owner of their directory; FOWNER changes the mode of files the agent does not own. FSETID is
 * not needed: the agent never writes setuid or setgid bits.
 */
export const AGENT_CAPABILITIES = ['SYS_PTRACE', 'DAC_OVERRIDE', 'CHOWN', 'FOWNER'] as const;

/** Where the token Secret is mounted in the agent's container. */
const TOKEN_DIR = '/var/run/ksync';
/** The agent's own writable emptyDir (its root filesystem is read-only). */
const STATE_DIR = '/var/lib/ksync';
/**
 * Where the agent stages content for roots that do not exist yet: below the emptyDir, not the
 * mount point itself, which the agent empties by removing it at start and stop.
 */
const STAGING_DIR = `${STATE_DIR}/staging`;
/**
 * What the agent keeps across its own restarts (the emptyDir lives as long as the pod): the stat
 * caches of the roots it serves, so a restarted agent hashes nothing that did not change.
 */
const KEPT_DIR = `${STATE_DIR}/state`;

/** What the manifests are built from. */
export interface ManifestOptions {
  /** The agent image (default `DEFAULT_IMAGE`). */
  readonly image: string;
  /** The version label (the CLI's version). */
  readonly version: string;
  /** Capabilities to add (default `AGENT_CAPABILITIES`; the capability test passes fewer). */
  readonly capabilities?: readonly string[];
}

/** The objects `init` applies, in apply order (the token Secret is separate: see above). */
export function buildManifests(opts: ManifestOptions): KubernetesObject[] {
  return [namespace(opts), serviceAccount(opts), userRole(opts), daemonSet(opts)];
}

/** The token Secret with its value; built by `init` only, never rendered. */
export function secretManifest(opts: ManifestOptions, token: string): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: meta(TOKEN_SECRET, opts),
    type: 'Opaque',
    data: { [TOKEN_KEY]: Buffer.from(token, 'utf8').toString('base64') },
  };
}

/** The identity (apiVersion, kind, namespace, name) of every object ksync installs. */
export function installedObjects(): KubernetesObject[] {
  const opts = { image: '', version: '' };
  return [...buildManifests(opts), secretManifest(opts, '')].map((o) => ({
    apiVersion: o.apiVersion ?? '',
    kind: o.kind ?? '',
    metadata: { name: o.metadata?.name ?? '', namespace: o.metadata?.namespace ?? '' },
  }));
}

function labels(opts: ManifestOptions): Record<string, string> {
  return {
    [LABELS.name]: AGENT_NAME,
    [LABELS.version]: opts.version,
    [LABELS.managedBy]: FIELD_MANAGER,
    [LABELS.partOf]: 'ksync',
  };
}

function meta(name: string, opts: ManifestOptions): V1Secret['metadata'] & object {
  return { name, namespace: NAMESPACE, labels: labels(opts) };
}

function namespace(opts: ManifestOptions): V1Namespace {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: NAMESPACE,
      labels: {
        ...labels(opts),
        // The agent needs hostPID and SYS_PTRACE, which the baseline level forbids.
        'pod-security.kubernetes.io/enforce': 'privileged',
        'pod-security.kubernetes.io/audit': 'privileged',
        'pod-security.kubernetes.io/warn': 'privileged',
      },
    },
  };
}

function serviceAccount(opts: ManifestOptions): V1ServiceAccount {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: meta(AGENT_NAME, opts),
    automountServiceAccountToken: false,
  };
}

/** What a user of ksync needs in ksync-system (docs/security.md, "User RBAC"). */
function userRole(opts: ManifestOptions): V1Role {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: meta(USER_ROLE, opts),
    rules: [
      // Find the agent pod on a node.
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
      // Port-forward to it: a WebSocket upgrade is a GET, and since 1.35 it also needs create.
      { apiGroups: [''], resources: ['pods/portforward'], verbs: ['get', 'create'] },
      // Read the agent's token, and no other secret.
      { apiGroups: [''], resources: ['secrets'], resourceNames: [TOKEN_SECRET], verbs: ['get'] },
    ],
  };
}

/**
 * The image's entrypoint (deploy/image/images.ts, `planAgentImage`): node and the agent bundle.
 * The container passes only arguments; the exec probe has to spell the command out.
 */
const AGENT_ENTRYPOINT = ['/usr/local/bin/node', '/usr/local/lib/ksync/ksync-agent.mjs'];
const AGENT_LISTEN = `127.0.0.1:${AGENT_PORT}`;

function daemonSet(opts: ManifestOptions): V1DaemonSet {
  const podLabels = labels(opts);
  const probe = {
    exec: { command: [...AGENT_ENTRYPOINT, 'probe', '--listen', AGENT_LISTEN] },
    periodSeconds: 10,
    timeoutSeconds: 5,
    failureThreshold: 3,
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: meta(AGENT_NAME, opts),
    spec: {
      selector: { matchLabels: { [LABELS.name]: AGENT_NAME } },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: { labels: podLabels },
        spec: {
          serviceAccountName: AGENT_NAME,
          automountServiceAccountToken: false,
          // The host's /proc: find a container's main process and open /proc/<pid>/root.
          hostPID: true,
          hostNetwork: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 10,
          // Every node, tainted control-plane nodes included.
          tolerations: [{ operator: 'Exists' }],
          containers: [
            {
              name: 'agent',
              image: opts.image,
              imagePullPolicy: 'IfNotPresent',
              args: [
                '--containers',
                '--listen',
                AGENT_LISTEN,
                '--token-file',
                `${TOKEN_DIR}/${TOKEN_KEY}`,
                '--staging-dir',
                STAGING_DIR,
                '--state-dir',
                KEPT_DIR,
              ],
              env: [
                {
                  name: 'KSYNC_NODE_NAME',
                  valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } },
                },
              ],
              readinessProbe: probe,
              livenessProbe: { ...probe, initialDelaySeconds: 10 },
              resources: { requests: { cpu: '10m', memory: '64Mi' } },
              securityContext: {
                runAsUser: 0,
                runAsGroup: 0,
                runAsNonRoot: false,
                privileged: false,
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: {
                  drop: ['ALL'],
                  add: [...(opts.capabilities ?? AGENT_CAPABILITIES)],
                },
                seccompProfile: { type: 'RuntimeDefault' },
                // The default AppArmor profile allows ptrace only of peers in the same profile.
                appArmorProfile: { type: 'Unconfined' },
                // SELinux nodes: container files carry per-pod categories; spc_t may open them.
                seLinuxOptions: { type: 'spc_t' },
              },
              volumeMounts: [
                { name: 'token', mountPath: TOKEN_DIR, readOnly: true },
                // The root filesystem is read-only; staging for roots that do not exist yet
                // needs a writable place of the agent's own.
                { name: 'state', mountPath: STATE_DIR },
              ],
            },
          ],
          volumes: [
            { name: 'token', secret: { secretName: TOKEN_SECRET, defaultMode: 0o400 } },
            { name: 'state', emptyDir: {} },
          ],
        },
      },
    },
  };
}
