/**
 * The transition: applies a batch of changes to a root, one path at a time, in the given order.
 *
 * Invariants (what makes interrupting ksync at any instant safe):
 * 1. A change is applied only if the disk still holds its `old` state, judged against the stat
 *    cache (lstat type, mode, size, mtime, ctime and inode equal to what the last scan recorded
 *    for `old`; a symlink's target is re-read). Otherwise the change is skipped with a problem
 *    ("modified since scan; will retry"): the next cycle rescans and reconciles the new edit.
 *    The check is not atomic with the write that follows (POSIX has no compare-and-swap on
 *    paths); the window is the few syscalls between the check and the rename, and the worst
 *    outcome is that an edit made inside that window is replaced, as in Mutagen.
 * 2. New content is first written completely into a temp file (`.ksync-tmp-*`) in the target
 *    directory (same filesystem), with its mode and owner already set, and only then moved into
 *    place: `rename` over an existing file (no instant where the path is missing), or `link` +
 *    `unlink` for a creation, which fails with EEXIST instead of clobbering a file that appeared
 *    meanwhile (Node has no renameat2(RENAME_NOREPLACE)). So at every instant each path holds
 *    either its old or its new content, never a partial file; temp files are invisible to scans
 *    and are deleted when an endpoint starts. The one exception is a type change between a
 *    directory and something else, which needs a removal first: for that instant the path is
 *    absent, which the next reconcile treats as a deletion that the new side wins.
 * 3. Directories are removed only when empty after the earlier removals of their children; any
 *    content the change list did not mention (ignored or new files) makes the removal a problem
 *    ("directory contains untracked content"). A directory the batch replaces with a file or
 *    symlink is touched only when it can go completely: before anything runs it is listed on
 *    disk, and if it holds anything the batch does not remove (ignored, unreadable or special
 *    files, or new ones), no change at or below it is applied. So a replacement that cannot
 *    finish never leaves the side with neither version. Nothing is ever removed recursively.
 * 4. Every path is resolved through `resolveConfined`: no component below the root is followed,
 *    so nothing outside the root is ever read or written.
 * 5. Every change that lands updates the stat cache from an lstat of the result, so the watcher's
 *    echo of our own write rescans to an identical record and causes no work (state-based echo
 *    suppression, no time windows).
 * 6. Final files are never hard links to other files: staged content is renamed into place when
 *    this batch needs it once, and copied otherwise (a chmod on one name must not change another).
 *    A file that already has other names (a hard link made on that side, perhaps to a file
 *    outside the root) is never written in place either: its name is replaced, so the other
 *    names keep their content and mode.
 * 7. A directory the batch creates (below the root, where nothing was) is built under a temp name
 *    beside its final path, and everything the batch creates inside it is written there; it is
 *    renamed into place as soon as the batch moves past its subtree (changes come in pre-order),
 *    or at the end of the batch. So a new directory appears complete, and the watcher sees one
 *    new directory instead of every file landing in it (chokidar re-reads a watched directory on
 *    each event in it: a third of the agent's time in a first sync). rename(2) of a directory
 *    succeeds only onto an absent path or an empty directory, so it never replaces content: an
 *    empty directory made meanwhile is replaced by ours, which is a directory too. When the
 *    rename fails (something else appeared there), the temp directory (only ours, invisible to
 *    scans) is removed and every change inside it is reported instead of applied. A crash before
 *    the rename leaves only the temp directory, which the next start removes; nothing of it was
 *    reported applied, so the next cycle sends it again.
 */
import {
  chmodSync,
  chownSync,
  lchownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  type BigIntStats,
  type Dirent,
} from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import {
  ROOT,
  TEMP_PREFIX,
  baseName,
  entriesEqual,
  isWithin,
  joinPath,
  parentPath,
  ContentStreamReader,
  type ApplyContent,
  type ApplyResult,
  type Change,
  type Entry,
  type FileEntry,
  type IgnoreMatcher,
  type Problem,
} from '@ksync/core';
import { DigestMismatchError, copyVerified, tempName, writeVerified } from './content-io.ts';
import { expandDelta } from './delta-io.ts';
import { resolveConfined, type ConfinedPath } from './safe-path.ts';
import { symlinkStaysInside } from './scan.ts';
import type { Staging } from './staging.ts';
import { hashFile } from './hash.ts';
import { makeRecord, recordMatches, wallClockNs, type StatCache } from './stat-cache.ts';

/** Owner given to what ksync creates. */
export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

