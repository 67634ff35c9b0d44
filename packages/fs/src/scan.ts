/**
 * Scanning: turns a directory tree into a snapshot (flat map path → entry) plus problems, through
 * the stat cache so unchanged files are never re-hashed. Two forms:
 * - `scanFull` walks the whole tree into an empty cache, reusing digests from the previous one;
 * - `scanDirty` re-lstat's only the paths a watcher marked dirty and patches the cache in place:
 *   a dirty directory re-reads its listing (and re-lstat's its children), a directory that is new
 *   (or replaced) is walked fully, and a vanished path drops with its whole subtree.
 *
 * Policy, applied identically by both forms:
 * - ignored paths (defaults + options + .ksyncignore) are neither entered nor reported;
 * - our own temp names (`.ksync-tmp-*`) never appear;
 * - symlinks are kept only when their target is relative and stays inside the root lexically;
 *   they are never followed;
 * - special files, unreadable entries and names that are not valid sync paths (invalid UTF-8,
 *   backslash, not NFC) become problems and are absent from the snapshot; the scan goes on.
 * Mount points below the root are crossed on purpose: in containers the volumes are mounts.
 *
 * Syscalls are synchronous (an async lstat through libuv costs ~2× and async small-file hashing
 * ~4×, sync-design.md B2), and the walk yields to the event loop every few milliseconds.
 */
import { lstatSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import {
  DIRECTORY,
  ROOT,
  TEMP_PREFIX,
  baseName,
  comparePaths,
  isWithin,
  joinPath,
  parentPath,
  validatePath,
  type Entry,
  type IgnoreMatcher,
  type Problem,
} from '@ksync/core';
import type { FileHasher } from './hash.ts';
import { resolveConfined } from './safe-path.ts';
import {
  StatCache,
  makeRecord,
  wallClockNs,
  type StatLookup,
  type StatRecord,
} from './stat-cache.ts';

/** What a scan needs to know. */
export interface ScanContext {
  readonly root: string;
  readonly matcher: IgnoreMatcher;
  readonly hasher: FileHasher;
  /** Called with the absolute path of every leftover temp name the walk passes. */
  readonly onTempName?: (absolute: string) => void;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const YIELD_EVERY_MS = 8;

/**
/**
 * Walks the whole tree into `cache` (fresh by default); digests of unchanged files come from
 * `previous` (the last cache, or the one saved by the last process).
 */
export async function scanFull(
  ctx: ScanContext,
  previous: StatLookup | undefined,
  cache = new StatCache(),
): Promise<StatCache> {
  const walker = new Walker(ctx, cache, previous);
  await walker.rescan(ROOT);
  return cache;
}

/** Re-examines only `dirty` paths (and what they imply), patching `cache` in place. */
export async function scanDirty(
  ctx: ScanContext,
  cache: StatCache,
  dirty: Iterable<string>,
): Promise<void> {
  const walker = new Walker(ctx, cache, cache);
  const paths = [...new Set(dirty)].filter(isSyncPath).sort(comparePaths);
  let covered: string | undefined;
  for (const path of paths) {
    if (covered !== undefined && isWithin(path, covered)) continue;
    // A path whose parent is not a recorded directory is reached from its nearest recorded
    // ancestor instead: relisting that ancestor discovers (or drops) the whole branch.
    let target = path;
    while (target !== ROOT && cache.get(parentPath(target))?.entry.kind !== 'directory') {
      target = parentPath(target);
    }
    if (covered !== undefined && isWithin(target, covered)) continue;
    if (await walker.rescan(target)) covered = target;
  }
}

function isSyncPath(path: string): boolean {
  try {
    return validatePath(path) === path;
  } catch {
    return false;
  }
}

/** One scan pass. */
class Walker {
  readonly #ctx: ScanContext;
  readonly #cache: StatCache;
  readonly #previous: StatLookup | undefined;
  #lastYield = performance.now();

  constructor(ctx: ScanContext, cache: StatCache, previous: StatLookup | undefined) {
    this.#ctx = ctx;
    this.#cache = cache;
    this.#previous = previous;
  }

  /**
   * Re-examines one path whose parent is a recorded directory (or the root). Returns true when
   * the path's whole subtree was walked.
   */
  async rescan(path: string): Promise<boolean> {
    if (path !== ROOT && baseName(path).startsWith(TEMP_PREFIX)) return false;
    const resolved = resolveConfined(this.#ctx.root, path);
    if (!resolved.ok) {
      // A parent turned into a symlink or vanished; that parent is dirty too and handles it.
      this.#cache.delete(path);
      return false;
    }
    let stats: BigIntStats;
    try {
      stats = lstatSync(resolved.absolute, { bigint: true });
    } catch (error) {
      this.#cache.delete(path);
      if (path === ROOT) this.#cache.clear();
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') this.#cache.setProblem(ioProblem(path, error));
      return true;
    }
    if (path === ROOT && !stats.isDirectory()) {
      this.#cache.clear();
      this.#cache.setProblem({ path, message: 'sync root is not a directory' });
      return true;
    }
    return this.#visit(path, resolved.absolute, stats, true);
  }

  /**
   * Examines a path that exists, records it, and walks into it when it is a directory that is
   * new to the cache (or, for `relistKnown`, re-reads a known directory's listing).
   */
  async #visit(
    path: string,
    absolute: string,
    stats: BigIntStats,
    relistKnown: boolean,
  ): Promise<boolean> {
    if (path !== ROOT && this.#ctx.matcher.ignores(path, stats.isDirectory())) {
      this.#cache.delete(path);
      return true;
    }
    const old = this.#cache.get(path);
    const result = await this.#examine(path, absolute, stats);
    if ('message' in result) {
      this.#cache.delete(path);
      this.#cache.setProblem(result);
      return true;
    }
    if (result.entry.kind !== 'directory') {
      this.#cache.set(path, result);
      return false;
    }
    const known = old?.entry.kind === 'directory' && old.ino === result.ino;
    if (!known) this.#cache.delete(path);
    this.#cache.set(path, result);
    if (known && !relistKnown) return false;
    await this.#list(path, absolute, known);
    return !known;
  }

  /** Reads a directory's listing and visits each child; children no longer listed are dropped. */
  async #list(path: string, absolute: string, known: boolean): Promise<void> {
    let dirents;
    try {
      dirents = readdirSync(absolute, { withFileTypes: true, encoding: 'buffer' });
    } catch (error) {
      // An unlistable directory cannot be described, so it is not synchronized at all.
      this.#cache.delete(path);
      this.#cache.setProblem(ioProblem(path, error));
      return;
    }
    this.#cache.clearChildProblems(path);
    const seen = new Set<string>();
    for (const dirent of dirents) {
      await this.#maybeYield();
      let name: string;
      try {
        name = utf8.decode(dirent.name);
      } catch {
        const shown = joinPath(path, dirent.name.toString('utf8'));
        this.#cache.setProblem({ path: shown, message: 'name is not valid UTF-8; not synced' });
        continue;
      }
      if (name.startsWith(TEMP_PREFIX)) {
        this.#ctx.onTempName?.(`${absolute}/${name}`);
        continue;
      }
      const child = joinPath(path, name);
      seen.add(name);
      const problem = checkName(child);
      if (problem) {
        this.#cache.setProblem(problem);
        continue;
      }
      // Prune ignored directories before any syscall on them (node_modules, .git, ...).
      if (dirent.isDirectory() && this.#ctx.matcher.ignores(child, true)) {
        this.#cache.delete(child);
        continue;
      }
      const childAbsolute = `${absolute}/${name}`;
      let stats: BigIntStats;
      try {
        stats = lstatSync(childAbsolute, { bigint: true });
      } catch (error) {
        this.#cache.delete(child);
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT') this.#cache.setProblem(ioProblem(child, error));
        continue;
      }
      await this.#visit(child, childAbsolute, stats, false);
    }
    if (known) {
      for (const name of [...this.#cache.children(path)]) {
        if (!seen.has(name)) this.#cache.delete(joinPath(path, name));
      }
    }
  }

  /** Derives the record for one existing path, or the problem that keeps it out. */
  async #examine(
    path: string,
    absolute: string,
    stats: BigIntStats,
  ): Promise<StatRecord | Problem> {
    // The lstat ran just before (synchronously), so this is when the content was looked at.
    const seenAt = wallClockNs();
    if (stats.isDirectory()) return makeRecord(DIRECTORY, stats, seenAt);
    if (stats.isFile()) {
      const executable = (Number(stats.mode) & 0o111) !== 0;
      const previous = this.#previous?.get(path);
      // Same size, mtime, ctime and inode: the content is what we hashed before (a chmod only
      // moves ctime, and costs one re-hash), unless the record was racy.
      if (
        previous?.entry.kind === 'file' &&
        !previous.racy &&
        previous.size === Number(stats.size) &&
        previous.mtimeNs === stats.mtimeNs &&
        previous.ctimeNs === stats.ctimeNs &&
        previous.ino === stats.ino
      ) {
        const entry =
          previous.entry.executable === executable
            ? previous.entry
            : Object.freeze({ ...previous.entry, executable });
        return makeRecord(entry, stats, seenAt);
      }
      let digest: string | undefined;
      try {
        digest = await this.#ctx.hasher(absolute, stats);
      } catch (error) {
        return ioProblem(path, error);
      }
      if (digest === undefined) {
        return { path, message: 'file changed while it was being scanned; will retry' };
      }
      const entry: Entry = Object.freeze({
        kind: 'file',
        digest,
        executable,
        size: Number(stats.size),
      });
      return makeRecord(entry, stats, seenAt);
    }
    if (stats.isSymbolicLink()) {
      let target: string;
      try {
        target = utf8.decode(readlinkSync(absolute, { encoding: 'buffer' }));
      } catch (error) {
        if (error instanceof TypeError) {
          return { path, message: 'symlink target is not valid UTF-8; not synced' };
        }
        return ioProblem(path, error);
      }
      if (!symlinkStaysInside(path, target)) {
        return { path, message: 'symlink points outside the sync root; not synced' };
      }
      return makeRecord(Object.freeze({ kind: 'symlink', target }), stats, seenAt);
    }
    return { path, message: 'special file (FIFO, socket or device); not synced' };
  }

  async #maybeYield(): Promise<void> {
    const now = performance.now();
    if (now - this.#lastYield < YIELD_EVERY_MS) return;
    await yieldToLoop();
    this.#lastYield = performance.now();
  }
}

function checkName(path: string): Problem | undefined {
  let valid: string;
  try {
    valid = validatePath(path);
  } catch (error) {
    return { path, message: `${(error as Error).message}; not synced` };
  }
  if (valid !== path) return { path, message: 'name is not in Unicode NFC form; not synced' };
  return undefined;
}

/**
 * True when a symlink at `path` with `target` is relative and, resolved lexically from the
 * link's directory, never climbs above the root (no component of the result is outside).
 */
export function symlinkStaysInside(path: string, target: string): boolean {
  if (target === '' || target.startsWith('/') || target.includes('\0') || target.includes('\\')) {
    return false;
  }
  const stack = parentPath(path) === ROOT ? [] : parentPath(path).split('/');
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (stack.length === 0) return false;
      stack.pop();
    } else stack.push(part);
  }
  return true;
}

/** A problem from an I/O error, worded for the user. */
export function ioProblem(path: string, error: unknown): Problem {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return { path, message: 'permission denied; not synced' };
    case 'ELOOP':
      return { path, message: 'became a symlink while being read; will retry' };
    default:
      return { path, message: `cannot read (${code ?? (error as Error).message})` };
  }
}
