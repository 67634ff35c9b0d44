// `ksync resources`: a namespace's Deployments, ConfigMaps and a CRD's objects as a YAML tree,
// kept in sync by `ksync watch --daemon` against the real local cluster, driven through bin/ksync
// and checked with kubectl: edits both ways, a conflict, a rejected edit, a create, a delete that
// deletes nothing, a read-only mirror, Secrets at 0600, and a user RBAC lets read ConfigMaps only.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  REPO_ROOT,
  createNamespace,
  deleteNamespace,
  kubectl,
  waitFor,
} from './helpers/cluster.ts';
import { grant, ksync, ksyncOk, serviceAccountKubeconfig } from './helpers/ksync.ts';

interface SyncJson {
  name: string;
  state: string;
  conflicts: number;
  problems: { path: string; message: string; side?: string }[];
}

async function getSync(name: string): Promise<SyncJson> {
  return JSON.parse((await ksyncOk(['get', name, '-o', 'json'])).stdout) as SyncJson;
}

async function readText(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch(() => undefined);
}

/** Waits until the file at `path` exists and `check` accepts its text; returns the text. */
async function waitFile(path: string, check: (text: string) => boolean): Promise<string> {
  let text: string | undefined;
  await waitFor(`${path} to match`, 30_000, async () => {
    text = await readText(path);
    return text !== undefined && check(text);
  });
  return text ?? '';
}

/** `kubectl get` of one field by jsonpath. */
async function field(ns: string, what: string, path: string): Promise<string> {
  return kubectl(['-n', ns, 'get', what, '-o', `jsonpath=${path}`]);
}

/** A problem of sync `name` whose message matches `pattern`, once it shows. */
async function waitProblem(name: string, path: string, pattern: RegExp): Promise<string> {
  let message = '';
  await waitFor(`a problem at ${path} matching ${String(pattern)}`, 30_000, async () => {
    const found = (await getSync(name)).problems.find(
      (p) => p.path === path && pattern.test(p.message),
    );
    message = found?.message ?? '';
    return found !== undefined;
  });
  return message;
}

