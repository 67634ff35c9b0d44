import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { collectionPath, kindDirectory, resolveKinds } from './kinds.ts';
import { SERVED as served } from './test-kinds.ts';

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
