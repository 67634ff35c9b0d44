// Writes a container image as a docker-archive tarball (the `docker save` layout) without a
// container engine. The output loads with `ctr images import`, `docker load` and
// `kind load image-archive`. One image, one layer: the images ksync needs are tiny, and a
// single layer keeps the archive reproducible byte for byte (sorted entries, fixed mtimes).

import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdtemp, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { posix } from 'node:path';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import { pack } from 'tar-stream';
import type { Header, Pack } from 'tar-stream';

// What tar-stream's entry() accepts: any header fields plus the name.
type EntryHeader = Partial<Header> & { name: string };

/** One thing to put in the image's root filesystem; paths are absolute inside the image. */
export type ImageEntry =
  | {
      type: 'file';
      path: string;
      /** Host file to copy (symlinks followed); exactly one of source and content is set. */
      source?: string;
      content?: string | Uint8Array;
      mode?: number;
      uid?: number;
      gid?: number;
    }
  | { type: 'dir'; path: string; mode?: number; uid?: number; gid?: number }
  | { type: 'symlink'; path: string; target: string };

/** The image's runtime settings (the `config` object of the image config). */
export interface ImageRuntimeConfig {
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  user?: string;
  workingDir?: string;
}

/** Everything needed to write one image archive. */
export interface ImageSpec {
  /** Fully qualified names such as `localhost/ksync/pause:3.10`, so importers keep them as is. */
  repoTags: string[];
  entries: ImageEntry[];
  config?: ImageRuntimeConfig;
}

/** What was written: the digests an importer will report. */
export interface ImageArchiveResult {
  output: string;
  /** sha256 of the uncompressed layer tar (the image's only diff_id). */
  diffId: string;
  /** sha256 of the config JSON, which is the image ID. */
  imageId: string;
  layerBytes: number;
}

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
// Fixed timestamp so the same inputs give the same digests on every machine.
const EPOCH = new Date(0);

/**
 * Checks a spec and returns it in layer order: every parent directory listed before its
 * children, duplicates rejected, paths normalised. Pure; collects every problem before failing.
 */
