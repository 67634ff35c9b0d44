// Who can reach the agent, on the real cluster, with ServiceAccount users: one that may
// port-forward only in its own namespace (and may even read the token) cannot reach the agent;
// one that may port-forward to the agent but not read the token Secret gets nowhere without it.
// And the token is never shown: not in the watch daemon's log or state, the agents' logs,
// `get`/`describe` in any format, `doctor`, or the errors those two users see.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectRemoteEndpoint } from '@ksync/agent/client';
import {
  NAMESPACE,
  dialAgent,
  dialPortForward,
  findAgentPod,
  readAgentToken,
  readKubeTarget,
  type KubeTarget,
} from '@ksync/kube';
import {
  agentPodNames,
  createNamespace,
  deleteNamespace,
  kubectl,
  readClusterInfo,
  runKubectl,
  waitFor,
  waitPodFile,
  waitPodReady,
} from './helpers/cluster.ts';
import {
  adminTarget,
  FIND_AGENTS,
  READ_TOKEN,
  containerTarget,
  grant,
  ksync,
  ksyncHome,
  ksyncOk,
  readPod,
  serviceAccountKubeconfig,
} from './helpers/ksync.ts';

const ASK = 'ask a cluster admin for this permission (docs/security.md lists what ksync needs)';

function appPod(): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'app', labels: { app: 'rbac' } },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'main',
          image: readClusterInfo().images.testApp,
          imagePullPolicy: 'Never',
          command: ['sh', '-c', 'mkdir -p /tmp/app && exec sleep 100000'],
        },
      ],
    },
  });
}

/** Every file below `dir` as text. */
async function readAllText(dir: string): Promise<string> {
  let text = '';
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) text += await readFile(join(entry.parentPath, entry.name), 'latin1');
  }
  return text;
}

interface GetJson {
  name: string;
  state: string;
  error?: string;
  targets?: { state: string; error?: string }[];
}

/** The error a sync shows in `get -o json` (its own or its target's). */
async function syncError(name: string): Promise<string> {
  const view = JSON.parse((await ksyncOk(['get', name, '-o', 'json'])).stdout) as GetJson;
  return [view.error, ...(view.targets ?? []).map((t) => t.error)].filter(Boolean).join('\n');
}

