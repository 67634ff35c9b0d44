// `ksync init`, `doctor` and `uninstall` against the real local cluster, through bin/ksync and
// kubectl: dry-run creates nothing, init from nothing rolls out, init again changes nothing,
// doctor is green and turns red with the fix named when the agent is deleted, runs another
// version, or the user lacks pods/portforward; a stuck rollout names the node and its events;
// RBAC denials name the verb and resource; uninstall leaves nothing behind.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { AGENT_SELECTOR, NAMESPACE } from '@ksync/kube';
import {
  REPO_ROOT,
  createNamespace,
  deleteNamespace,
  kubectl,
  readClusterInfo,
  runKubectl,
} from './helpers/cluster.ts';
import {
  FIND_AGENTS,
  READ_TOKEN,
  grant,
  ksync,
  ksyncOk,
  ksyncOnTerminal,
  serviceAccountKubeconfig,
} from './helpers/ksync.ts';

interface Report {
  ok: boolean;
  checks: { id: string; title: string; status: string; detail: string; fix?: string }[];
}

async function doctor(
  args: readonly string[] = [],
): Promise<{ code: number | null; report: Report }> {
  const r = await ksync(['doctor', '-o', 'json', ...args]);
  return { code: r.code, report: JSON.parse(r.stdout) as Report };
}

/** The resourceVersion of every object ksync installs. */
async function versions(): Promise<string> {
  return kubectl([
    '-n',
    NAMESPACE,
    'get',
    'namespace/ksync-system',
    'serviceaccount/ksync-agent',
    'role/ksync-user',
    'daemonset/ksync-agent',
    'secret/ksync-agent-token',
    '-o',
    'jsonpath={range .items[*]}{.kind}={.metadata.resourceVersion} {end}',
  ]);
}

/** How many nodes the cluster has: the agent runs on each. */
function nodeCount(): number {
  return readClusterInfo().nodes.length;
}

async function removeAll(): Promise<void> {
  await runKubectl(['delete', 'namespace', NAMESPACE, '--ignore-not-found', '--wait=true'], {
    timeoutMs: 120_000,
  });
}

