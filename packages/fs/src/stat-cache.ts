/**
 * The stat cache: for every path the last scan (or apply) saw, the entry plus the lstat facts it
 * was derived from. It serves three purposes (as Mutagen's cache.proto does):
 * 1. a file whose (size, mtime, ctime, inode, mode) are unchanged is not re-hashed;
 * 2. it is the "expected on-disk state" that apply checks before touching a path, so a change
 *    planned from an older scan never overwrites a newer edit;
 * 3. a digest → paths index lets the endpoint find local copies of content (renames, copies,
 *    branch switches move no bytes).
 * It also keeps each directory's child names (so incremental scans can diff listings and drop
 * vanished subtrees without walking every key) and the current per-path problems. Its file
 * records also outlive the process (stat-cache-file.ts), for purpose 1 only.
 */
import type { BigIntStats } from 'node:fs';
import { ROOT, baseName, joinPath, parentPath, type Entry, type Problem } from '@ksync/core';

/** What the cache remembers about one path. */
export interface StatRecord {
  readonly entry: Entry;
  readonly size: number;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly ino: bigint;
  readonly mode: number;
  /**
   * "Racily clean", as git calls it: the file was observed so soon after its mtime that a later
   * rewrite of the same size could still carry the same mtime (and ctime), so its stat alone no
   * longer proves its content. Such a file is re-hashed before its record is trusted.
   */
  readonly racy: boolean;
}

/** Looks up what a previous scan recorded at a path (a `StatCache`, or one read from disk). */
export interface StatLookup {
  get(path: string): StatRecord | undefined;
}

/**
 * How long after a file's mtime a rewrite may still get the same timestamp. Kernels stamp files
 * from a coarse clock that ticks every 1 to 10 ms (HZ 1000 to 100); 20 ms leaves room for that
 * and for `Date.now()`'s millisecond resolution.
 */
export const RACY_WINDOW_NS = 20_000_000n;

/** The wall clock in nanoseconds (millisecond resolution), comparable with file timestamps. */
export function wallClockNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** File type bits of a mode. */
export const S_IFMT = 0o170000;

/**
 * Builds a record from an lstat result and the entry derived from it. `observedAtNs` is when the
 * content was known to be `entry` (taken before the lstat, or before our own write was moved into
 * place); it decides whether the record is racy.
 */
export function makeRecord(entry: Entry, stats: BigIntStats, observedAtNs: bigint): StatRecord {
  return {
    entry,
    size: Number(stats.size),
    mtimeNs: stats.mtimeNs,
    ctimeNs: stats.ctimeNs,
    ino: stats.ino,
    mode: Number(stats.mode),
    racy: entry.kind === 'file' && isRacy(stats.mtimeNs, stats.ctimeNs, observedAtNs),
  };
}

/**
 * Whether a file with these timestamps, observed at `observedAtNs`, is racily clean.
 *
 * A write (or truncate) sets mtime and ctime to one and the same current time. So when the
 * recorded mtime and ctime differ, no later write can leave the file with both of them as
 * recorded: the stat alone proves the content, however recent. They differ for a file a
 * rename, link or chmod touched after its last write in a later clock tick, which is what apply
 * does to every file it writes (on kernels with fine-grained timestamps, 6.13 and later, the
 * lstat apply takes of the temp file before the rename makes the rename's ctime always a later
 * tick). When they are equal, the last write is the last change, and a rewrite within the same
 * tick would keep both: racy while the observation is within the window of the mtime.
 */
export function isRacy(mtimeNs: bigint, ctimeNs: bigint, observedAtNs: bigint): boolean {
  return mtimeNs === ctimeNs && observedAtNs - mtimeNs < RACY_WINDOW_NS;
}

/**
 * True when `stats` shows the same object the record was made from. Directories compare type and
 * inode only (their mtime moves with every child); files and symlinks compare everything, which
 * is what makes "unchanged since scan" a cheap check without re-hashing.
 */
export function recordMatches(record: StatRecord, stats: BigIntStats): boolean {
  const mode = Number(stats.mode);
  if ((mode & S_IFMT) !== (record.mode & S_IFMT) || stats.ino !== record.ino) return false;
  if (record.entry.kind === 'directory') return true;
  return (
    mode === record.mode &&
    Number(stats.size) === record.size &&
    stats.mtimeNs === record.mtimeNs &&
    stats.ctimeNs === record.ctimeNs
  );
}

/** The per-endpoint cache of records, directory listings, digests and problems. */
export class StatCache {
  readonly #records = new Map<string, StatRecord>();
  readonly #children = new Map<string, Set<string>>();
  /**
   * Digest → the path holding it, or the set of paths when several do. Nearly every digest has
   * one path, and a `Set` per digest cost ~15 MiB of heap with 100,000 files.
   */
  readonly #byDigest = new Map<string, string | Set<string>>();
  readonly #problems = new Map<string, Problem>();
  #generation = 0;

