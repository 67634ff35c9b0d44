import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { V1DaemonSet, V1Role } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import {
  AGENT_CAPABILITIES,
  DEFAULT_IMAGE,
  NAMESPACE,
  TOKEN_SECRET,
  buildManifests,
  installedObjects,
  secretManifest,
} from './manifests.ts';
import { renderManifestsYaml } from './render.ts';
import { KSYNC_VERSION } from '@ksync/core';

const REPO = join(import.meta.dirname, '..', '..', '..', '..');
const defaults = { image: DEFAULT_IMAGE, version: KSYNC_VERSION };

function find<T>(kind: string): T {
  const object = buildManifests(defaults).find((o) => o.kind === kind);
  assert.ok(object, kind);
  return object as T;
}

describe('install manifests', () => {
  it('deploy/kubernetes/ksync.yaml is the rendered code (run `npm run -s manifests`)', () => {
    const committed = readFileSync(join(REPO, 'deploy', 'kubernetes', 'ksync.yaml'), 'utf8');
    assert.equal(committed, renderManifestsYaml(buildManifests(defaults)));
  });

  it('renders valid YAML with no Secret in it', () => {
    const text = renderManifestsYaml(buildManifests(defaults));
    const docs = parseAllDocuments(text).map((d) => d.toJS() as { kind: string });
    assert.deepEqual(
      docs.map((d) => d.kind),
      ['Namespace', 'ServiceAccount', 'Role', 'DaemonSet'],
    );
    const token = 'a-token-that-must-not-be-rendered';
    assert.ok(!renderManifestsYaml(buildManifests(defaults)).includes(token));
    assert.equal(
      secretManifest(defaults, token).data?.token,
      Buffer.from(token).toString('base64'),
    );
  });

  it('gives the agent hostPID and the least capabilities, and nothing else', () => {
    const pod = find<V1DaemonSet>('DaemonSet').spec?.template.spec;
    assert.ok(pod);
    assert.equal(pod.hostPID, true);
    assert.equal(pod.hostNetwork, false);
    assert.equal(pod.automountServiceAccountToken, false);
    assert.ok(pod.volumes?.every((v) => v.hostPath === undefined));
    assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }]);
    const [agent] = pod.containers;
    const sc = agent?.securityContext;
    assert.deepEqual(sc?.capabilities, { drop: ['ALL'], add: [...AGENT_CAPABILITIES] });
    assert.equal(sc?.privileged, false);
    assert.equal(sc?.allowPrivilegeEscalation, false);
    assert.equal(sc?.readOnlyRootFilesystem, true);
    assert.ok(agent?.args?.includes('127.0.0.1:7475'), 'listens on loopback only');
    assert.equal(agent?.ports, undefined, 'declares no port');
    assert.ok(agent?.readinessProbe?.exec && agent.livenessProbe?.exec, 'exec probes');
    assert.deepEqual(agent?.env?.[0]?.valueFrom?.fieldRef, { fieldPath: 'spec.nodeName' });
  });

  it("grants users port-forward, pod lookup and only the agent's secret", () => {
    const role = find<V1Role>('Role');
    assert.equal(role.metadata?.namespace, NAMESPACE);
    assert.deepEqual(
      role.rules?.map((r) => [r.resources?.join(), r.verbs.join(), r.resourceNames?.join()]),
      [
        ['pods', 'get,list', undefined],
        ['pods/portforward', 'get,create', undefined],
        ['secrets', 'get', TOKEN_SECRET],
      ],
    );
  });

  it('lists every installed object, the Secret included, for uninstall', () => {
    assert.deepEqual(
      installedObjects().map((o) => `${o.kind}/${o.metadata?.name}`),
      [
        'Namespace/ksync-system',
        'ServiceAccount/ksync-agent',
        'Role/ksync-user',
        'DaemonSet/ksync-agent',
        'Secret/ksync-agent-token',
      ],
    );
  });
});