describe('ksync resources against the local cluster', { timeout: 600_000 }, () => {
  let ns = '';
  let tree = '';

  before(async () => {
    await kubectl(['apply', '-f', join(REPO_ROOT, 'test/e2e/fixtures/resources-crd.yaml')]);
    await kubectl(['wait', '--for=condition=Established', 'crd/widgets.e2e.ksync.dev']);
    ns = await createNamespace('ksync-res');
    await kubectl(['-n', ns, 'apply', '-f', join(REPO_ROOT, 'test/e2e/fixtures/resources.yaml')]);
    tree = await mkdtemp(join(tmpdir(), 'ksync-e2e-res-'));
    await ksyncOk([
      'resources',
      'create',
      tree,
      '--name',
      'res',
      '-n',
      ns,
      '--kinds',
      'deploy,cm,wdg',
    ]);
    await ksyncOk(['watch', '--daemon']);
  });
  after(async () => {
    await ksync(['stop']);
    if (ns !== '') await deleteNamespace(ns);
    await kubectl(['delete', 'crd', 'widgets.e2e.ksync.dev', '--ignore-not-found']);
  });

  it('writes each object as NAMESPACE/KIND/NAME.yaml without server-filled fields', async () => {
    const text = await waitFile(join(tree, ns, 'deployments.apps', 'web.yaml'), () => true);
    assert.match(text, /^apiVersion: apps\/v1\nkind: Deployment\nmetadata:\n {2}name: web\n/);
    for (const stripped of [
      'managedFields',
      'resourceVersion',
      'uid:',
      'creationTimestamp',
      'status:',
      'generation',
    ])
      assert.ok(!text.includes(stripped), `${stripped} is stripped`);
    assert.match(
      await waitFile(join(tree, ns, 'configmaps', 'app.yaml'), () => true),
      /mode: blue/,
    );
  });

  it('shows kubectl scale in the file, and a replicas edit in the file in the cluster', async () => {
    const file = join(tree, ns, 'deployments.apps', 'web.yaml');
    await kubectl(['-n', ns, 'scale', 'deployment/web', '--replicas=1']);
    const text = await waitFile(file, (t) => /\n {2}replicas: 1\n/.test(t));
    await writeFile(file, text.replace(/\n {2}replicas: 1\n/, '\n  replicas: 2\n'));
    await waitFor(
      'replicas 2 in the cluster',
      30_000,
      async () => (await field(ns, 'deployment/web', '{.spec.replicas}')) === '2',
    );
    assert.equal((await getSync('res')).conflicts, 0);
  });

  it("mirrors a CRD's objects both ways", async () => {
    const file = join(tree, ns, 'widgets.e2e.ksync.dev', 'gear.yaml');
    const text = await waitFile(file, (t) => t.includes('size: 3'));
    await writeFile(file, text.replace('size: 3', 'size: 7'));
    await waitFor(
      'size 7 in the cluster',
      30_000,
      async () => (await field(ns, 'widget/gear', '{.spec.size}')) === '7',
    );
  });

  it('creates a ConfigMap from a new file', async () => {
    const dir = join(tree, ns, 'configmaps');
    await writeFile(
      join(dir, 'fresh.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fresh\ndata:\n  hello: world\n',
    );
    await waitFor(
      'ConfigMap fresh',
      30_000,
      async () => (await field(ns, 'configmap/fresh', '{.data.hello}').catch(() => '')) === 'world',
    );
  });

  it('reports a rejected edit with the server message and applies nothing', async () => {
    const file = join(tree, ns, 'configmaps', 'app.yaml');
    const text = await waitFile(file, (t) => t.includes('mode: blue'));
    const bad = text.replace('mode: blue', 'mode: blue\n  "bad key!": x');
    await writeFile(file, bad);
    const message = await waitProblem('res', `${ns}/configmaps/app.yaml`, /valid config key/);
    assert.ok(!message.includes('\n'), 'one line');
    assert.equal(await field(ns, 'configmap/app', '{.data}'), '{"mode":"blue"}');
    assert.equal(await readText(file), bad, 'the file is left as written');
    await writeFile(file, text);
    await waitFor('the problem to clear', 30_000, async () =>
      (await getSync('res')).problems.every((p) => !p.path.endsWith('configmaps/app.yaml')),
    );
  });

  it('keeps both versions of an edit made in the file and in the cluster at once', async () => {
    const file = join(tree, ns, 'configmaps', 'app.yaml');
    const text = await waitFile(file, (t) => t.includes('mode: blue'));
    await ksyncOk(['pause', 'res']);
    await writeFile(file, text.replace('mode: blue', 'mode: local'));
    await kubectl(['-n', ns, 'patch', 'configmap', 'app', '-p', '{"data":{"mode":"remote"}}']);
    await ksyncOk(['resume', 'res']);
    let conflicts: { path: string; savedIn?: string }[] = [];
    await waitFor('one conflict', 30_000, async () => {
      conflicts = JSON.parse(
        (await ksyncOk(['conflicts', 'res', '-o', 'json'])).stdout,
      ) as typeof conflicts;
      return conflicts.length === 1;
    });
    assert.equal(conflicts[0]?.path, `${ns}/configmaps/app.yaml`);
    assert.match((await readText(file)) ?? '', /mode: local/, 'the file keeps the local edit');
    const saved = conflicts[0]?.savedIn;
    assert.ok(saved !== undefined, 'the cluster version is saved');
    assert.match((await readText(join(saved, `${ns}/configmaps/app.yaml`))) ?? '', /mode: remote/);
  });

  it('deletes nothing in the cluster when a file is deleted', async () => {
    await rm(join(tree, ns, 'configmaps', 'fresh.yaml'));
    await waitProblem('res', `${ns}/configmaps/fresh.yaml`, /--allow-delete/);
    assert.equal(await field(ns, 'configmap/fresh', '{.data.hello}'), 'world');
  });

  it('refuses an unknown kind, and Secrets unless asked, in one line each', async () => {
    const other = await mkdtemp(join(tmpdir(), 'ksync-e2e-res-bad-'));
    const unknown = await ksync(['resources', 'create', other, '-n', ns, '-k', 'cm,gizmos']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr.trim(), /^\S.*unknown kind "gizmos".*ksync resources kinds$/);
    assert.equal(unknown.stderr.trim().split('\n').length, 1);
    const secret = await ksync(['resources', 'create', other, '-n', ns, '-k', 'secrets']);
    assert.notEqual(secret.code, 0);
    assert.match(secret.stderr, /add --secrets/);
    assert.equal(secret.stderr.trim().split('\n').length, 1);
  });

  it('writes Secrets with mode 0600 when asked for', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ksync-e2e-res-sec-'));
    await kubectl(['-n', ns, 'create', 'secret', 'generic', 'token', '--from-literal=a=b']);
    await ksyncOk([
      'resources',
      'create',
      dir,
      '--name',
      'res-sec',
      '-n',
      ns,
      '-k',
      'secrets',
      '--secrets',
    ]);
    const file = join(dir, ns, 'secrets', 'token.yaml');
    await waitFile(file, (t) => t.includes('kind: Secret'));
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, ns, 'secrets'))).mode & 0o777, 0o700);
  });

  it('reports local edits of a read-only mirror and applies none', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ksync-e2e-res-ro-'));
    await ksyncOk([
      'resources',
      'create',
      dir,
      '--name',
      'res-ro',
      '-n',
      ns,
      '-k',
      'cm',
      '--read-only',
    ]);
    const file = join(dir, ns, 'configmaps', 'fresh.yaml');
    const text = await waitFile(file, (t) => t.includes('hello: world'));
    await writeFile(file, text.replace('hello: world', 'hello: mine'));
    await waitProblem('res-ro', `${ns}/configmaps/fresh.yaml`, /read-only mirror/);
    assert.equal(await field(ns, 'configmap/fresh', '{.data.hello}'), 'world');
    assert.match((await readText(file)) ?? '', /hello: mine/, 'not reverted');
    await kubectl(['-n', ns, 'create', 'configmap', 'later', '--from-literal=k=v']);
    await waitFile(join(dir, ns, 'configmaps', 'later.yaml'), (t) => t.includes('k: v'));
  });

  it('says in one line which kind RBAC forbids, and syncs the others', async () => {
    await kubectl(['-n', ns, 'create', 'serviceaccount', 'cm-only']);
    await grant(ns, 'cm-only', `${ns}:cm-only`, {
      verbs: 'get,list,watch,create,patch',
      resources: 'configmaps',
    });
    const kubeconfig = await serviceAccountKubeconfig(ns, 'cm-only');
    const dir = await mkdtemp(join(tmpdir(), 'ksync-e2e-res-rbac-'));
    const created = await ksyncOk([
      'resources',
      'create',
      dir,
      '--name',
      'res-rbac',
      '--kubeconfig',
      kubeconfig,
      '-n',
      ns,
      '-k',
      'cm,deploy',
    ]);
    const warnings = created.stderr
      .trim()
      .split('\n')
      .filter((l) => l !== '');
    assert.equal(warnings.length, 1, created.stderr);
    assert.match(
      warnings[0] ?? '',
      /forbidden: .*cannot list,watch deployments\.apps in namespace/,
    );
    await waitFile(join(dir, ns, 'configmaps', 'app.yaml'), (t) => t.includes('kind: ConfigMap'));
    await waitProblem('res-rbac', `${ns}/deployments.apps`, /forbidden/);
    const file = join(dir, ns, 'configmaps', 'later.yaml');
    const text = await waitFile(file, (t) => t.includes('k: v'));
    await writeFile(file, text.replace('k: v', 'k: w'));
    await waitFor(
      'the edit in the cluster',
      30_000,
      async () => (await field(ns, 'configmap/later', '{.data.k}')) === 'w',
    );
  });
});