describe('ksync init / doctor / uninstall on the local cluster', { timeout: 900_000 }, () => {
  before(removeAll);
  after(removeAll);

  it('init --dry-run -o yaml prints the committed manifests and creates nothing', async () => {
    const r = await ksyncOk(['init', '--dry-run', '-o', 'yaml']);
    assert.equal(r.stdout, readFileSync(join(REPO_ROOT, 'deploy/kubernetes/ksync.yaml'), 'utf8'));
    const ns = await runKubectl(['get', 'namespace', NAMESPACE]);
    assert.notEqual(ns.code, 0);
    assert.match(ns.stderr, /NotFound/);
  });

  it('init from nothing applies every object and waits for the agent on every node', async () => {
    const started = Date.now();
    const r = await ksyncOk(['init']);
    const seconds = (Date.now() - started) / 1000;
    console.log(`init from nothing to a ready agent: ${seconds.toFixed(1)} s`);
    assert.deepEqual(r.stdout.trim().split('\n'), [
      'namespace/ksync-system created',
      'secret/ksync-agent-token created',
      'serviceaccount/ksync-agent created',
      'role/ksync-user created',
      'daemonset/ksync-agent created',
    ]);
    // Not a terminal: progress is plain timestamped lines, ending in the summary.
    const n = nodeCount();
    assert.match(r.stderr, new RegExp(`nodes ready \\d/${n}`));
    assert.match(r.stderr, new RegExp(`ksync agent 0\\.1\\.0 ready on ${n}/${n} nodes`));
    assert.ok(!r.stderr.includes('\r'), 'no spinner in a pipe');
    const ds = JSON.parse(
      await kubectl(['-n', NAMESPACE, 'get', 'daemonset', 'ksync-agent', '-o', 'json']),
    ) as {
      status: { numberReady: number; desiredNumberScheduled: number };
    };
    assert.deepEqual([ds.status.numberReady, ds.status.desiredNumberScheduled], [n, n]);
    const managers = await kubectl([
      '-n',
      NAMESPACE,
      'get',
      'daemonset',
      'ksync-agent',
      '--show-managed-fields',
      '-o',
      'jsonpath={.metadata.managedFields[*].manager}',
    ]);
    assert.ok(managers.split(' ').includes('ksync'), managers);
    const token = await kubectl([
      '-n',
      NAMESPACE,
      'get',
      'secret',
      'ksync-agent-token',
      '-o',
      'jsonpath={.data.token}',
    ]);
    assert.ok(!r.stdout.includes(token) && !r.stderr.includes(token), 'the token is never printed');
  });

  it('init again changes nothing', async () => {
    const before = await versions();
    const r = await ksyncOk(['init']);
    assert.deepEqual(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(' ')[1]),
      ['unchanged', 'unchanged', 'unchanged', 'unchanged', 'unchanged'],
    );
    assert.equal(await versions(), before);
  });

  it('doctor is all green', async () => {
    const { code, report } = await doctor();
    assert.equal(code, 0, JSON.stringify(report, null, 2));
    // Three rows for each node, in the order the API server lists them (by name).
    const nodes = readClusterInfo().nodes.map((n) => n.name);
    assert.deepEqual(
      report.checks.map((c) => [c.title, c.status]),
      [
        ['cluster reachable', 'ok'],
        [`permissions in ${NAMESPACE}`, 'ok'],
        ['permissions in default', 'ok'],
        ...nodes.flatMap((node) => [
          [`agent on ${node}`, 'ok'],
          [`runtime on ${node}`, 'ok'],
          [`inotify on ${node}`, 'ok'],
        ]),
      ],
    );
    const byId = new Map(report.checks.map((c) => [c.title, c.detail]));
    assert.match(byId.get('cluster reachable') ?? '', /Kubernetes v1\.34\.10/);
    for (const node of nodes) {
      assert.match(byId.get(`agent on ${node}`) ?? '', /agent 0\.1\.0, handshake ok/);
      assert.match(byId.get(`runtime on ${node}`) ?? '', /^containerd:\/\//);
      assert.match(byId.get(`inotify on ${node}`) ?? '', /max_user_watches \d+/);
    }
    const human = await ksync(['doctor']);
    assert.equal(human.code, 0);
    assert.match(human.stdout, /all checks passed/);
  });

  it("doctor is red with 'ksync init --upgrade' when the agent's version differs, and init asks for --upgrade", async () => {
    const label = '{"metadata":{"labels":{"app.kubernetes.io/version":"0.0.9"}}}';
    await kubectl([
      '-n',
      NAMESPACE,
      'patch',
      'daemonset',
      'ksync-agent',
      '--type=merge',
      '-p',
      `{"metadata":{"labels":{"app.kubernetes.io/version":"0.0.9"}},"spec":{"template":${label}}}`,
    ]);
    await kubectl(
      ['-n', NAMESPACE, 'rollout', 'status', 'daemonset/ksync-agent', '--timeout=120s'],
      { timeoutMs: 130_000 },
    );
    const { code, report } = await doctor();
    assert.equal(code, 1);
    const agent = report.checks.find((c) => c.id === 'agent');
    assert.equal(agent?.status, 'fail');
    assert.match(agent?.detail ?? '', /runs agent 0\.0\.9; this CLI is 0\.1\.0/);
    assert.match(agent?.fix ?? '', /ksync init --upgrade/);
    const again = await ksync(['init']);
    assert.equal(again.code, 1);
    assert.equal(
      again.stderr.trim(),
      "error: the installed ksync agent is version 0.0.9 and this CLI is 0.1.0: run 'ksync init --upgrade' to replace it",
    );
    const upgraded = await ksyncOk(['init', '--upgrade']);
    assert.match(upgraded.stdout, /daemonset\/ksync-agent configured/);
    assert.equal((await doctor()).code, 0);
  });

  describe('a user without pods/portforward', () => {
    let ns = '';
    let narrow = '';
    before(async () => {
      ns = await createNamespace('ksync-rbac');
      await kubectl(['-n', ns, 'create', 'serviceaccount', 'narrow']);
      const account = `${ns}:narrow`;
      await grant(NAMESPACE, 'narrow', account, FIND_AGENTS);
      await grant(NAMESPACE, 'narrow-secret', account, READ_TOKEN);
      await grant(ns, 'narrow-view', account, 'view');
      narrow = await serviceAccountKubeconfig(ns, 'narrow');
    });
    after(async () => {
      await runKubectl([
        '-n',
        NAMESPACE,
        'delete',
        'role,rolebinding',
        'narrow',
        'narrow-secret',
        '--ignore-not-found',
      ]);
      await deleteNamespace(ns);
    });

    it('doctor is red: the missing verbs are named, with the rolebinding to ask for', async () => {
      const { code, report } = await doctor(['--kubeconfig', narrow]);
      assert.equal(code, 1, JSON.stringify(report, null, 2));
      const rbac = report.checks.find((c) => c.id === 'rbac-agent');
      assert.equal(rbac?.status, 'fail');
      assert.equal(
        rbac?.detail,
        `you cannot get pods/portforward, create pods/portforward in namespace ${NAMESPACE}`,
      );
      assert.match(rbac?.fix ?? '', /create rolebinding ksync-<you> --role=ksync-user/);
      assert.equal(report.checks.find((c) => c.id === 'rbac-workloads')?.status, 'ok');
      const agent = report.checks.find((c) => c.id === 'agent');
      assert.equal(agent?.status, 'fail');
      assert.match(
        agent?.detail ?? '',
        new RegExp(
          `forbidden: user "system:serviceaccount:${ns}:narrow" cannot create pods/portforward in namespace "${NAMESPACE}"`,
        ),
      );
    });

    it('an RBAC denial names the verb and resource in one line', async () => {
      const r = await ksync(['init', '--kubeconfig', narrow]);
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr.trim(),
        `error: forbidden: user "system:serviceaccount:${ns}:narrow" cannot get daemonsets.apps in namespace "${NAMESPACE}"; ask a cluster admin for this permission (docs/security.md lists what ksync needs)`,
      );
    });
  });

  it('a stuck rollout names the node and shows its last events', async () => {
    const r = await ksync(['init', '--image', 'localhost/ksync/missing:0.1.0', '--timeout', '25s']);
    assert.equal(r.code, 1, r.stderr);
    // The rollout replaces one node's agent at a time, so exactly one pod runs the missing
    // image, on whichever node the controller took first: that node is the one named.
    const pods = JSON.parse(
      await kubectl(['-n', NAMESPACE, 'get', 'pods', '-l', AGENT_SELECTOR, '-o', 'json']),
    ) as { items: V1Pod[] };
    const stuck = pods.items.filter(
      (p) => p.spec?.containers[0]?.image === 'localhost/ksync/missing:0.1.0',
    );
    assert.equal(stuck.length, 1, JSON.stringify(stuck.map((p) => p.metadata?.name)));
    const node = stuck[0]?.spec?.nodeName ?? '';
    assert.match(
      r.stderr,
      new RegExp(
        `error: the ksync agent on node ${node.replace(/\./g, '\\.')} is not ready after 25 s \\(pod ${stuck[0]?.metadata?.name ?? ''}\\)`,
      ),
    );
    assert.match(r.stderr, /event (Failed|BackOff|Pulling): .*localhost\/ksync\/missing:0\.1\.0/);
    await ksyncOk(['init']);
  });

  it("doctor is red with 'ksync init' when the agent is deleted", async () => {
    await kubectl(
      [
        '-n',
        NAMESPACE,
        'delete',
        'daemonset',
        'ksync-agent',
        '--cascade=foreground',
        '--wait=true',
      ],
      {
        timeoutMs: 120_000,
      },
    );
    const { code, report } = await doctor();
    assert.equal(code, 1);
    const agent = report.checks.find((c) => c.id === 'agent');
    assert.deepEqual(
      [agent?.status, agent?.detail, agent?.fix],
      ['fail', `not installed (no agent pod in ${NAMESPACE})`, "run 'ksync init'"],
    );
  });

  it('init on a terminal shows a spinner with nodes ready N/M', async () => {
    const { code, screen } = await ksyncOnTerminal(['init']);
    assert.equal(code, 0, screen);
    const n = nodeCount();
    assert.match(screen, new RegExp(`waiting for the ksync agent: nodes ready 0/${n}`));
    assert.ok(screen.includes('\u001b[?25l'), 'the spinner hides the cursor');
    // The check mark is green on a terminal: ESC[32m✔ESC[39m.
    assert.match(screen, new RegExp(`✔\\W*\\[39m ksync agent 0\\.1\\.0 ready on ${n}/${n} nodes`));
    assert.equal((await doctor()).code, 0);
  });

  it('uninstall removes every object and leaves nothing', async () => {
    const r = await ksyncOk(['uninstall']);
    assert.match(r.stdout, /ksync uninstalled/);
    const ns = await runKubectl(['get', 'namespace', NAMESPACE]);
    assert.match(ns.stderr, /NotFound/);
    const left = await kubectl([
      'get',
      'all,secrets,roles,rolebindings,serviceaccounts,configmaps',
      '-A',
      '-l',
      'app.kubernetes.io/part-of=ksync',
      '-o',
      'name',
    ]);
    assert.equal(left.trim(), '');
    const pods = await kubectl(['get', 'pods', '-A', '-o', 'name']);
    assert.ok(!pods.includes('ksync-agent'), pods);
    const again = await ksyncOk(['uninstall']);
    assert.match(again.stdout, /ksync is not installed/);
  });
});
