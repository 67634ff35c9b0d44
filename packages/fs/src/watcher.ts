/**
 * Watching: chokidar 6 behind a small interface that only says "these paths may have changed".
 * Event types are unreliable hints (a rename-save shows up as unlink+add, a create as change), so
 * they are dropped: the engine rescans dirty paths and decides from state. That also makes
 * editor save dances (vim's rename to `file~` + `4913` probe, JetBrains `___jb_tmp___` renames,
 * Emacs `.#file` lock symlinks) converge to one content change, since their temp names are in
 * the default ignores and the final state is all that is compared.
 *
 * When inotify runs out of watches (ENOSPC) or descriptors (EMFILE), the directory that failed is
 * degraded to polling: its subtree is lstat'ed every `pollIntervalMs` and differences are
 * reported as dirty paths, with one warning telling the user how to raise the limit. Any other
 * watcher error is reported as an overflow (the endpoint then does a full rescan).
 */
import { existsSync, lstatSync, readdirSync } from 'node:fs';
import { watch, type FSWatcher } from 'chokidar';
import { ROOT, TEMP_PREFIX, baseName, isWithin, joinPath, parentPath } from '@ksync/core';

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

  const toSyncPath = (absolute: string): string | undefined => {
    if (absolute === root) return ROOT;
    if (!absolute.startsWith(`${root}/`)) return undefined;
    return absolute.slice(root.length + 1);
  };

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

  const ignored = (absolute: string, stats?: { isDirectory(): boolean }): boolean => {
    const path = toSyncPath(absolute);
    if (path === undefined || path === ROOT) return false;
    if (baseName(path).startsWith(TEMP_PREFIX)) return true;
    // Without stats only file patterns can apply; chokidar asks again with stats before it
    // descends, which is when directory patterns (node_modules/, .git/) prune the subtree.
    return options.ignores(path, stats?.isDirectory() ?? false);
  };

  const startChokidar = (): FSWatcher => {
    const started = watch(root, {
      ignored,
      ignoreInitial: true,
      atomic: false,
      followSymlinks: false,
      awaitWriteFinish: false,
      persistent: true,
    });
    started.on('all', onEvent);
    started.on('error', onError);
    return started;
  };

  const onEvent = (event: string, absolute: string): void => {
    const path = toSyncPath(absolute);
    if (path === undefined) return;
    markDirty(path);
    // chokidar reports a removal only for paths it had finished adding: a file created (by our
    // own apply, say) and removed before chokidar stat'ed it produces no event at all. A removal
    // therefore also relists the parent directory, which catches such silent siblings.
    if ((event === 'unlink' || event === 'unlinkDir') && path !== ROOT) {
      markDirty(parentPath(path));
    }
  };
  const onError = (error: unknown): void => {
    const code = (error as NodeJS.ErrnoException).code;
    const failed = (error as NodeJS.ErrnoException).path;
    if ((code === 'ENOSPC' || code === 'EMFILE') && failed !== undefined) {
      degrade(failed, code);
      return;
    }
    options.onWarning(`file watcher error: ${String(error)}; rescanning everything`);
    options.onOverflow();
  };

  const degrade = (absolute: string, code: string): void => {
    let path = toSyncPath(absolute);
    if (path === undefined) return;
    try {
      if (path !== ROOT && !lstatSync(absolute).isDirectory()) path = parentPath(path);
    } catch {
      path = path === ROOT ? ROOT : parentPath(path);
    }
    for (const existing of polled.keys()) if (isWithin(path, existing)) return;
    for (const existing of [...polled.keys()])
      if (isWithin(existing, path)) polled.delete(existing);
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
      const absolute = path === ROOT ? root : `${root}/${path}`;
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

  let chokidar = startChokidar();
  // A root that does not exist yet (a first sync creates it) is waited for, and chokidar is
  // started again once it exists. chokidar alone would have to catch the root's creation from
  // its parent, which it does not when the parent is a container's root seen through the
  // agent's /proc/<pid>/root magic link (checked on the local cluster: no event at all).
  let rootTimer: NodeJS.Timeout | undefined;
  if (!existsSync(root)) {
    rootTimer = setInterval(() => {
      if (closed || !existsSync(root)) return;
      clearInterval(rootTimer);
      rootTimer = undefined;
      const old = chokidar;
      chokidar = startChokidar();
      old.close().catch(() => undefined);
      // Whatever appeared before the new watches were placed is found by one full rescan.
      options.onOverflow();
    }, pollIntervalMs);
  }

  const ready = new Promise<void>((resolve) => chokidar.once('ready', () => resolve()));
  return {
    ready,
    polledPaths: () => [...polled.keys()],
    async close() {
      closed = true;
      if (flushTimer) clearTimeout(flushTimer);
      if (pollTimer) clearInterval(pollTimer);
      clearInterval(rootTimer);
      await chokidar.close();
    },
  };
}
