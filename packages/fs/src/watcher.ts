/**
 * Watching: one inotify watch per directory (Node's `fs.watch`, not recursive) behind a small
 * interface that only says "these paths may have changed". Event types are unreliable hints (a
 * rename-save shows up as unlink+add, a create as change), so they are dropped: the engine
 * rescans dirty paths and decides from state. That also makes editor save dances (vim's rename
 * to `file~` + `4913` probe, JetBrains `___jb_tmp___` renames, Emacs `.#file` lock symlinks)
 * converge to one content change, since their temp names are in the default ignores and the
 * final state is all that is compared.
 *
 * Why not chokidar: with 100,000 files it lstat's every file and keeps a record of each, which
 * left a process 260 MiB bigger (9 MiB of it live heap, the rest the crawl's allocation peak that
 * the process never gives back); watching only the 1,000 directories costs 6 MiB and a quarter
 * of a second. Directories are all inotify needs: a directory's watch reports every create,
 * delete, rename, write and chmod of its entries.
 *
 * Guarantees, and how they are kept:
 * - every directory under the root that is not ignored is watched, and no ignored one is: the
 *   crawl asks `ignores(path, true)` before it places a watch or descends;
 * - an event in a watched directory marks `directory/name` dirty; a name that appears as a
 *   directory gets its watches (and its subdirectories') placed at once, and each directory
 *   watched after the start is marked dirty once its watch is in place, so whatever was created
 *   in it before (a file written right after its `mkdir`) is found by the rescan of its listing;
 * - a name that stops being a directory (deleted, moved away, replaced) drops the watches of its
 *   whole subtree, so a directory moved within the root is watched under its new path only;
 * - the root is watched itself; its removal closes everything and waits for it to appear again
 *   (as a root that does not exist yet at the start is waited for), then reports an overflow.
 *
 * When inotify runs out of watches (ENOSPC) or descriptors (EMFILE), the directory that failed is
 * degraded to polling: its subtree is lstat'ed every `pollIntervalMs` and differences are
 * reported as dirty paths, with one warning telling the user how to raise the limit. Any other
 * watcher error is reported as an overflow (the endpoint then does a full rescan). The kernel's
 * own queue overflow (IN_Q_OVERFLOW) never reaches JavaScript: libuv drops events without a watch
 * descriptor. The endpoint's periodic full rescan is the net for that.
 */
import { existsSync, lstatSync, readdirSync, watch, type FSWatcher } from 'node:fs';
import { ROOT, TEMP_PREFIX, baseName, isWithin, joinPath } from '@ksync/core';

/** Options for `createWatcher`. */
export interface WatcherOptions {
  /** Absolute sync root (it may not exist yet). */
  readonly root: string;
  /** True when a sync path is ignored (it is then neither watched nor descended into). */
  readonly ignores: (path: string, isDirectory: boolean) => boolean;
  /** Called with a batch of sync paths that may have changed. */
  readonly onDirty: (paths: readonly string[]) => void;
  /** Called when events may have been lost anywhere: the caller should rescan everything. */
  readonly onOverflow: () => void;
  /** Called with a human-readable warning (degraded watching, unexpected watcher errors). */
  readonly onWarning: (message: string) => void;
  /** Events are batched for this long before `onDirty` (default 10 ms). */
  readonly debounceMs?: number;
  /** How often degraded subtrees are polled (default 1000 ms). */
  readonly pollIntervalMs?: number;
}

/** A running watcher. */
export interface Watcher {
  /** Resolves once the initial crawl is done and events are being delivered. */
  readonly ready: Promise<void>;
  /** Sync paths whose subtrees are being polled because watches ran out. */
  polledPaths(): readonly string[];
  /** Stops watching and polling. */
  close(): Promise<void>;
}

