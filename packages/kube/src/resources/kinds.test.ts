import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  collectionPath,
  kindDirectory,
  readResourceList,
  resolveKinds,
  type ApiKind,
} from './kinds.ts';

const ALL = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
const served: ApiKind[] = [
  ...readResourceList('', 'v1', {
    resources: [
      {
        name: 'configmaps',
        singularName: 'configmap',
        namespaced: true,
        kind: 'ConfigMap',
        verbs: ALL,
        shortNames: ['cm'],
      },
      {
        name: 'events',
        singularName: 'event',
        namespaced: true,
        kind: 'Event',
        verbs: ALL,
        shortNames: ['ev'],
      },
      { name: 'secrets', singularName: 'secret', namespaced: true, kind: 'Secret', verbs: ALL },
      {
        name: 'namespaces',
        singularName: 'namespace',
        namespaced: false,
        kind: 'Namespace',
        verbs: ALL,
        shortNames: ['ns'],
      },
      { name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] },
      {
        name: 'bindings',
        singularName: 'binding',
        namespaced: true,
        kind: 'Binding',
        verbs: ['create'],
      },
    ],
  }),
  ...readResourceList('apps', 'v1', {
    resources: [
      {
        name: 'deployments',
        singularName: 'deployment',
        namespaced: true,
        kind: 'Deployment',
        verbs: ALL,
        shortNames: ['deploy'],
      },
    ],
  }),
  ...readResourceList('events.k8s.io', 'v1', {
    resources: [
      {
        name: 'events',
        singularName: 'event',
        namespaced: true,
        kind: 'Event',
        verbs: ALL,
        shortNames: ['ev'],
      },
    ],
  }),
  ...readResourceList('example.com', 'v1alpha1', {
    resources: [
      {
        name: 'widgets',
        singularName: 'widget',
        namespaced: true,
        kind: 'Widget',
        verbs: ALL,
        shortNames: ['wg'],
      },
    ],
  }),
];

const resolve = (
  names: string[],
  secrets = false,
): { dirs: string[]; problems: readonly string[] } => {
  const r = resolveKinds(names, served, { secrets });
  return { dirs: r.kinds.map(kindDirectory), problems: r.problems };
};

describe('resolveKinds', () => {
  it('takes short names, plurals, singulars and kinds in any case', () => {
    assert.deepEqual(resolve(['cm', 'deployments', 'deployment', 'Deploy', 'Widget', 'wg']), {
      dirs: ['configmaps', 'deployments.apps', 'widgets.example.com'],
      problems: [],
    });
  });

  it('pins the group with name.group or group/version/Kind', () => {
    assert.deepEqual(resolve(['events.events.k8s.io', 'apps/v1/Deployment', 'v1/ConfigMap']).dirs, [
      'events.events.k8s.io',
      'deployments.apps',
      'configmaps',
    ]);
  });

  it('prefers the core group for a name several groups serve', () => {
    assert.deepEqual(resolve(['events']).dirs, ['events']);
  });

  it('says which names are unknown, and resolves the rest', () => {
    const r = resolve(['cm', 'gizmos', 'apps/v2/Deployment']);
    assert.deepEqual(r.dirs, ['configmaps']);
    assert.equal(r.problems.length, 2);
    assert.match(r.problems[0] ?? '', /^unknown kind "gizmos": .*ksync resources kinds$/);
  });

  it('refuses kinds without list and watch, and subresources are not kinds', () => {
    assert.match(
      resolve(['bindings']).problems[0] ?? '',
      /cannot be mirrored: the server does not allow list or watch/,
    );
    assert.match(resolve(['pods/log']).problems[0] ?? '', /unknown kind/);
  });

  it('leaves Secrets out unless asked for', () => {
    assert.match(resolve(['secrets']).problems[0] ?? '', /add --secrets/);
    assert.deepEqual(resolve(['secret'], true).dirs, ['secrets']);
  });

  it('puts cluster-scoped kinds and core kinds at their URLs', () => {
    const [ns, deploy] = resolveKinds(['ns', 'deploy'], served, { secrets: false }).kinds;
    assert.ok(ns !== undefined && deploy !== undefined);
    assert.equal(collectionPath(ns, undefined), '/api/v1/namespaces');
    assert.equal(collectionPath(deploy, 'shop'), '/apis/apps/v1/namespaces/shop/deployments');
  });
});