export function planLayer(entries: readonly ImageEntry[]): ImageEntry[] {
  const problems: string[] = [];
  const byPath = new Map<string, ImageEntry>();
  for (const entry of entries) {
    // normalize keeps a trailing slash; drop it so '/a/' and '/a' are the same entry.
    const path = posix.normalize(entry.path).replace(/\/+$/, '');
    if (!path.startsWith('/')) {
      problems.push(`${entry.path}: image paths must be absolute and not the root`);
      continue;
    }
    if (byPath.has(path)) {
      problems.push(`${path}: listed twice`);
      continue;
    }
    if (entry.type === 'file' && (entry.source === undefined) === (entry.content === undefined)) {
      problems.push(`${path}: a file needs exactly one of source and content`);
      continue;
    }
    byPath.set(path, { ...entry, path });
  }
  // Add missing parent directories, because some unpackers do not create them.
  for (const path of [...byPath.keys()]) {
    for (let dir = posix.dirname(path); dir !== '/'; dir = posix.dirname(dir)) {
      const existing = byPath.get(dir);
      if (existing === undefined) byPath.set(dir, { type: 'dir', path: dir });
      else if (existing.type !== 'dir')
        problems.push(`${dir}: is a ${existing.type} but has children`);
    }
  }
  if (problems.length > 0) {
    throw new Error(`invalid image spec: ${problems.join('; ')}`);
  }
  // Lexical order puts a directory before its children ("/a" < "/a/b").
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Writes `spec` as a docker-archive tarball at `output`. */
export async function writeImageArchive(
  output: string,
  spec: ImageSpec,
): Promise<ImageArchiveResult> {
  if (spec.repoTags.length === 0) throw new Error('invalid image spec: no repoTags given');
  const entries = planLayer(spec.entries);
  const work = await mkdtemp(join(tmpdir(), 'ksync-image-'));
  try {
    // The layer goes to a temp file first: the outer tar header needs its size, and its
    // sha256 (the diff_id) must be known before the config is written.
    const layerFile = join(work, 'layer.tar');
    const { sha256: diffHex, bytes: layerBytes } = await writeLayerTar(layerFile, entries);
    const config = JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: EPOCH.toISOString(),
      config: runtimeConfigJson(spec.config ?? {}),
      rootfs: { type: 'layers', diff_ids: [`sha256:${diffHex}`] },
      history: [{ created: EPOCH.toISOString(), created_by: 'ksync deploy/image/build-image.ts' }],
    });
    const configHex = createHash('sha256').update(config).digest('hex');
    const manifest = JSON.stringify([
      { Config: `${configHex}.json`, RepoTags: spec.repoTags, Layers: [`${diffHex}/layer.tar`] },
    ]);

    const outer = pack();
    const done = pipeline(outer, createWriteStream(output));
    await addEntry(outer, { name: `${diffHex}/`, type: 'directory', mode: 0o755 });
    await addFile(outer, `${diffHex}/layer.tar`, layerFile, layerBytes, 0o644);
    await addEntry(outer, { name: `${configHex}.json`, mode: 0o644 }, Buffer.from(config));
    await addEntry(outer, { name: 'manifest.json', mode: 0o644 }, Buffer.from(manifest));
    outer.finalize();
    await done;
    return { output, diffId: `sha256:${diffHex}`, imageId: `sha256:${configHex}`, layerBytes };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function runtimeConfigJson(config: ImageRuntimeConfig): Record<string, unknown> {
  const env = config.env ?? [];
  return {
    Env: env.some((e) => e.startsWith('PATH=')) ? env : [DEFAULT_PATH, ...env],
    ...(config.entrypoint !== undefined && { Entrypoint: config.entrypoint }),
    ...(config.cmd !== undefined && { Cmd: config.cmd }),
    ...(config.user !== undefined && { User: config.user }),
    ...(config.workingDir !== undefined && { WorkingDir: config.workingDir }),
  };
}

async function writeLayerTar(
  file: string,
  entries: readonly ImageEntry[],
): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      hash.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  const layer = pack();
  const done = pipeline(layer, tap, createWriteStream(file));
  for (const entry of entries) {
    const name = entry.path.slice(1);
    if (entry.type === 'dir') {
      await addEntry(layer, {
        name,
        type: 'directory',
        mode: entry.mode ?? 0o755,
        uid: entry.uid ?? 0,
        gid: entry.gid ?? 0,
      });
    } else if (entry.type === 'symlink') {
      await addEntry(layer, { name, type: 'symlink', linkname: entry.target, mode: 0o777 });
    } else if (entry.content !== undefined) {
      const data =
        typeof entry.content === 'string' ? Buffer.from(entry.content) : Buffer.from(entry.content);
      await addEntry(
        layer,
        { name, mode: entry.mode ?? 0o644, uid: entry.uid ?? 0, gid: entry.gid ?? 0 },
        data,
      );
    } else if (entry.source !== undefined) {
      const st = await stat(entry.source);
      if (!st.isFile())
        throw new Error(`${entry.source}: not a regular file (image path ${entry.path})`);
      await addFile(layer, name, entry.source, st.size, entry.mode ?? st.mode & 0o7777, {
        uid: entry.uid ?? 0,
        gid: entry.gid ?? 0,
      });
    }
  }
  layer.finalize();
  await done;
  return { sha256: hash.digest('hex'), bytes };
}

function addEntry(tar: Pack, header: EntryHeader, data?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const full: EntryHeader = { mtime: EPOCH, uid: 0, gid: 0, uname: '', gname: '', ...header };
    const cb = (err?: Error | null) => (err ? reject(err) : resolve());
    if (data === undefined) tar.entry(full, cb);
    else tar.entry(full, data, cb);
  });
}

async function addFile(
  tar: Pack,
  name: string,
  source: string,
  size: number,
  mode: number,
  owner: { uid: number; gid: number } = { uid: 0, gid: 0 },
): Promise<void> {
  const header: EntryHeader = { name, size, mode, mtime: EPOCH, uname: '', gname: '', ...owner };
  await new Promise<void>((resolve, reject) => {
    const sink = tar.entry(header, (err) => (err ? reject(err) : resolve()));
    createReadStream(source).on('error', reject).pipe(sink);
  });
}

/** Lists what `source` is on the host, for callers that copy trees: file, dir or symlink. */
export async function readHostEntry(source: string, path: string): Promise<ImageEntry> {
  const st = await lstat(source);
  if (st.isSymbolicLink()) return { type: 'symlink', path, target: await readlink(source) };
  if (st.isDirectory()) return { type: 'dir', path, mode: st.mode & 0o7777 };
  return { type: 'file', path, source, mode: st.mode & 0o7777 };
}