  /** The record at `path`, if any. */
  get(path: string): StatRecord | undefined {
    return this.#records.get(path);
  }

  /** Number of recorded paths. */
  get size(): number {
    return this.#records.size;
  }

  /** Counts changes to the records, so that an owner can tell whether it saved the latest. */
  get generation(): number {
    return this.#generation;
  }

  /** Every recorded path and its record, parents before children. */
  records(): IterableIterator<[string, StatRecord]> {
    return this.#records.entries();
  }

  /** Records `path` (its parent must already be recorded as a directory, except for the root). */
  set(path: string, record: StatRecord): void {
    this.#generation++;
    const old = this.#records.get(path);
    if (old?.entry.kind === 'file') this.#unindex(old.entry.digest, path);
    if (old?.entry.kind === 'directory' && record.entry.kind !== 'directory') {
      this.deleteChildren(path);
    }
    this.#records.set(path, record);
    this.#problems.delete(path);
    if (record.entry.kind === 'file') this.#index(record.entry.digest, path);
    if (record.entry.kind === 'directory' && !this.#children.has(path)) {
      this.#children.set(path, new Set());
    }
    if (path !== ROOT) this.#children.get(parentPath(path))?.add(baseName(path));
  }

  /** Forgets `path` and everything below it (and their problems). */
  delete(path: string): void {
    this.#generation++;
    this.deleteChildren(path);
    this.#children.delete(path);
    const old = this.#records.get(path);
    if (old?.entry.kind === 'file') this.#unindex(old.entry.digest, path);
    this.#records.delete(path);
    this.#problems.delete(path);
    if (path !== ROOT) this.#children.get(parentPath(path))?.delete(baseName(path));
  }

  /** Forgets everything below directory `path`, keeping `path` itself. */
  deleteChildren(path: string): void {
    const names = this.#children.get(path);
    if (!names) return;
    for (const name of [...names]) this.delete(joinPath(path, name));
    // Problems for names that never made it into the records (unreadable entries).
    if (this.#problems.size > 0) {
      const prefix = path === ROOT ? '' : `${path}/`;
      for (const key of [...this.#problems.keys()]) {
        if (key !== path && key.startsWith(prefix)) this.#problems.delete(key);
      }
    }
  }

  /** Child names recorded under directory `path`. */
  children(path: string): ReadonlySet<string> {
    return this.#children.get(path) ?? new Set();
  }

  /** Paths whose recorded content is `digest`. */
  pathsWithDigest(digest: string): readonly string[] {
    const paths = this.#byDigest.get(digest);
    if (paths === undefined) return [];
    return typeof paths === 'string' ? [paths] : [...paths];
  }

  /** Records a problem at a path that is therefore absent from the snapshot. */
  setProblem(problem: Problem): void {
    this.#problems.set(problem.path, problem);
  }

  /** Clears a problem (the path was rescanned without one). */
  clearProblem(path: string): void {
    this.#problems.delete(path);
  }

  /** Clears the problems of `path`'s direct children (before its listing is re-read). */
  clearChildProblems(path: string): void {
    if (this.#problems.size === 0) return;
    for (const key of [...this.#problems.keys()]) {
      if (key !== ROOT && key !== path && parentPath(key) === path) this.#problems.delete(key);
    }
  }

  /** Current problems. */
  problems(): Problem[] {
    return [...this.#problems.values()];
  }

  /** Forgets everything (before a full rescan; hashes survive via the previous cache). */
  clear(): void {
    this.#generation++;
    this.#records.clear();
    this.#children.clear();
    this.#byDigest.clear();
    this.#problems.clear();
  }

  /** A fresh snapshot of every recorded entry. */
  snapshot(): Map<string, Entry> {
    const snapshot = new Map<string, Entry>();
    for (const [path, record] of this.#records) snapshot.set(path, record.entry);
    return snapshot;
  }

  #index(digest: string, path: string): void {
    const paths = this.#byDigest.get(digest);
    if (paths === undefined) this.#byDigest.set(digest, path);
    else if (typeof paths !== 'string') paths.add(path);
    else if (paths !== path) this.#byDigest.set(digest, new Set([paths, path]));
  }

  #unindex(digest: string, path: string): void {
    const paths = this.#byDigest.get(digest);
    if (paths === path) this.#byDigest.delete(digest);
    else if (typeof paths !== 'string' && paths?.delete(path) === true && paths.size === 1) {
      this.#byDigest.set(digest, paths.values().next().value as string);
    }
  }
}
