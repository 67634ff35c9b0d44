// The agent's capabilities are the least set: for each one, an agent pod built from the same
// manifest minus that capability (next to the installed DaemonSet, on the same node) is asked to
// do what a sync does in a uid-1000 container, and the step that needs the capability fails,
// while the full set does everything. The table of outcomes is printed for the record.

import assert from 'node:assert/strict';
import { chmod, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { V1DaemonSet, V1Pod } from '@kubernetes/client-node';
import { KSYNC_VERSION } from '@ksync/core';
import {
  AGENT_CAPABILITIES,
  AGENT_PORT,
  NAMESPACE,
  buildManifests,
  dialPortForward,
  readAgentToken,
  type KubeTarget,
} from '@ksync/kube';
import { waitUntil } from '../integration/helpers/agent-process.ts';
import { startAgentSession } from '../integration/helpers/agent-session.ts';
import {
  createNamespace,
  deleteNamespace,
  kubectl,
  readClusterInfo,
  runKubectl,
  waitPodReady,
} from './helpers/cluster.ts';
import { adminTarget, containerTarget, ksyncOk, readPod } from './helpers/ksync.ts';

/** What one agent variant managed to do. */
interface Outcome {
  open: boolean;
  create: boolean;
  owner: boolean;
  chmod: boolean;
}

/** A bare agent pod from the DaemonSet's template, with `capabilities` only. */
function agentVariant(name: string, capabilities: readonly string[]): string {
  const ds = buildManifests({
    image: readClusterInfo().images.agent,
    version: KSYNC_VERSION,
    capabilities,
  }).find((o) => o.kind === 'DaemonSet') as V1DaemonSet;
  const template = ds.spec?.template;
  assert.ok(template?.spec);
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: NAMESPACE,
      labels: { 'app.kubernetes.io/name': 'ksync-capability-test' },
    },
    spec: { ...template.spec, nodeName: readClusterInfo().nodeName },
  });
}

describe('the agent needs each of its capabilities', { timeout: 900_000 }, () => {
  let ns = '';
  let target: KubeTarget;
  let token = '';
  let app: V1Pod;
  const outcomes = new Map<string, Outcome>();
  const exec = (...cmd: string[]) => kubectl(['-n', ns, 'exec', 'app', '--', ...cmd]);

  before(async () => {
    await ksyncOk(['init']);
    ns = await createNamespace('ksync-caps');
    await kubectl([
      '-n',
      ns,
      'run',
      'app',
      `--image=${readClusterInfo().images.testApp}`,
      '--image-pull-policy=Never',
      '--overrides={"spec":{"securityContext":{"runAsUser":1000,"runAsGroup":1000},"terminationGracePeriodSeconds":2}}',
    ]);
    await waitPodReady(ns, 'app');
    app = await readPod(ns, 'app');
    target = adminTarget();
    token = await readAgentToken(target);
  });
  after(async () => {
    console.log('capability dropped -> open / create / owner 1000 / chmod of a container file');
    for (const [name, o] of outcomes) {
      console.log(
        `  ${name.padEnd(14)} ${[o.open, o.create, o.owner, o.chmod].map((b) => (b ? 'ok' : 'FAILS')).join(' / ')}`,
      );
    }
    await runKubectl([
      '-n',
      NAMESPACE,
      'delete',
      'pods',
      '-l',
      'app.kubernetes.io/name=ksync-capability-test',
      '--wait=false',
    ]);
    if (ns !== '') await deleteNamespace(ns);
  });

  /** Runs the steps of a sync through an agent with `capabilities` only. */
  async function tryAgent(label: string, capabilities: readonly string[]): Promise<Outcome> {
    const name = `ksync-agent-${label.toLowerCase().replace(/_/g, '-')}`;
    await kubectl(['apply', '-f', '-'], { input: agentVariant(name, capabilities) });
    await waitPodReady(NAMESPACE, name);
    const dir = `/home/app/${name}`;
    await exec('sh', '-c', `mkdir ${dir} && echo theirs > ${dir}/theirs.txt`);
    const outcome: Outcome = { open: false, create: false, owner: false, chmod: false };
    let session;
    try {
      session = await startAgentSession({
        url: 'ws://ksync-agent',
        dial: () => dialPortForward({ target, namespace: NAMESPACE, pod: name, port: AGENT_PORT }),
        token,
        remoteRoot: dir,
        target: containerTarget(app, 'app'),
      });
      outcome.open = true;
    } catch {
      return outcome;
    }
    const s = session;
    const settled = (check: () => Promise<boolean>) =>
      waitUntil(check, 15_000).then(
        () => true,
        () => false,
      );
    try {
      await writeFile(join(s.local, 'new.txt'), 'from local\n');
      outcome.create = await settled(
        async () =>
          (await runKubectl(['-n', ns, 'exec', 'app', '--', 'cat', `${dir}/new.txt`])).stdout ===
          'from local\n',
      );
      outcome.owner =
        outcome.create &&
        (await exec('stat', '-c', '%u:%g', `${dir}/new.txt`)).trim() === '1000:1000';
      const theirs = join(s.local, 'theirs.txt');
      if (
        await settled(async () => (await readFile(theirs, 'utf8').catch(() => '')) === 'theirs\n')
      ) {
        // A mode change alone does not wake the local watcher; a new mtime does.
        await chmod(theirs, 0o755);
        await utimes(theirs, new Date(), new Date());
        outcome.chmod = await settled(
          async () => (await exec('stat', '-c', '%a', `${dir}/theirs.txt`)).trim() === '755',
        );
      }
    } finally {
      await s.stop();
      await runKubectl(['-n', NAMESPACE, 'delete', 'pod', name, '--wait=false']);
    }
    return outcome;
  }

  it('does every step with the full set', async () => {
    const o = await tryAgent('all', AGENT_CAPABILITIES);
    outcomes.set('(none)', o);
    assert.deepEqual(o, { open: true, create: true, owner: true, chmod: true });
  });

  const needs: Record<string, keyof Outcome> = {
    SYS_PTRACE: 'open',
    DAC_OVERRIDE: 'create',
    CHOWN: 'create',
    FOWNER: 'chmod',
  };
  for (const capability of AGENT_CAPABILITIES) {
    it(`fails without ${capability}`, async () => {
      const o = await tryAgent(
        `without-${capability}`,
        AGENT_CAPABILITIES.filter((c) => c !== capability),
      );
      outcomes.set(capability, o);
      const step = needs[capability];
      assert.ok(step !== undefined, `no step is known to need ${capability}`);
      assert.equal(
        o[step],
        false,
        `${step} still works without ${capability}: ${JSON.stringify(o)}`,
      );
    });
  }
});