/** Starts watching `options.root`. */
export function createWatcher(options: WatcherOptions): Watcher {
  const { root } = options;
  const debounceMs = options.debounceMs ?? 10;
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const pending = new Set<string>();
  let flushTimer: NodeJS.Timeout | undefined;
  let closed = false;
  const polled = new Map<string, Map<string, string>>();
  let pollTimer: NodeJS.Timeout | undefined;
  let warnedLimit = false;
  /** Watched directories by sync path, with the inode each watch was placed on. */
  const watched = new Map<string, { readonly watcher: FSWatcher; readonly ino: number }>();

  const absoluteOf = (path: string): string => (path === ROOT ? root : `${root}/${path}`);

  const flush = (): void => {
    flushTimer = undefined;
    if (closed || pending.size === 0) return;
    const paths = [...pending];
    pending.clear();
    options.onDirty(paths);
  };

  const markDirty = (path: string): void => {
    if (closed) return;
    pending.add(path);
    flushTimer ??= setTimeout(flush, debounceMs);
  };

  const isPolled = (path: string): boolean => {
    for (const base of polled.keys()) if (isWithin(path, base)) return true;
    return false;
  };

  /**
   * Places the watch of directory `path` (unless it has one) and pushes its subdirectories that
   * are not ignored onto `stack`. `announce` marks it dirty once watched (every directory that
   * appears after the initial crawl).
   */
  const watchOne = (path: string, announce: boolean, stack: string[]): void => {
    if (closed || watched.has(path) || isPolled(path)) return;
    const absolute = absoluteOf(path);
    let ino: number;
    let watcher: FSWatcher;
    try {
      ino = lstatSync(absolute).ino;
      watcher = watch(absolute, { persistent: true }, (event, name) => {
        onEvent(path, event, name);
      });
    } catch (error) {
      onWatchError(path, error);
      return;
    }
    watcher.on('error', (error) => onWatchError(path, error));
    watched.set(path, { watcher, ino });
    if (announce) markDirty(path);
    let dirents;
    try {
      dirents = readdirSync(absolute, { withFileTypes: true });
    } catch {
      return; // gone or unreadable: its parent's event or the scan's problem says so
    }
    for (const dirent of dirents) {
      if (!dirent.isDirectory() || dirent.name.startsWith(TEMP_PREFIX)) continue;
      const child = joinPath(path, dirent.name);
      if (!options.ignores(child, true)) stack.push(child);
    }
  };

  /** Watches a directory that just appeared and everything below it, at once. */
  const watchTree = (base: string): void => {
    const stack = [base];
    while (stack.length > 0) watchOne(stack.pop() as string, true, stack);
  };

  /**
   * Watches the root and everything below it, yielding to the event loop every few
   * milliseconds (a tree of many directories would otherwise stall the process). Events from
   * the directories already watched are handled meanwhile; a directory they create is watched
   * at once by `watchTree`, and the crawl skips it when it gets there.
   */
  const crawlRoot = async (): Promise<void> => {
    const stack = [ROOT];
    while (stack.length > 0 && !closed) {
      const until = performance.now() + 5;
      while (stack.length > 0 && performance.now() < until) {
        watchOne(stack.pop() as string, false, stack);
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
  };

  /** Closes the watches of `base` and of every directory below it. */
  const unwatchTree = (base: string): void => {
    if (!watched.has(base)) return; // nothing below an unwatched directory is watched
    for (const [path, { watcher }] of watched) {
      if (!isWithin(path, base)) continue;
      watcher.close();
      watched.delete(path);
    }
  };

  /**
   * One inotify event in the watched directory `directory`. A `rename` (create, delete, move)
   * of a name may have made or unmade a directory: its watches follow what is there now.
   */
  const onEvent = (directory: string, event: string, name: string | null): void => {
    if (closed) return;
    const own = watched.get(directory);
    if (own === undefined) return; // a late event of a watch closed meanwhile
    if (name === null || name.includes('\uFFFD')) {
      markDirty(directory); // no usable name: relist the directory
      return;
    }
    if (name.startsWith(TEMP_PREFIX)) return;
    if (
      event === 'rename' &&
      name === baseName(absoluteOf(directory)) &&
      !sameInode(directory, own.ino)
    ) {
      // The watched directory itself went away (IN_DELETE_SELF/IN_MOVE_SELF carry its own
      // name). Below the root its parent's watch reports it too; the root has no such parent.
      if (directory === ROOT) onRootGone();
      else markDirty(directory);
      return;
    }
    const path = joinPath(directory, name);
    if (event !== 'rename') {
      if (!options.ignores(path, false)) markDirty(path);
      return;
    }
    let isDirectory = false;
    let ino = 0;
    try {
      const stats = lstatSync(absoluteOf(path));
      isDirectory = stats.isDirectory();
      ino = stats.ino;
    } catch {
      // gone: handled as "not a directory"
    }
    if (options.ignores(path, isDirectory)) return;
    markDirty(path);
    const current = watched.get(path);
    if (current !== undefined && (!isDirectory || current.ino !== ino)) unwatchTree(path);
    if (isDirectory) watchTree(path);
  };

  const sameInode = (path: string, ino: number): boolean => {
    try {
      return lstatSync(absoluteOf(path)).ino === ino;
    } catch {
      return false;
    }
  };

  const onWatchError = (path: string, error: unknown): void => {
    if (closed) return;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return; // gone: its parent's event says so
    if (code === 'ENOSPC' || code === 'EMFILE' || code === 'ENFILE') {
      degrade(path, code);
      return;
    }
    options.onWarning(`file watcher error: ${String(error)}; rescanning everything`);
    options.onOverflow();
  };

  const degrade = (path: string, code: string): void => {
    for (const existing of polled.keys()) if (isWithin(path, existing)) return;
    for (const existing of [...polled.keys()])
      if (isWithin(existing, path)) polled.delete(existing);
    unwatchTree(path);
    polled.set(path, readSignatures(path));
    if (!warnedLimit) {
      warnedLimit = true;
      const what =
        code === 'ENOSPC' ? 'inotify watches (fs.inotify.max_user_watches)' : 'file descriptors';
      options.onWarning(
        `ran out of ${what} at ${path === ROOT ? 'the sync root' : path}; polling such directories ` +
          `every ${pollIntervalMs} ms instead. Raise the limit, e.g. ` +
          '`sysctl fs.inotify.max_user_watches=524288`, or ignore large directories.',
      );
    }
    // Anything that changed before polling started is caught by one rescan of the subtree root.
    markDirty(path);
    pollTimer ??= setInterval(poll, pollIntervalMs);
  };

  /** lstat facts of every non-ignored path in a subtree, keyed by sync path. */
  const readSignatures = (base: string): Map<string, string> => {
    const signatures = new Map<string, string>();
    const stack = [base];
    while (stack.length > 0) {
      const path = stack.pop() as string;
      const absolute = absoluteOf(path);
      let stats;
      try {
        stats = lstatSync(absolute, { bigint: true });
      } catch {
        continue;
      }
      const isDirectory = stats.isDirectory();
      if (path !== base && path !== ROOT && options.ignores(path, isDirectory)) continue;
      signatures.set(
        path,
        `${stats.mode}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}:${stats.ino}`,
      );
      if (!isDirectory) continue;
      let names: string[];
      try {
        names = readdirSync(absolute);
      } catch {
        continue;
      }
      for (const name of names) {
        if (!name.startsWith(TEMP_PREFIX)) stack.push(joinPath(path, name));
      }
    }
    return signatures;
  };

  const poll = (): void => {
    if (closed) return;
    for (const [base, before] of polled) {
      const after = readSignatures(base);
      for (const [path, signature] of after) if (before.get(path) !== signature) markDirty(path);
      for (const path of before.keys()) if (!after.has(path)) markDirty(path);
      polled.set(base, after);
    }
  };

  // A root that does not exist (yet: a first sync creates it; or any more) is waited for, and
  // watched once it exists. Watching its parent for it instead would not work when the parent
  // is a container's root seen through the agent's /proc/<pid>/root magic link (checked on the
  // local cluster with chokidar, which does that: no event at all).
  let rootTimer: NodeJS.Timeout | undefined;
  const waitForRoot = (): void => {
    rootTimer = setInterval(() => {
      if (closed || !existsSync(root)) return;
      clearInterval(rootTimer);
      rootTimer = undefined;
      // Whatever appeared before the new watches were placed is found by one full rescan.
      void crawlRoot().then(() => {
        if (!closed) options.onOverflow();
      });
    }, pollIntervalMs);
  };
  const onRootGone = (): void => {
    unwatchTree(ROOT);
    polled.clear();
    markDirty(ROOT);
    if (rootTimer === undefined) waitForRoot();
  };

  let ready = Promise.resolve();
  if (existsSync(root)) ready = crawlRoot();
  else waitForRoot();

  return {
    ready,
    polledPaths: () => [...polled.keys()],
    close() {
      closed = true;
      if (flushTimer) clearTimeout(flushTimer);
      if (pollTimer) clearInterval(pollTimer);
      clearInterval(rootTimer);
      for (const { watcher } of watched.values()) watcher.close();
      watched.clear();
      return Promise.resolve();
    },
  };
}