/** What `transition` works on. */
export interface TransitionContext {
  readonly root: string;
  readonly cache: StatCache;
  readonly staging: Staging;
  readonly matcher: IgnoreMatcher;
  /** Owner for created paths; default: the parent directory's owner. */
  readonly owner?: Owner | undefined;
}

/** A change that cannot land; carries the problem text. */
class Skip extends Error {}

const isRoot = process.getuid?.() === 0;

/** Content of one change as it arrives in the apply's content stream. */
interface Incoming {
  /** The content, or undefined when the sender could not provide it. */
  readonly chunks: AsyncIterable<Uint8Array> | undefined;
  /** `chunks` are block-delta instructions against the file at the path (delta-io.ts). */
  readonly delta: boolean;
  /** Set once something started reading `chunks`. */
  taken: boolean;
}

/**
 * Applies `changes` in order; each one lands completely or is reported and skipped. `content`
 * carries new content in change order, so each file is written straight into a temp file beside
 * its target as it arrives (verified against its digest) and moved into place: no staging copy.
 */
export async function transition(
  ctx: TransitionContext,
  changes: readonly Change[],
  content?: ApplyContent,
): Promise<ApplyResult> {
  const applied: Change[] = [];
  const problems: Problem[] = [];
  // How many changes still need each digest, so the last one may consume the staged file.
  const uses = new Map<string, number>();
  for (const change of changes) {
    if (change.new?.kind === 'file') {
      uses.set(change.new.digest, (uses.get(change.new.digest) ?? 0) + 1);
    }
  }
  const reader = content === undefined ? undefined : new ContentStreamReader(content.stream);
  const carried = new Set(content?.indexes ?? []);
  /** Why the content stream stopped, once it did: every later content change fails with it. */
  let broken: string | undefined;
  const stuck = stuckDirectories(ctx, changes);
  const dirs = new NewDirectories(ctx);
  try {
    for (const [index, change] of changes.entries()) {
      dirs.finishOutside(change.path);
      let incoming: Incoming | undefined;
      if (reader !== undefined && carried.has(index) && change.new?.kind === 'file') {
        try {
          if (broken === undefined) {
            const file = await reader.nextFile(change.new.size);
            incoming = { chunks: file?.chunks, delta: file?.delta === true, taken: false };
          }
        } catch (error) {
          broken = describeError(error);
        }
        if (broken !== undefined) {
          problems.push({ path: change.path, message: `content did not arrive (${broken})` });
          uses.set(change.new.digest, (uses.get(change.new.digest) ?? 1) - 1);
          continue;
        }
      }
      const blocker = stuck.find((s) => isWithin(change.path, s.path));
      try {
        if (blocker !== undefined) {
          problems.push({
            path: change.path,
            message:
              change.path === blocker.path
                ? `directory holds ${JSON.stringify(blocker.untracked)}, which is not synced (ignored, unreadable or special); nothing in it was changed`
                : `left alone: directory ${blocker.path} holds content that is not synced`,
          });
          continue;
        }
        await applyOne(ctx, change, { uses, incoming, dirs });
        applied.push(change);
      } catch (error) {
        if (error instanceof Skip) problems.push({ path: change.path, message: error.message });
        else problems.push({ path: change.path, message: describeError(error) });
      } finally {
        if (change.new?.kind === 'file') {
          const left = (uses.get(change.new.digest) ?? 1) - 1;
          uses.set(change.new.digest, left);
          // Content that arrived for a change that could not take it, and that a later change
          // in this batch needs, is kept for it.
          if (incoming?.chunks !== undefined && !incoming.delta && !incoming.taken && left > 0) {
            await ctx.staging
              .stage({ digest: change.new.digest, size: change.new.size, chunks: incoming.chunks })
              .catch(() => undefined);
          }
        }
      }
    }
  } finally {
    dirs.finishOutside(undefined);
    // A stream that broke, or carries bytes after its last file, is cancelled: every change
    // above stands (each content was verified) or was reported.
    if (reader !== undefined) await reader.finish().catch(() => reader.cancel());
  }
  if (dirs.failed.length === 0) return { applied, problems };
  // Directories that could not be moved into place took their content with them (invariant 7).
  const landed = applied.filter((c) => {
    const failed = dirs.failed.find((f) => isWithin(c.path, f.path));
    if (failed !== undefined) problems.push({ path: c.path, message: failed.message });
    return failed === undefined;
  });
  return { applied: landed, problems };
}

/**
 * The directories a batch is building under temp names (invariant 7), by final sync path. At most
 * one per level of the tree is open at a time, since changes come in pre-order.
 */
