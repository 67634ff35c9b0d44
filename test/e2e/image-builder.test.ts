// The image builder (deploy/image) writes archives that importers accept: the layer's sha256
// is the config's diff_id, the manifest names both, and the output is byte-for-byte
// reproducible. Needs no cluster; lives here because the cluster is its main consumer.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { extract } from 'tar-stream';
import type { Header } from 'tar-stream';
import { planLayer, writeImageArchive } from '../../deploy/image/build-image.ts';
import type { ImageSpec } from '../../deploy/image/build-image.ts';
import { AGENT_BUNDLE_PATH, parseLdd, planAgentImage } from '../../deploy/image/images.ts';

interface TarFile {
  header: Header;
  data: Buffer;
}

async function readTar(data: Buffer): Promise<Map<string, TarFile>> {
  const files = new Map<string, TarFile>();
  const ex = extract();
  Readable.from([data]).pipe(ex);
  for await (const entry of ex) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    files.set(entry.header.name, { header: entry.header, data: Buffer.concat(chunks) });
  }
  return files;
}

describe('image builder', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ksync-image-test-'));
    await writeFile(join(dir, 'tool'), '#!/bin/sh\necho tool\n', { mode: 0o755 });
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const spec = (): ImageSpec => ({
    repoTags: ['localhost/ksync/unit:1'],
    entries: [
      { type: 'file', path: '/usr/bin/tool', source: join(dir, 'tool') },
      { type: 'symlink', path: '/bin/t', target: '../usr/bin/tool' },
      { type: 'file', path: '/home/app/note', content: 'hi\n', uid: 1000, gid: 1000 },
      { type: 'dir', path: '/tmp', mode: 0o1777 },
    ],
    config: { entrypoint: ['/usr/bin/tool'], user: '1000' },
  });

  it('writes a docker-archive whose diff_id is the layer sha256', async () => {
    const out = join(dir, 'a.tar');
    const result = await writeImageArchive(out, spec());
    const outer = await readTar(await readFile(out));
    const manifest = JSON.parse(outer.get('manifest.json')!.data.toString()) as {
      Config: string;
      RepoTags: string[];
      Layers: string[];
    }[];
    assert.equal(manifest.length, 1);
    assert.deepEqual(manifest[0]!.RepoTags, ['localhost/ksync/unit:1']);
    const layer = outer.get(manifest[0]!.Layers[0]!)!.data;
    const configText = outer.get(manifest[0]!.Config)!.data;
    const config = JSON.parse(configText.toString()) as {
      rootfs: { diff_ids: string[] };
      config: { Entrypoint: string[]; User: string; Env: string[] };
    };
    const layerSha = `sha256:${createHash('sha256').update(layer).digest('hex')}`;
    assert.deepEqual(config.rootfs.diff_ids, [layerSha]);
    assert.equal(result.diffId, layerSha);
    assert.equal(result.imageId, `sha256:${createHash('sha256').update(configText).digest('hex')}`);
    assert.deepEqual(config.config.Entrypoint, ['/usr/bin/tool']);
    assert.ok(config.config.Env.some((e) => e.startsWith('PATH=')));

    const files = await readTar(layer);
    // Parents are added and come before their children.
    assert.deepEqual(
      [...files.keys()],
      [
        'bin',
        'bin/t',
        'home',
        'home/app',
        'home/app/note',
        'tmp',
        'usr',
        'usr/bin',
        'usr/bin/tool',
      ],
    );
    assert.equal(files.get('usr/bin/tool')!.header.mode, 0o755);
    assert.equal(files.get('usr/bin/tool')!.data.toString(), '#!/bin/sh\necho tool\n');
    assert.equal(files.get('bin/t')!.header.linkname, '../usr/bin/tool');
    assert.equal(files.get('home/app/note')!.header.uid, 1000);
    assert.equal(files.get('tmp')!.header.mode, 0o1777);
  });

  it('is reproducible', async () => {
    await writeImageArchive(join(dir, 'b.tar'), spec());
    await writeImageArchive(join(dir, 'c.tar'), spec());
    assert.ok((await readFile(join(dir, 'b.tar'))).equals(await readFile(join(dir, 'c.tar'))));
  });

  it('rejects bad specs with every problem in one message', () => {
    assert.throws(
      () =>
        planLayer([
          { type: 'file', path: 'relative', content: 'x' },
          { type: 'dir', path: '/a' },
          { type: 'dir', path: '/a/' },
          { type: 'file', path: '/b' },
        ]),
      /relative: image paths must be absolute.*\/a: listed twice.*\/b: a file needs exactly one/,
    );
  });

  it('parses ldd output into library paths', () => {
    const out = [
      '\tlinux-vdso.so.1 (0x00007ffd)',
      '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f16)',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007f16c5f89000)',
    ].join('\n');
    assert.deepEqual(parseLdd(out), [
      '/lib/x86_64-linux-gnu/libc.so.6',
      '/lib64/ld-linux-x86-64.so.2',
    ]);
  });

  it('plans the agent image: the Node base plus the bundle as the entrypoint', () => {
    const spec = planAgentImage({
      tag: 'localhost/ksync/agent:0.1.0',
      node: '/host/node',
      libraries: [{ path: '/lib64/ld-linux-x86-64.so.2', source: '/host/ld.so' }],
      busybox: '/host/busybox',
      applets: ['sh'],
      bundle: '/host/ksync-agent.mjs',
    });
    assert.deepEqual(spec.repoTags, ['localhost/ksync/agent:0.1.0']);
    assert.deepEqual(spec.config?.entrypoint, [
      '/usr/local/bin/node',
      '--max-semi-space-size=2',
      AGENT_BUNDLE_PATH,
    ]);
    const byPath = new Map(planLayer(spec.entries).map((e) => [e.path, e]));
    assert.deepEqual(byPath.get(AGENT_BUNDLE_PATH), {
      type: 'file',
      path: AGENT_BUNDLE_PATH,
      source: '/host/ksync-agent.mjs',
      mode: 0o644,
    });
    assert.equal(byPath.get('/usr/local/bin/node')?.type, 'file');
    assert.equal(byPath.get('/bin/sh')?.type, 'symlink');
  });
});
