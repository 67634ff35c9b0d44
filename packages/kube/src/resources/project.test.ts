import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  LAST_APPLIED,
  orderKeys,
  parseObjectFile,
  planMergePatch,
  projectObject,
  renderObject,
  type JsonObject,
} from './project.ts';

const deployment: JsonObject = {
  status: { replicas: 2, readyReplicas: 2 },
  spec: { template: { spec: { containers: [{ image: 'nginx', name: 'web' }] } }, replicas: 2 },
  metadata: {
    uid: 'u-1',
    resourceVersion: '42',
    generation: 3,
    creationTimestamp: '2026-12-01T00:00:00Z',
    managedFields: [{ manager: 'kubectl' }],
    selfLink: '/apis/apps/v1/namespaces/default/deployments/web',
    annotations: { [LAST_APPLIED]: '{"kind":"Deployment"}', team: 'shop' },
    labels: { app: 'web' },
    namespace: 'default',
    name: 'web',
  },
  kind: 'Deployment',
  apiVersion: 'apps/v1',
};

describe('projectObject', () => {
  it('drops what the server fills in and keeps what a user writes', () => {
    const projected = projectObject(deployment);
    assert.deepEqual(projected, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name: 'web',
        namespace: 'default',
        annotations: { team: 'shop' },
        labels: { app: 'web' },
      },
      spec: { replicas: 2, template: { spec: { containers: [{ name: 'web', image: 'nginx' }] } } },
    });
    assert.equal((deployment.metadata as JsonObject).uid, 'u-1', 'the input is not changed');
  });

  it('drops the annotations map when only last-applied was in it', () => {
    const projected = projectObject({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c', annotations: { [LAST_APPLIED]: '{}' } },
      data: { a: '1' },
    });
    assert.deepEqual(projected.metadata, { name: 'c' });
  });

  it("drops a pod's node name and service-account token volume and mounts", () => {
    const projected = projectObject({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p' },
      spec: {
        nodeName: 'node-1',
        volumes: [{ name: 'kube-api-access-x7k2q' }, { name: 'data', emptyDir: {} }],
        containers: [
          {
            name: 'app',
            volumeMounts: [
              { name: 'kube-api-access-x7k2q', mountPath: '/var/run/secrets' },
              { name: 'data', mountPath: '/data' },
            ],
          },
          { name: 'side', volumeMounts: [{ name: 'kube-api-access-x7k2q', mountPath: '/s' }] },
        ],
      },
      status: { phase: 'Running' },
    });
    assert.deepEqual(projected.spec, {
      containers: [
        { name: 'app', volumeMounts: [{ name: 'data', mountPath: '/data' }] },
        { name: 'side' },
      ],
      volumes: [{ name: 'data', emptyDir: {} }],
    });
  });
});

describe('key order', () => {
  it('leads with apiVersion, kind, metadata, name, namespace, then sorts by name at every depth', () => {
    const ordered = orderKeys({
      z: 1,
      kind: 'K',
      b: { y: 1, name: 'n', a: [{ c: 1, name: 'x' }] },
      apiVersion: 'v1',
    });
    assert.deepEqual(Object.keys(ordered as JsonObject), ['apiVersion', 'kind', 'b', 'z']);
    const b = (ordered as JsonObject).b as JsonObject;
    assert.deepEqual(Object.keys(b), ['name', 'a', 'y']);
    assert.deepEqual(Object.keys((b.a as JsonObject[])[0] ?? {}), ['name', 'c']);
  });

  it('renders the same bytes whatever order the server sent', () => {
    const shuffled: JsonObject = JSON.parse(
      JSON.stringify(deployment, Object.keys(flatKeys(deployment)).reverse()),
    ) as JsonObject;
    assert.equal(renderObject(projectObject(shuffled)), renderObject(projectObject(deployment)));
    assert.equal(
      renderObject(projectObject(deployment)),
      [
        'apiVersion: apps/v1',
        'kind: Deployment',
        'metadata:',
        '  name: web',
        '  namespace: default',
        '  annotations:',
        '    team: shop',
        '  labels:',
        '    app: web',
        'spec:',
        '  replicas: 2',
        '  template:',
        '    spec:',
        '      containers:',
        '        - name: web',
        '          image: nginx',
        '',
      ].join('\n'),
    );
  });

  it('never folds long lines', () => {
    const long = 'x '.repeat(200).trim();
    const text = renderObject({ apiVersion: 'v1', kind: 'ConfigMap', data: { long } });
    assert.equal(text.split('\n').length, 5);
  });
});

/** Every key name in a JSON value (for a replacer list that reorders keys). */
function flatKeys(value: unknown, into: Record<string, true> = {}): Record<string, true> {
  if (Array.isArray(value)) for (const v of value) flatKeys(v, into);
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      into[k] = true;
      flatKeys(v, into);
    }
  }
  return into;
}

describe('parseObjectFile', () => {
  it('reads an object and what names it', () => {
    const parsed = parseObjectFile(
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: ns\n',
    );
    assert.ok('object' in parsed);
    assert.equal(parsed.name, 'c');
    assert.equal(parsed.namespace, 'ns');
  });

  it('names the line of a YAML error', () => {
    const parsed = parseObjectFile('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [c\n');
    assert.ok('problem' in parsed);
    assert.match(parsed.problem, /^invalid YAML: .* at line \d+, column \d+$/);
  });

  it('refuses duplicate keys, non-mappings and objects without a name', () => {
    for (const [text, want] of [
      ['a: 1\na: 2\n', /invalid YAML/],
      ['- 1\n', /one YAML mapping/],
      ['kind: ConfigMap\nmetadata: {name: c}\n', /apiVersion and kind/],
      ['apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n', /metadata.name/],
      [
        'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: 3}\n',
        /namespace must be a string/,
      ],
    ] as const) {
      const parsed = parseObjectFile(text);
      assert.ok('problem' in parsed, text);
      assert.match(parsed.problem, want);
    }
  });
});

describe('planMergePatch', () => {
  const base = projectObject(deployment);

  it('is empty when nothing changed', () => {
    assert.deepEqual(planMergePatch(base, projectObject(deployment)), {});
  });

  it('holds only the changed fields', () => {
    const edited = structuredClone(base);
    (edited.spec as JsonObject).replicas = 5;
    assert.deepEqual(planMergePatch(base, edited), { spec: { replicas: 5 } });
  });

  it('removes a dropped field with null and adds new ones', () => {
    const edited = structuredClone(base);
    delete (edited.metadata as JsonObject).labels;
    (edited.metadata as JsonObject).annotations = { team: 'shop', owner: 'ann' };
    assert.deepEqual(planMergePatch(base, edited), {
      metadata: { labels: null, annotations: { owner: 'ann' } },
    });
  });

  it('replaces a changed list whole', () => {
    const edited = structuredClone(base);
    const podSpec = ((edited.spec as JsonObject).template as JsonObject).spec as JsonObject;
    podSpec.containers = [{ name: 'web', image: 'nginx:2' }];
    assert.deepEqual(planMergePatch(base, edited), {
      spec: { template: { spec: { containers: [{ name: 'web', image: 'nginx:2' }] } } },
    });
  });

  it('sends nothing the projection strips, even when the file holds it', () => {
    const edited = structuredClone(base);
    (edited.metadata as JsonObject).resourceVersion = '1';
    edited.status = { replicas: 9 };
    assert.deepEqual(planMergePatch(base, projectObject(edited)), {});
  });
});
