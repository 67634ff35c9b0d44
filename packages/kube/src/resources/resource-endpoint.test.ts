import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  encodeContentStream,
  type ApplyResult,
  type Change,
  type ContentRequest,
  type Endpoint,
  type FileEntry,
} from '@ksync/core';
import { fakeKubeTarget } from '../test-target.ts';
import type { ApiKind } from './kinds.ts';
import { openResourceEndpoint, type ResourceEndpointOptions } from './resource-endpoint.ts';
import { SERVED } from './test-kinds.ts';

const byPlural = (plural: string): ApiKind => {
  const kind = SERVED.find((k) => k.plural === plural);
  assert.ok(kind !== undefined);
  return kind;
};
const [configmaps, deployments] = [byPlural('configmaps'), byPlural('deployments')];

type Obj = {
  metadata: { name: string; resourceVersion: string; [k: string]: unknown };
  [k: string]: unknown;
};

/**
 * A fake API server holding ConfigMaps of namespace `ns`: list, a watch that stays quiet, merge
 * patches (checking the resourceVersion precondition), creates and deletes. Deployments are
 * forbidden by the access review. Every write request is recorded.
 */
describe('the resource endpoint against a fake API server', () => {
  let server: Server;
  let options: ResourceEndpointOptions;
  let objects: Map<string, Obj>;
  let writes: { method: string; url: string; body: unknown }[];
  let rv = 10;
  let endpoint: Endpoint | undefined;

  const cm = (name: string, data: Record<string, string>): Obj => ({
    metadata: { name, namespace: 'ns', resourceVersion: String(++rv), uid: `u-${name}` },
    data,
  });

  before(async () => {
    server = createServer((req, res) => void handle(req, res));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    options = {
      target: fakeKubeTarget(`http://127.0.0.1:${port}`, 'ns', 't'),
      kinds: [configmaps, deployments],
      namespaces: ['ns'],
      allowDelete: false,
      readOnly: false,
    };
  });
  beforeEach(async () => {
    await endpoint?.close();
    objects = new Map([['app', cm('app', { mode: 'blue' })]]);
    writes = [];
  });
  after(async () => {
    await endpoint?.close();
    server.closeAllConnections();
    server.close();
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    let text = '';
    for await (const chunk of req) text += String(chunk);
    const body: unknown = text === '' ? undefined : JSON.parse(text);
    const send = (status: number, value: unknown): void => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    const status = (code: number, message: string): void =>
      send(code, { kind: 'Status', code, message });
    if (url.pathname.endsWith('selfsubjectaccessreviews')) {
      const resource = (body as { spec: { resourceAttributes: { resource: string } } }).spec
        .resourceAttributes.resource;
      send(201, { status: { allowed: resource === 'configmaps' } });
      return;
    }
    if (url.searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.flushHeaders();
      return;
    }
    const item = /^\/api\/v1\/namespaces\/ns\/configmaps(?:\/([^/]+))?$/.exec(url.pathname);
    if (item === null) return status(404, 'not found');
    const name = item[1];
    if (req.method !== 'GET') writes.push({ method: req.method ?? '', url: req.url ?? '', body });
    const dryRun = url.searchParams.get('dryRun') === 'All';
    if (req.method === 'GET' && name === undefined)
      return send(200, {
        kind: 'ConfigMapList',
        metadata: { resourceVersion: String(rv) },
        items: [...objects.values()],
      });
    const current = name === undefined ? undefined : objects.get(name);
    if (req.method === 'POST') {
      const obj = body as Obj;
      const created = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++rv) } };
      if (!dryRun) objects.set(obj.metadata.name, created);
      return send(201, created);
    }
    if (current === undefined) return status(404, 'not found');
    if (req.method === 'PATCH') {
      const patch = body as {
        metadata: { resourceVersion: string };
        data?: Record<string, string | null>;
      };
      if (patch.metadata.resourceVersion !== current.metadata.resourceVersion)
        return status(
          409,
          'the object has been modified; please apply your changes to the latest version and try again',
        );
      if (Object.keys(patch.data ?? {}).some((k) => k.includes('!')))
        return status(
          422,
          `ConfigMap "${current.metadata.name}" is invalid: data[bad!]: Invalid value: "bad!": a valid config key must consist of alphanumeric characters`,
        );
      const data = { ...(current.data as Record<string, string>) };
      for (const [k, v] of Object.entries(patch.data ?? {}))
        if (v === null) delete data[k];
        else data[k] = v;
      const patched = {
        ...current,
        data,
        metadata: { ...current.metadata, resourceVersion: String(++rv) },
      };
      if (!dryRun) objects.set(current.metadata.name, patched);
      return send(200, patched);
    }
    if (req.method === 'DELETE') {
      if (!dryRun) objects.delete(current.metadata.name);
      return send(200, { kind: 'Status', status: 'Success' });
    }
    send(200, { apiVersion: 'v1', kind: 'ConfigMap', ...current });
  }

  /** Content the next `applyWith` sends along, by digest. */
  const staged = new Map<string, Buffer>();

  function stage(text: string): FileEntry {
    const bytes = Buffer.from(text);
    const digest = createHash('sha256').update(bytes).digest('hex');
    staged.set(digest, bytes);
    return { kind: 'file', digest, executable: false, size: bytes.length };
  }

  /** Applies `changes`, sending the staged content of the files they create or edit. */
  function applyWith(ep: Endpoint, changes: readonly Change[]): Promise<ApplyResult> {
    const indexes: number[] = [];
    const files: ContentRequest[] = [];
    changes.forEach((change, i) => {
      if (change.new?.kind !== 'file' || !staged.has(change.new.digest)) return;
      indexes.push(i);
      files.push({ path: change.path, digest: change.new.digest, size: change.new.size });
    });
    if (indexes.length === 0) return ep.apply(changes);
    return ep.apply(changes, {
      indexes,
      stream: encodeContentStream(files, async function* (file) {
        yield await Promise.resolve(staged.get(file.digest) ?? Buffer.alloc(0));
      }),
    });
  }

  async function text(ep: Endpoint, path: string, entry: FileEntry): Promise<string> {
    let out = '';
    for await (const chunk of ep.readContent(path, entry.digest))
      out += Buffer.from(chunk).toString();
    return out;
  }

  it('scans objects as files and a forbidden kind as one problem at its directory', async () => {
    endpoint = await openResourceEndpoint(options);
    const { snapshot, problems } = await endpoint.scan({ full: true });
    assert.deepEqual([...snapshot.keys()].sort(), [
      '',
      'ns',
      'ns/configmaps',
      'ns/configmaps/app.yaml',
    ]);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.path, 'ns/deployments.apps');
    assert.match(
      problems[0]?.message ?? '',
      /^forbidden: you cannot list,watch deployments\.apps in namespace "ns"/,
    );
    const entry = snapshot.get('ns/configmaps/app.yaml') as FileEntry;
    assert.equal(
      await text(endpoint, 'ns/configmaps/app.yaml', entry),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: ns\ndata:\n  mode: blue\n',
    );
  });

  it('sends an edit as a merge patch with the resourceVersion it was based on, after a dry run', async () => {
    endpoint = await openResourceEndpoint(options);
    const { snapshot } = await endpoint.scan({ full: true });
    const old = snapshot.get('ns/configmaps/app.yaml') as FileEntry;
    const baseRv = objects.get('app')?.metadata.resourceVersion;
    const edited = stage(
      (await text(endpoint, 'ns/configmaps/app.yaml', old)).replace('blue', 'green'),
    );
    const result = await applyWith(endpoint, [
      { path: 'ns/configmaps/app.yaml', old, new: edited },
    ]);
    assert.deepEqual(result.problems, []);
    assert.deepEqual(
      writes.map((w) => [w.method, new URL(w.url, 'http://x').searchParams.get('dryRun'), w.body]),
      [
        ['PATCH', 'All', { data: { mode: 'green' }, metadata: { resourceVersion: baseRv } }],
        ['PATCH', null, { data: { mode: 'green' }, metadata: { resourceVersion: baseRv } }],
      ],
    );
    // The next scan shows the write at once, although the (quiet) watch has not.
    const after = (await endpoint.scan({ full: true })).snapshot.get('ns/configmaps/app.yaml');
    assert.deepEqual(after, edited);
  });

  it('refuses an edit when the cluster changed it meanwhile (409), and writes nothing', async () => {
    endpoint = await openResourceEndpoint(options);
    const { snapshot } = await endpoint.scan({ full: true });
    const old = snapshot.get('ns/configmaps/app.yaml') as FileEntry;
    objects.set('app', cm('app', { mode: 'red' }));
    const edited = stage(
      (await text(endpoint, 'ns/configmaps/app.yaml', old)).replace('blue', 'green'),
    );
    const result = await applyWith(endpoint, [
      { path: 'ns/configmaps/app.yaml', old, new: edited },
    ]);
    assert.deepEqual(result.applied, []);
    assert.match(
      result.problems[0]?.message ?? '',
      /changed in the cluster meanwhile \(409 Conflict\)/,
    );
    assert.deepEqual(objects.get('app')?.data, { mode: 'red' });
  });

  it('retries a 409 once when only stripped fields moved', async () => {
    endpoint = await openResourceEndpoint(options);
    const { snapshot } = await endpoint.scan({ full: true });
    const old = snapshot.get('ns/configmaps/app.yaml') as FileEntry;
    objects.set('app', cm('app', { mode: 'blue' }));
    const edited = stage(
      (await text(endpoint, 'ns/configmaps/app.yaml', old)).replace('blue', 'green'),
    );
    const result = await applyWith(endpoint, [
      { path: 'ns/configmaps/app.yaml', old, new: edited },
    ]);
    assert.deepEqual(result.problems, []);
    assert.deepEqual(objects.get('app')?.data, { mode: 'green' });
  });

  it("reports the server's message for a rejected edit, and an unparsable file, in one line", async () => {
    endpoint = await openResourceEndpoint(options);
    const { snapshot } = await endpoint.scan({ full: true });
    const old = snapshot.get('ns/configmaps/app.yaml') as FileEntry;
    const base = await text(endpoint, 'ns/configmaps/app.yaml', old);
    const invalid = stage(base.replace('mode: blue', 'bad!: x'));
    const broken = stage(base.replace('mode: blue', 'mode: [blue'));
    const renamed = stage(base.replace('name: app', 'name: other'));
    const result = await applyWith(endpoint, [
      { path: 'ns/configmaps/app.yaml', old, new: invalid },
      { path: 'ns/configmaps/app.yaml', old, new: broken },
      { path: 'ns/configmaps/app.yaml', old, new: renamed },
    ]);
    assert.deepEqual(result.applied, []);
    const [rejected, yaml, name] = result.problems.map((p) => p.message);
    assert.match(
      rejected ?? '',
      /^cannot patch configmaps "app" in namespace "ns": ConfigMap "app" is invalid: .*valid config key/,
    );
    assert.match(yaml ?? '', /^not applied: invalid YAML: .* at line \d+, column \d+$/);
    assert.match(name ?? '', /metadata.name "other" is not the file's name "app"/);
    assert.ok(result.problems.every((p) => !p.message.includes('\n')));
    assert.deepEqual(objects.get('app')?.data, { mode: 'blue' });
  });

  it('creates an object from a new file, in the namespace of its directory', async () => {
    endpoint = await openResourceEndpoint(options);
    await endpoint.scan({ full: true });
    const entry = stage(
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fresh\ndata:\n  a: "1"\n',
    );
    const result = await applyWith(endpoint, [
      { path: 'ns/configmaps/fresh.yaml', old: undefined, new: entry },
    ]);
    assert.deepEqual(result.problems, []);
    assert.equal(objects.get('fresh')?.metadata.namespace, 'ns');
    assert.ok((await endpoint.scan({ full: true })).snapshot.has('ns/configmaps/fresh.yaml'));
  });

  it('deletes only with allowDelete, and applies nothing in a read-only mirror', async () => {
    endpoint = await openResourceEndpoint(options);
    const old = (await endpoint.scan({ full: true })).snapshot.get(
      'ns/configmaps/app.yaml',
    ) as FileEntry;
    const kept = await applyWith(endpoint, [
      { path: 'ns/configmaps/app.yaml', old, new: undefined },
    ]);
    assert.match(kept.problems[0]?.message ?? '', /without --allow-delete/);
    assert.ok(objects.has('app'));
    await endpoint.close();

    endpoint = await openResourceEndpoint({ ...options, readOnly: true });
    const ro = await applyWith(endpoint, [{ path: 'ns/configmaps/app.yaml', old, new: undefined }]);
    assert.match(ro.problems[0]?.message ?? '', /read-only mirror/);
    await endpoint.close();

    endpoint = await openResourceEndpoint({ ...options, allowDelete: true });
    const current = (await endpoint.scan({ full: true })).snapshot.get(
      'ns/configmaps/app.yaml',
    ) as FileEntry;
    const gone = await applyWith(endpoint, [
      { path: 'ns/configmaps/app.yaml', old: current, new: undefined },
    ]);
    assert.deepEqual(gone.problems, []);
    assert.ok(!objects.has('app'));
    assert.ok(!(await endpoint.scan({ full: true })).snapshot.has('ns/configmaps/app.yaml'));
  });

  it('refuses files and directories outside the namespaces and kinds it mirrors', async () => {
    endpoint = await openResourceEndpoint(options);
    await endpoint.scan({ full: true });
    const entry = stage('x: 1\n');
    const result = await applyWith(endpoint, [
      { path: 'other', old: undefined, new: { kind: 'directory' } },
      { path: 'ns/configmaps/notes.txt', old: undefined, new: entry },
    ]);
    assert.deepEqual(result.applied, []);
    assert.match(result.problems[0]?.message ?? '', /not a namespace or kind this sync mirrors/);
    assert.match(result.problems[1]?.message ?? '', /not an object file/);
  });
});