class NewDirectories {
  readonly #ctx: TransitionContext;
  /** Final sync path → the sync path of its temp name (a sibling), for directories being built. */
  readonly #building = new Map<string, string>();
  /** Directories that could not be moved into place, and why. */
  readonly failed: { path: string; message: string }[] = [];

  constructor(ctx: TransitionContext) {
    this.#ctx = ctx;
  }

  /**
   * Resolves `path` confined to the root, as `resolveConfined` does; a path inside a directory
   * being built resolves to its place under the temp name (every component still checked).
   */
  resolve(path: string): ConfinedPath {
    for (const [final, temp] of this.#building) {
      if (path !== final && isWithin(path, final)) {
        const resolved = resolveConfined(this.#ctx.root, temp + path.slice(final.length));
        return resolved.ok ? { ...resolved, path } : resolved;
      }
    }
    return resolveConfined(this.#ctx.root, path);
  }

  /** True when `path` is inside (or is) a directory being built. */
  building(path: string): boolean {
    for (const final of this.#building.keys()) if (isWithin(path, final)) return true;
    return false;
  }

  /** Creates the temp directory for new directory `path`; returns its absolute path. */
  start(path: string): string {
    const temp = joinPath(parentPath(path), tempName(TEMP_PREFIX));
    const resolved = resolveConfined(this.#ctx.root, temp);
    if (!resolved.ok) throw new Skip(resolved.problem.message);
    mkdirSync(resolved.absolute, { mode: 0o755 });
    this.#building.set(path, temp);
    return resolved.absolute;
  }

  /** Moves into place every directory being built that `path` is not inside (all: undefined). */
  finishOutside(path: string | undefined): void {
    for (const [final, temp] of this.#building) {
      if (path !== undefined && isWithin(path, final)) continue;
      this.#building.delete(final);
      this.#finish(final, temp);
    }
  }

  #finish(final: string, temp: string): void {
    const from = resolveConfined(this.#ctx.root, temp);
    const to = resolveConfined(this.#ctx.root, final);
    try {
      if (!from.ok) throw new Skip(from.problem.message);
      if (!to.ok) throw new Skip(to.problem.message);
      renameSync(from.absolute, to.absolute);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const message =
        code === 'EEXIST' || code === 'ENOTEMPTY' || code === 'ENOTDIR' || code === 'EISDIR'
          ? 'path appeared since scan; will retry'
          : error instanceof Skip
            ? error.message
            : describeError(error);
      // Only ours is removed: the temp directory holds nothing but what this batch wrote. If
      // that fails too, the next start removes it (it is a temp name).
      try {
        if (from.ok) rmSync(from.absolute, { recursive: true, force: true });
      } catch {
        // Left for the next start.
      }
      this.#ctx.cache.delete(final);
      this.failed.push({ path: final, message });
    }
  }
}

/**
 * Directories the batch would replace with a file or symlink that hold something on disk the
 * batch does not remove, each with the first such name (as a sync path). Nothing is followed.
 */
function stuckDirectories(
  ctx: TransitionContext,
  changes: readonly Change[],
): { path: string; untracked: string }[] {
  const removed = new Set(
    changes
      .filter(
        (c) => c.new === undefined || (c.old?.kind === 'directory' && c.new.kind !== 'directory'),
      )
      .map((c) => c.path),
  );
  const stuck: { path: string; untracked: string }[] = [];
  for (const change of changes) {
    if (change.old?.kind !== 'directory' || change.new === undefined) continue;
    if (change.new.kind === 'directory') continue;
    if (stuck.some((s) => isWithin(change.path, s.path))) continue;
    const resolved = resolveConfined(ctx.root, change.path);
    if (!resolved.ok) continue; // applyOne reports it
    const untracked = firstUntracked(resolved.absolute, change.path, removed);
    if (untracked !== undefined) stuck.push({ path: change.path, untracked });
  }
  return stuck;
}

/** The first path below the directory `absolute` (sync path `path`) that is not in `removed`. */
function firstUntracked(
  absolute: string,
  path: string,
  removed: ReadonlySet<string>,
): string | undefined {
  let names: Dirent[];
  try {
    names = readdirSync(absolute, { withFileTypes: true });
  } catch {
    return undefined; // gone or unreadable: the per-change checks report it
  }
  for (const dirent of names) {
    const child = path === ROOT ? dirent.name : `${path}/${dirent.name}`;
    if (!removed.has(child)) return child;
    if (dirent.isDirectory()) {
      const below = firstUntracked(`${absolute}/${dirent.name}`, child, removed);
      if (below !== undefined) return below;
    }
  }
  return undefined;
}

async function applyOne(
  ctx: TransitionContext,
  change: Change,
  batch: {
    readonly uses: Map<string, number>;
    readonly incoming: Incoming | undefined;
    readonly dirs: NewDirectories;
  },
): Promise<void> {
  const { uses, incoming, dirs } = batch;
  const { path } = change;
  if (path !== ROOT) {
    if (baseName(path).startsWith(TEMP_PREFIX))
      throw new Skip('name is reserved for ksync temp files');
  }
  const resolved = dirs.resolve(path);
  if (!resolved.ok) throw new Skip(resolved.problem.message);
  const absolute = resolved.absolute;
  const newIsDirectory = change.new?.kind === 'directory';
  if (
    path !== ROOT &&
    ctx.matcher.ignores(path, newIsDirectory || change.old?.kind === 'directory')
  ) {
    throw new Skip('path is ignored on this side');
  }
  if (change.new?.kind === 'symlink' && !symlinkStaysInside(path, change.new.target)) {
    throw new Skip('symlink points outside the sync root; not written');
  }

  const checkedAt = wallClockNs();
  const current = await checkExpected(ctx, path, absolute, change.old, change.new);
  const { old } = change;
  const next = change.new;

  if (entriesEqual(old, next) && old !== undefined) return;

  if (next === undefined) {
    // Removal: the check passed, so the disk holds exactly `old`. A file whose content a later
    // change in this batch still needs (the other half of a rename) moves into staging instead.
    const needed = old?.kind === 'file' && (uses.get(old.digest) ?? 0) > 0;
    if (!needed || !(await ctx.staging.adopt(old.digest, absolute))) removeExisting(absolute, old);
    ctx.cache.delete(path);
    return;
  }

  if (next.kind === 'directory') {
    if (current?.isDirectory()) {
      // Created meanwhile as a directory, or already one: same state, nothing to write.
      recordPath(ctx, path, absolute, next);
      return;
    }
    if (old === undefined && path !== ROOT && !dirs.building(path)) {
      // Built under a temp name and moved into place later (invariant 7).
      const temp = dirs.start(path);
      chmodSync(temp, 0o755);
      setOwner(temp, () => createdOwner(ctx, absolute), false);
      recordPath(ctx, path, temp, next);
      return;
    }
    if (old !== undefined) removeExisting(absolute, old);
    ctx.cache.delete(path);
    try {
      if (path === ROOT) mkdirSync(absolute, { recursive: true, mode: 0o755 });
      else mkdirSync(absolute, { mode: 0o755 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (!lstatSync(absolute).isDirectory())
        throw new Skip('path appeared since scan; will retry');
    }
    chmodSync(absolute, 0o755);
    setOwner(absolute, () => createdOwner(ctx, absolute), false);
    recordPath(ctx, path, absolute, next);
    return;
  }

  if (
    next.kind === 'file' &&
    old?.kind === 'file' &&
    old.digest === next.digest &&
    (current?.nlink ?? 1n) <= 1n
  ) {
    // Only the executable bit changed: chmod in place after the check. A file with other names
    // (hard links, which may be outside the root) is never changed in place, since the chmod
    // would change every name: it is copied and renamed into place like new content (below).
    chmodSync(absolute, fileMode(Number(current?.mode ?? 0o644), next.executable));
    if (current !== undefined)
      recordPath(ctx, path, absolute, next, { stats: current, at: checkedAt });
    return;
  }

  // Build the new object under a temp name in the same directory, then move it into place.
  const directory = absolute.slice(0, absolute.lastIndexOf('/'));
  const temp = `${directory}/${tempName(TEMP_PREFIX)}`;
  // Where the temp file came from in staging, if it was moved out of it (put back on failure).
  let fromStaging: string | undefined;
  if (next.kind === 'file') {
    fromStaging = await prepareFile(ctx, {
      temp,
      absolute,
      entry: next,
      current,
      uses,
      incoming,
      dirs,
    });
  } else {
    symlinkSync(next.target, temp);
    setOwner(temp, () => ownerOf(current) ?? createdOwner(ctx, absolute), true);
  }
  // What we wrote, and from when on its content is known: a write by someone else after the move
  // either changes these stats or falls in the racy window (see stat-cache.ts).
  const writtenAt = wallClockNs();
  const written = lstatSync(temp, { bigint: true });
  try {
    if (old === undefined) {
      // A creation needs no re-check: `link` fails when anything appeared at the path meanwhile.
      linkNoClobber(temp, absolute);
    } else {
      // Re-check right before the move: preparing content may have taken a while.
      await checkExpected(ctx, path, absolute, old, next);
      if (old.kind === 'directory') {
        removeExisting(absolute, old);
        ctx.cache.delete(path);
        linkNoClobber(temp, absolute);
      } else {
        renameSync(temp, absolute);
      }
    }
  } catch (error) {
    await discardTemp(ctx, temp, next.kind === 'file' ? next.digest : '', fromStaging);
    throw error;
  }
  recordPath(ctx, path, absolute, next, { stats: written, at: writtenAt });
}

/** Removes a temp file, or moves it back into staging when that is where it came from. */
async function discardTemp(
  ctx: TransitionContext,
  temp: string,
  digest: string,
  fromStaging: string | undefined,
): Promise<void> {
  if (fromStaging !== undefined) {
    try {
      await rename(temp, fromStaging);
      ctx.staging.restore(digest, fromStaging);
      return;
    } catch {
      // Fall through: the content will be requested again next cycle.
    }
  }
  await unlink(temp).catch(() => undefined);
}

/**
 * Checks that the disk still holds `old` at `path` and returns the current lstat (undefined when
 * the path is absent). Throws `Skip` when it does not. A file whose record is racy (its stat alone
 * cannot prove its content) is re-hashed.
 */
async function checkExpected(
  ctx: TransitionContext,
  path: string,
  absolute: string,
  old: Entry | undefined,
  next: Entry | undefined,
): Promise<BigIntStats | undefined> {
  // No exception for an absent path: a creation is the common case, and building an error
  // with its stack cost more than the lstat itself.
  const current = lstatSync(absolute, { bigint: true, throwIfNoEntry: false });
  if (old === undefined) {
    if (current === undefined) return undefined;
    if (next?.kind === 'directory' && current.isDirectory()) return current;
    throw new Skip('path appeared since scan; will retry');
  }
  if (current === undefined) throw new Skip('removed since scan; will retry');
  const record = ctx.cache.get(path);
  if (!record || !entriesEqual(record.entry, old) || !recordMatches(record, current)) {
    throw new Skip('modified since scan; will retry');
  }
  if (old.kind === 'symlink' && readlinkSync(absolute) !== old.target) {
    throw new Skip('modified since scan; will retry');
  }
  if (old.kind === 'file' && record.racy && (await hashFile(absolute, current)) !== old.digest) {
    throw new Skip('modified since scan; will retry');
  }
  return current;
}

/** Removes a checked file, symlink or (empty) directory. */
function removeExisting(absolute: string, old: Entry | undefined): void {
  if (old === undefined) return;
  if (old.kind !== 'directory') {
    unlinkSync(absolute);
    return;
  }
  try {
    rmdirSync(absolute);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') {
      throw new Skip('directory contains untracked content; not removed');
    }
    throw error;
  }
}

/** `link` + `unlink`: creates `target` from `temp` only if nothing exists there. */
function linkNoClobber(temp: string, target: string): void {
  try {
    linkSync(temp, target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new Skip('path appeared since scan; will retry');
    }
    throw error;
  }
  unlinkSync(temp);
}

/**
 * Fills `temp` with the entry's content (staged or a verified local copy), mode and owner.
 * Returns the staged path when the staged file itself was moved to `temp`.
 */
async function prepareFile(
  ctx: TransitionContext,
  options: {
    readonly temp: string;
    /** The target: a delta's base (the check before this proved it holds the change's `old`). */
    readonly absolute: string;
    readonly entry: FileEntry;
    readonly current: BigIntStats | undefined;
    readonly uses: Map<string, number>;
    readonly incoming: Incoming | undefined;
    readonly dirs: NewDirectories;
  },
): Promise<string | undefined> {
  const { temp, entry, current, incoming } = options;
  const staged = ctx.staging.get(entry.digest);
  let ready = false;
  let moved: string | undefined;
  if (incoming !== undefined) {
    if (incoming.chunks === undefined) {
      throw new Skip('the other side could not read it (changed or gone); will retry');
    }
    incoming.taken = true;
    await writeVerified({
      absolute: temp,
      chunks: incoming.delta ? expandDelta(options.absolute, incoming.chunks) : incoming.chunks,
      digest: entry.digest,
      size: entry.size,
    });
    ready = true;
  } else if (staged !== undefined) {
    if ((options.uses.get(entry.digest) ?? 0) <= 1) {
      try {
        await rename(staged, temp);
        ctx.staging.forget(entry.digest);
        ready = true;
        moved = staged;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
      }
    }
    if (!ready) {
      await copyVerified({ from: staged, to: temp, digest: entry.digest, size: entry.size });
      ready = true;
    }
  } else {
    // Dedup: any file in the root whose recorded content matches and whose stat is unchanged.
    for (const source of ctx.cache.pathsWithDigest(entry.digest)) {
      const resolved = options.dirs.resolve(source);
      const record = ctx.cache.get(source);
      if (!resolved.ok || !record) continue;
      try {
        if (!recordMatches(record, lstatSync(resolved.absolute, { bigint: true }))) continue;
        await copyVerified({
          from: resolved.absolute,
          to: temp,
          digest: entry.digest,
          size: entry.size,
        });
        ready = true;
        break;
      } catch {
        await unlink(temp).catch(() => undefined);
      }
    }
  }
  if (!ready) throw new Skip(`content ${entry.digest.slice(0, 12)} is not staged; will retry`);
  try {
    const base = current?.isFile() ? Number(current.mode) : 0o644;
    chmodSync(temp, fileMode(base, entry.executable));
    setOwner(
      temp,
      () => (current?.isFile() ? ownerOf(current) : undefined) ?? createdOwner(ctx, temp),
      false,
    );
  } catch (error) {
    await discardTemp(ctx, temp, entry.digest, moved);
    throw error;
  }
  return moved;
}

/**
 * A file mode: the permission bits of `base` without its exec bits, plus exec bits wherever
 * there is a read bit when `executable` (so 0644 becomes 0755 and 0600 becomes 0700).
 */
export function fileMode(base: number, executable: boolean): number {
  const plain = base & 0o7666 & ~0o6000;
  return executable ? plain | ((plain & 0o444) >> 2) : plain;
}

/** The owner for something created at `absolute`: the option, or its parent directory's owner. */
function createdOwner(ctx: TransitionContext, absolute: string): Owner {
  if (ctx.owner) return ctx.owner;
  const parent = lstatSync(absolute.slice(0, absolute.lastIndexOf('/')) || '/');
  return { uid: parent.uid, gid: parent.gid };
}

/** The owner of an existing path, if there is one. */
function ownerOf(stats: BigIntStats | undefined): Owner | undefined {
  return stats && { uid: Number(stats.uid), gid: Number(stats.gid) };
}

/**
 * chown (lchown for symlinks) when we are root and the owner differs. The owner is asked for
 * only then: finding it costs an lstat of the parent, once per file created.
 */
function setOwner(absolute: string, ownerFor: () => Owner, symlink: boolean): void {
  if (!isRoot) return;
  const owner = ownerFor();
  const stats = lstatSync(absolute);
  if (stats.uid === owner.uid && stats.gid === owner.gid) return;
  if (symlink) lchownSync(absolute, owner.uid, owner.gid);
  else chownSync(absolute, owner.uid, owner.gid);
}

/**
 * Records what now exists at `path` (an lstat of the result) as `entry` in the stat cache. For a
 * file, `known` is the object whose content is known to be `entry`, and since when: if the path
 * no longer shows that object's size and mtime, someone wrote it after us, and it is left
 * unrecorded so that the next scan hashes it (taking the stat after such a write for our own
 * echo would lose that edit).
 */
function recordPath(
  ctx: TransitionContext,
  path: string,
  absolute: string,
  entry: Entry,
  known?: { readonly stats: BigIntStats; readonly at: bigint },
): void {
  const stats = lstatSync(absolute, { bigint: true });
  if (path !== ROOT && ctx.cache.get(parentPath(path))?.entry.kind !== 'directory') {
    // The parent is unknown to the cache (not scanned yet); the next scan records the path.
    return;
  }
  if (
    known !== undefined &&
    (stats.ino !== known.stats.ino ||
      stats.size !== known.stats.size ||
      stats.mtimeNs !== known.stats.mtimeNs)
  ) {
    ctx.cache.delete(path);
    return;
  }
  ctx.cache.set(path, makeRecord(entry, stats, known?.at ?? wallClockNs()));
}

function describeError(error: unknown): string {
  if (error instanceof DigestMismatchError) {
    return 'changed on the other side while it was sent; will retry';
  }
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied; will retry';
  if (code === 'ENOSPC') return 'no space left on device; will retry';
  return `failed: ${(error as Error).message}`;
}