describe('RBAC: who reaches the agent, and the token is never shown', { timeout: 900_000 }, () => {
  let ns = '';
  let elsewhere: KubeTarget;
  let noSecret: KubeTarget;
  let elsewhereFile = '';
  let noSecretFile = '';
  /** Everything users were shown, for the token check at the end. */
  const shown: string[] = [];
  const subject = (sa: string) => `system:serviceaccount:${ns}:${sa}`;
  /** Creates sync `name` as the user of `kubeconfig`; returns the error it shows in `get`. */
  const failingSync = async (name: string, kubeconfig: string): Promise<string> => {
    const local = await mkdtemp(join(tmpdir(), 'ksync-e2e-rbac-'));
    const create = ['create', '--name', name, '--kubeconfig', kubeconfig, '-l', 'app=rbac'];
    await ksyncOk([...create, '-n', ns, local, `/tmp/${name}`]);
    let error = '';
    await waitFor(`the ${name} sync to fail`, 60_000, async () => {
      error = await syncError(name);
      return error !== '';
    });
    shown.push(error, (await ksync(['flush', name, '--timeout', '10s'])).stderr);
    return error;
  };

  before(async () => {
    await ksyncOk(['init']);
    ns = await createNamespace('ksync-rbac-reach');
    await kubectl(['-n', ns, 'apply', '-f', '-'], { input: appPod() });
    await waitPodReady(ns, 'app');
    for (const sa of ['elsewhere', 'no-secret']) {
      await kubectl(['-n', ns, 'create', 'serviceaccount', sa]);
    }
    // elsewhere: port-forward and pods in its own namespace; in ksync-system it may find the
    // agent pod and even read the token, but not port-forward.
    const forward = { verbs: 'get,list,watch,create', resources: 'pods,pods/portforward' };
    await grant(ns, 'forward', `${ns}:elsewhere`, forward);
    await grant(NAMESPACE, `${ns}-elsewhere`, `${ns}:elsewhere`, FIND_AGENTS);
    await grant(NAMESPACE, `${ns}-token`, `${ns}:elsewhere`, READ_TOKEN);
    // no-secret: everything ksync-user grants except the Secret.
    await grant(NAMESPACE, `${ns}-no-secret`, `${ns}:no-secret`, {
      verbs: 'get,list,create',
      resources: 'pods,pods/portforward',
    });
    await grant(ns, 'no-secret-view', `${ns}:no-secret`, 'view');
    elsewhereFile = await serviceAccountKubeconfig(ns, 'elsewhere');
    noSecretFile = await serviceAccountKubeconfig(ns, 'no-secret');
    elsewhere = readKubeTarget({ kubeconfig: elsewhereFile, env: {} });
    noSecret = readKubeTarget({ kubeconfig: noSecretFile, env: {} });
    await ksyncOk(['watch', '--daemon']);
  });
  after(async () => {
    await ksync(['stop']);
    if (ns !== '') {
      const names = ['elsewhere', 'token', 'no-secret'].map((n) => `${ns}-${n}`);
      await runKubectl([
        '-n',
        NAMESPACE,
        'delete',
        'role,rolebinding',
        ...names,
        '--ignore-not-found',
      ]);
    }
    if (ns !== '') await deleteNamespace(ns);
  });

  it('a user who may port-forward only in another namespace cannot reach the agent', async () => {
    const pod = await readPod(ns, 'app');
    const node = pod.spec?.nodeName ?? '';
    // It may port-forward in its own namespace: the API server lets the upgrade through.
    const own = await dialPortForward({ target: elsewhere, namespace: ns, pod: 'app', port: 80 });
    own.destroy();
    // It finds the agent pod and even holds the token, but the port-forward is refused.
    const agentPod = await findAgentPod(elsewhere, node);
    assert.ok((await readAgentToken(elsewhere)).length > 0);
    await assert.rejects(dialAgent(elsewhere, agentPod), (error: Error) => {
      assert.equal(
        error.message,
        `forbidden: user "${subject('elsewhere')}" cannot create pods/portforward in namespace "${NAMESPACE}"; ${ASK}`,
      );
      return true;
    });
    // Through ksync: the sync says what is missing.
    const error = await failingSync('elsewhere', elsewhereFile);
    assert.match(error, /forbidden: .*cannot create pods\/portforward in namespace "ksync-system"/);
  });

  it('a user who cannot read the token Secret reaches the agent but cannot use it', async () => {
    const pod = await readPod(ns, 'app');
    const agentPod = await findAgentPod(noSecret, pod.spec?.nodeName ?? '');
    await assert.rejects(readAgentToken(noSecret), (error: Error) => {
      assert.equal(
        error.message,
        `forbidden: user "${subject('no-secret')}" cannot get secrets in namespace "${NAMESPACE}"; ${ASK}`,
      );
      return true;
    });
    // The port-forward works, but no guess of the token does.
    for (const token of ['', 'ksync', 'A'.repeat(43)]) {
      await assert.rejects(
        connectRemoteEndpoint({
          url: 'ws://ksync-agent',
          dial: () => dialAgent(noSecret, agentPod),
          token,
          root: '/tmp/app',
          ignore: [],
          target: containerTarget(pod, 'main'),
        }),
        /the ksync agent at ws:\/\/ksync-agent refused the token/,
      );
    }
    const error = await failingSync('no-secret', noSecretFile);
    assert.match(error, /forbidden: .*cannot get secrets in namespace "ksync-system"/);
  });

  it('the agent token is never logged or shown', async () => {
    // A sync that works, so that every layer had the token in hand.
    const local = await mkdtemp(join(tmpdir(), 'ksync-e2e-rbac-'));
    await writeFile(join(local, 'hello.txt'), 'hello\n');
    await ksyncOk(['create', '--name', 'admin', '-l', 'app=rbac', '-n', ns, local, '/tmp/app']);
    await waitPodFile(ns, 'app', '/tmp/app/hello.txt', 'hello\n');
    await ksyncOk(['flush', 'admin', '--timeout', '60s']);
    const token = await readAgentToken(adminTarget());
    const forms = [
      token,
      Buffer.from(token).toString('base64'),
      Buffer.from(token).toString('base64url'),
    ];
    for (const args of [
      ['get'],
      ['get', '-o', 'json'],
      ['get', '-o', 'yaml'],
      ['get', '-o', 'wide'],
      ...['admin', 'elsewhere', 'no-secret'].flatMap((name) => [
        ['describe', name],
        ['describe', name, '-o', 'json'],
        ['describe', name, '-o', 'yaml'],
      ]),
      ['doctor', '-o', 'json'],
      ['doctor', '--kubeconfig', elsewhereFile],
      ['doctor', '--kubeconfig', noSecretFile],
    ]) {
      const r = await ksync(args);
      shown.push(r.stdout, r.stderr);
    }
    // The daemon's log, specs and state: everything under KSYNC_HOME.
    shown.push(await readAllText(await ksyncHome()));
    // Each agent's log, and its previous container's when it restarted.
    const logs = await Promise.all(
      (await agentPodNames())
        .flatMap((agent) => [[agent], [agent, '--previous']])
        .map(async (args) => (await runKubectl(['-n', NAMESPACE, 'logs', ...args])).stdout),
    );
    assert.match(logs.join('\n'), /"code":"unauthorized"/, 'the refused guesses are logged');
    shown.push(...logs);
    const all = shown.join('\n');
    assert.ok(all.length > 10_000, `${all.length} characters checked`);
    for (const form of forms)
      assert.ok(!all.includes(form), 'the token appears in what ksync showed');
  });
});
