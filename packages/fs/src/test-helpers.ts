/**
 * Shared helpers for the fs tests: temp directories that clean up after themselves, a tree
 * builder, and small polling waits (watcher tests wait on real inotify events).
 */
import { mkdtemp, mkdir, rm, writeFile, symlink, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CONTENT_PRESENT, type ApplyContent, type Change, type Entry } from '@ksync/core';
import { digestBytes } from './hash.ts';

/** Runs `body` with a fresh temp directory and removes it afterwards, whatever happens. */
export async function withTempDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'ksync-fs-test-'));
  try {
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A tree description: a string is a file's content, `{symlink}` a link, an object a directory. */
export type TreeSpec = {
  readonly [name: string]: string | { readonly symlink: string } | TreeSpec;
};

/** Creates `spec` under `dir` (parents as needed). */
export async function writeTree(dir: string, spec: TreeSpec): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, value] of Object.entries(spec)) {
    const path = join(dir, name);
    if (typeof value === 'string') {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, value);
    } else if (typeof value.symlink === 'string') {
      await symlink(value.symlink, path);
    } else {
      await writeTree(path, value);
    }
  }
}

/** Polls `check` every 5 ms until it returns true or `timeoutMs` passes; throws on timeout. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Sleeps; only for letting real filesystem events arrive (never for ordering logic). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Lists every name under `dir`, recursively, as relative paths (for "nothing escaped" checks). */
export async function listTree(dir: string): Promise<string[]> {
  const names = await readdir(dir, { recursive: true });
  return names.sort();
}

/** A file entry for `content` (its real digest and size). */
export function fileEntry(content: string, executable = false): Entry {
  return {
    kind: 'file',
    digest: digestBytes(content),
    executable,
    size: Buffer.byteLength(content),
  };
}

/**
 * The content stream for an apply: each of `contents` travels with the first change that creates
 * a file with its digest (as the session sends it).
 */
export function contentFor(
  changes: readonly Change[],
  contents: readonly (string | Uint8Array)[],
): ApplyContent {
  const byDigest = new Map(contents.map((c) => [digestBytes(c), c]));
  const indexes: number[] = [];
  const picked: (string | Uint8Array)[] = [];
  changes.forEach((change, i) => {
    const content = change.new?.kind === 'file' ? byDigest.get(change.new.digest) : undefined;
    if (content === undefined || change.new?.kind !== 'file') return;
    byDigest.delete(change.new.digest);
    indexes.push(i);
    picked.push(content);
  });
  async function* stream(): AsyncGenerator<Uint8Array> {
    for (const content of picked) {
      yield await Promise.resolve(Uint8Array.of(CONTENT_PRESENT));
      yield Buffer.from(content);
    }
  }
  return { indexes, stream: stream() };
}
