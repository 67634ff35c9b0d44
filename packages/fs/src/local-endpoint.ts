/**
 * The local filesystem endpoint: one sync root on this machine (the CLI's working copy, or a
 * container root served by the node agent). It ties together the watcher (dirty paths), the
 * scanner and stat cache, staging, and the checked transition.
 *
 * Scans are incremental while the watcher has been running without losing events since the
 * previous scan; the first scan, a watcher overflow or error, a changed `.ksyncignore`, and
 * `full: true` all walk the whole tree (cheaply: the stat cache avoids re-hashing). Without a
 * watcher (`watch: false`) every scan is full.
 *
 * Scans, applies and the start-up temp cleanup run one at a time, because they share the cache.
 *
 * With `statCacheFile`, the cache's file records are saved (stat-cache-file.ts) after the first
 * full scan, after later scans and applies at most once a minute, and on close; the first full
 * scan of the next endpoint on the same root reuses their digests, so a restart hashes only what
 * changed meanwhile.
 */
import { constants, readFileSync, rmSync } from 'node:fs';
import {
  IGNORE_FILE,
  SnapshotMirror,
  UserError,
  createIgnoreMatcher,
  parseIgnoreFile,
  samePatterns,
  encodeContentStream,
  planBlockSize,
  type ApplyContent,
  type ApplyResult,
  type Change,
  type ChangeListener,
  type ContentRequest,
  type Endpoint,
  type Entry,
  type IgnoreMatcher,
  type ScanOptions,
  type ScanResult,
  type SnapshotChanges,
} from '@ksync/core';
import {
  collectChangedSince,
  type ChangedPaths,
  type ChangedSinceOptions,
} from './changed-since.ts';
import { transition, type Owner } from './apply.ts';
import { isOwnEcho } from './echo-check.ts';
import { readUnverified, readVerified } from './content-io.ts';
import { readDelta, readSignature } from './delta-io.ts';
import { hashFile, type FileHasher } from './hash.ts';
import { resolveConfined } from './safe-path.ts';
import { scanDirty, scanFull, type ScanContext } from './scan.ts';
import { Staging } from './staging.ts';
import { recordMatches, type StatCache, type StatLookup } from './stat-cache.ts';
import { encodeStatCache, readStatCacheFile, writeStatCacheFile } from './stat-cache-file.ts';
import { TrackedStatCache } from './tracked-stat-cache.ts';
import { createWatcher, type Watcher } from './watcher.ts';
import { lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';

/** Options for `openLocalEndpoint`. */
export interface LocalEndpointOptions {
  /**
   * Absolute path of the sync root; it may not exist yet. It is trusted as given: the CLI passes
   * a realpath, the agent a path it resolved with `resolveConfined` from the container root.
   */
  readonly root: string;
  /** Ignore patterns (gitignore syntax) on top of the defaults and `<root>/.ksyncignore`. */
  readonly ignore?: readonly string[];
  /**
   * Read `<root>/.ksyncignore` (default true). The agent turns it off: its client sends the
   * complete rules with every scan, so a stale copy of the file in the container never decides.
   */
  readonly ignoreFile?: boolean;
  /**
   * Where content is staged while the root does not exist yet: a directory the caller owns and
   * empties at its start and stop (default: the OS temp dir, for tests and benchmarks).
   */
  readonly stagingDir?: string;
  /** Owner for created paths; default: each one's parent directory's owner. */
  readonly owner?: Owner;
  /** Watch the root for changes (default true); without it every scan is a full scan. */
  readonly watch?: boolean;
  /** Receives warnings (degraded watching, watcher errors). */
  readonly onWarning?: (message: string) => void;
  /** Replaces the file hasher (tests and the agent's metrics count calls through it). */
  readonly hasher?: FileHasher;
  /** Watcher batching window in ms (default 10). */
  readonly debounceMs?: number;
  /** Poll interval in ms for subtrees that could not be watched (default 1000). */
  readonly pollIntervalMs?: number;
  /**
   * Where the stat cache is kept across processes: a file the caller owns for this root alone
   * (under its state directory). Without it every start hashes the whole tree.
   */
  readonly statCacheFile?: string;
}

/** Least time between two saves of the stat cache other than after a full scan or on close. */
const SAVE_INTERVAL_MS = 60_000;

/** Opens a local endpoint. Nothing touches the disk until the first scan or apply. */
export function openLocalEndpoint(options: LocalEndpointOptions): LocalEndpoint {
  return new LocalEndpoint(options);
}

/** The filesystem implementation of `Endpoint`. */
export class LocalEndpoint implements Endpoint {
  readonly root: string;
  readonly #options: LocalEndpointOptions;
  readonly #staging: Staging;
  readonly #listeners = new Set<ChangeListener>();
  #patterns: readonly string[] = [];
  #matcher: IgnoreMatcher;
  #cache: TrackedStatCache | undefined;
  /**
   * The snapshot the last scan handed out, updated in place from the cache's touched paths, so
   * a scan costs O(changes) and reports them; `#scanned` says whether one was handed out yet.
   */
  #mirror = new SnapshotMirror();
  #scanned = false;
  #dirty = new Set<string>();
  #needsFull = true;
  #watcher: Watcher | undefined;
  #watcherStarting: Promise<void> | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #cleanedTemps = false;
  #closed = false;
  /**
   * The cache and its generation as last saved, and when; the save in flight. The cache is held
   * weakly: a full scan replaces it, and a strong reference kept the replaced one (55 MiB of
   * heap at 100,000 files) alive until the next save, for ever in an idle daemon.
   */
  #saved: { cache: WeakRef<StatCache>; generation: number; at: number } | undefined;
  #saving: Promise<void> = Promise.resolve();

  constructor(options: LocalEndpointOptions) {
    if (!options.root.startsWith('/'))
      throw new UserError(`sync root ${options.root} is not absolute`);
    this.root = options.root.length > 1 ? options.root.replace(/\/+$/, '') : options.root;
    this.#options = options;
    this.#staging = new Staging(this.root, options.stagingDir ?? tmpdir());
    this.#matcher = createIgnoreMatcher(options.ignore ?? []);
  }

  /** Scans the root (incrementally when the watcher allows it). */
  scan(options: ScanOptions): Promise<ScanResult> {
    return this.#exclusive(async () => {
      this.#assertOpen();
      await this.#ensureWatcher();
      const rulesChanged =
        options.ignore !== undefined
          ? this.#setPatterns(options.ignore)
          : (this.#dirty.has(IGNORE_FILE) || this.#cache === undefined) && this.#reloadIgnore();
      if (rulesChanged) {
        this.#needsFull = true;
        await this.#restartWatcher();
      }
      const dirty = this.#dirty;
      this.#dirty = new Set();
      const temps: string[] = [];
      const ctx: ScanContext = {
        root: this.root,
        matcher: this.#matcher,
        hasher: this.#options.hasher ?? hashFile,
        ...(this.#cleanedTemps ? {} : { onTempName: (path: string) => temps.push(path) }),
      };
      const watching = this.#watcher !== undefined;
      let cache = this.#cache;
      const full = options.full || this.#needsFull || cache === undefined || !watching;
      if (full || cache === undefined) {
        this.#needsFull = false;
        cache = await this.#scanFull(ctx);
      } else {
        await scanDirty(ctx, cache, dirty);
      }
      // The first full scan is saved at once, so even a crash later leaves its digests behind.
      this.#saveLater(full && this.#saved === undefined);
      if (!this.#cleanedTemps) {
        // Leftovers of an interrupted apply or staging: never part of any state, safe to drop.
        for (const path of temps) rmSync(path, { recursive: true, force: true });
        this.#cleanedTemps = true;
      }
      let changes;
      try {
        changes = this.#updateMirror(cache);
      } catch (error) {
        // The cache's touched paths are gone with this scan: only a full one can catch up.
        this.#needsFull = true;
        throw error;
      }
      const first = !this.#scanned;
      this.#scanned = true;
      return {
        snapshot: this.#mirror.snapshot,
        ...(first ? {} : { changes }),
        problems: cache.problems(),
        ignore: this.#patterns,
      };
    });
  }

  /** Subscribes to "this side may have changed"; starts the watcher if needed. */
  watch(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    this.#ensureWatcher().catch((error: unknown) => {
      this.#warn(`cannot watch ${this.root}: ${String(error)}`);
    });
    return () => this.#listeners.delete(listener);
  }

  /** Streams a file's content; fails at the end if it no longer hashes to `digest`. */
  async *readContent(path: string, digest: string): AsyncGenerator<Uint8Array> {
    const resolved = resolveConfined(this.root, path);
    if (!resolved.ok) throw new UserError(`cannot read ${path}: ${resolved.problem.message}`);
    yield* readVerified(resolved.absolute, digest, path);
  }

  /**
   * Streams files' contents back to back, unverified (the receiver verifies); a file with the
   * receiver's `base` signature as block-delta instructions against it.
   */
  readContents(files: readonly ContentRequest[]): AsyncGenerator<Uint8Array> {
    return encodeContentStream(
      files,
      (file) => readUnverified(this.#readable(file.path), file.size),
      (file) => readDelta(this.#readable(file.path), file),
    );
  }

  /**
   * Signs the files that still hold the given content by their stat-cache record (unchanged
   * since a scan hashed them); the others, and files too small for a delta, get undefined.
   */
  readSignatures(files: readonly ContentRequest[]): Promise<(string | undefined)[]> {
    return this.#exclusive(async () => {
      const signatures: (string | undefined)[] = [];
      for (const file of files) {
        const absolute = this.#unchanged(file.path, file.digest);
        const worth = planBlockSize(file.size) !== undefined;
        signatures.push(
          absolute === undefined || !worth
            ? undefined
            : await readSignature(absolute, file.size).catch(() => undefined),
        );
      }
      return signatures;
    });
  }

  /** Digests not available from an unchanged file in the root. */
  missingContent(digests: readonly string[]): Promise<string[]> {
    return this.#exclusive(() => {
      const missing: string[] = [];
      for (const digest of digests) {
        if (this.#hasLocalCopy(digest)) continue;
        missing.push(digest);
      }
      return Promise.resolve(missing);
    });
  }

  /** Applies changes with the checks described in apply.ts, writing `content` as it arrives. */
  apply(changes: readonly Change[], content?: ApplyContent): Promise<ApplyResult> {
    return this.#exclusive(async () => {
      this.#assertOpen();
      this.#cache ??= await this.#scanFull(this.#scanContext());
      const result = await transition(
        {
          root: this.root,
          cache: this.#cache,
          staging: this.#staging,
          matcher: this.#matcher,
          owner: this.#options.owner,
        },
        changes,
        content,
      );
      // Staged content only serves later changes of the same batch: what is left belongs to
      // refused changes, and must not sit in the root until the connection closes.
      await this.#staging.clear();
      this.#saveLater(false);
      return result;
    });
  }

  /**
   * The paths changed since `options.sinceNs` by the ctimes of the last scan (changed-since.ts
   * says why those); a root not scanned yet is scanned first, as for `apply`.
   */
  readChangedSince(options: ChangedSinceOptions): Promise<ChangedPaths> {
    return this.#exclusive(async () => {
      this.#assertOpen();
      this.#cache ??= await this.#scanFull(this.#scanContext());
      return collectChangedSince(this.#cache.records(), options);
    });
  }

  /** Stops the watcher and removes staged content. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    await this.#queue.catch(() => undefined);
    await this.#watcherStarting?.catch(() => undefined);
    await this.#watcher?.close();
    this.#watcher = undefined;
    await this.#save();
    await this.#saving;
    await this.#staging.clear();
  }

  /** Paths currently polled because the watcher ran out of inotify watches. */
  polledPaths(): readonly string[] {
    return this.#watcher?.polledPaths() ?? [];
  }

  /** The records the last process saved for this root, if any (see stat-cache-file.ts). */
  async #readSavedCache(): Promise<StatLookup | undefined> {
    const file = this.#options.statCacheFile;
    if (file === undefined) return undefined;
    return readStatCacheFile(file, this.root).catch(() => undefined);
  }

  /**
   * Queues a save of the cache when it changed since the last one: at once when `now`, otherwise
   * once the last save is a minute old. It runs after the current operation, in the queue, so
   * the records are read in one state; the file is written in the background.
   */
  #saveLater(now: boolean): void {
    if (this.#options.statCacheFile === undefined) return;
    if (!now && Date.now() - (this.#saved?.at ?? 0) < SAVE_INTERVAL_MS) return;
    this.#exclusive(() => this.#save()).catch((error: unknown) => {
      this.#warn(`cannot save the stat cache: ${String(error)}`);
    });
  }

  /** Encodes the cache now, if it changed since the last save, and starts writing it. */
  async #save(): Promise<void> {
    const file = this.#options.statCacheFile;
    const cache = this.#cache;
    if (file === undefined || cache === undefined) return;
    const saved = this.#saved;
    if (saved?.cache.deref() === cache && saved.generation === cache.generation) return;
    this.#saved = { cache: new WeakRef(cache), generation: cache.generation, at: Date.now() };
    let encoded: Buffer;
    try {
      encoded = await encodeStatCache(this.root, cache.records());
    } catch {
      return; // The root is gone: nothing worth keeping.
    }
    this.#saving = this.#saving
      .then(() => writeStatCacheFile(file, encoded))
      .catch((error: unknown) => this.#warn(`cannot save the stat cache: ${String(error)}`));
  }

  /**
   * Walks the whole tree into a fresh cache (reusing the old one's digests, or for the first
   * scan those the last process saved) and keeps it.
   */
  async #scanFull(ctx: ScanContext): Promise<TrackedStatCache> {
    const fresh = new TrackedStatCache();
    await scanFull(ctx, this.#cache ?? (await this.#readSavedCache()), fresh);
    this.#cache = fresh;
    return fresh;
  }

  /**
   * Brings the mirror up to the cache: the paths the cache touched since the previous scan (by
   * scanning or applying) are the only ones that can differ. Returns what changed.
   */
  #updateMirror(cache: TrackedStatCache): SnapshotChanges {
    const touched = cache.takeTouched();
    if (touched === 'all') return this.#mirror.replace(cache.snapshot());
    const upserts: [string, Entry][] = [];
    const removals: string[] = [];
    for (const path of touched) {
      const record = cache.get(path);
      if (record === undefined) removals.push(path);
      else upserts.push([path, record.entry]);
    }
    return this.#mirror.update(upserts, removals);
  }

  #scanContext(): ScanContext {
    return { root: this.root, matcher: this.#matcher, hasher: this.#options.hasher ?? hashFile };
  }

  #hasLocalCopy(digest: string): boolean {
    const cache = this.#cache;
    if (!cache) return false;
    for (const path of cache.pathsWithDigest(digest)) {
      if (this.#unchanged(path, digest) !== undefined) return true;
    }
    return false;
  }

  /** The absolute path of `path` when its record says `digest` and its lstat still matches. */
  #unchanged(path: string, digest: string): string | undefined {
    const record = this.#cache?.get(path);
    const resolved = resolveConfined(this.root, path);
    if (record?.entry.kind !== 'file' || record.entry.digest !== digest || !resolved.ok) {
      return undefined;
    }
    try {
      const matches = recordMatches(record, lstatSync(resolved.absolute, { bigint: true }));
      return matches ? resolved.absolute : undefined;
    } catch {
      return undefined;
    }
  }

  /** The absolute path of a sync path to read from; throws when it cannot be resolved. */
  #readable(path: string): string {
    const resolved = resolveConfined(this.root, path);
    if (!resolved.ok) throw new UserError(`cannot read ${path}: ${resolved.problem.message}`);
    return resolved.absolute;
  }

  /** Re-reads `.ksyncignore`; returns true when the effective patterns changed. */
  #reloadIgnore(): boolean {
    let lines: string[] = [];
    const resolved = resolveConfined(this.root, IGNORE_FILE);
    if (resolved.ok && this.#options.ignoreFile !== false) {
      try {
        // O_NOFOLLOW: a .ksyncignore symlink is not read (it could point anywhere).
        const text = readFileSync(resolved.absolute, {
          encoding: 'utf8',
          flag: constants.O_RDONLY | constants.O_NOFOLLOW,
        });
        lines = parseIgnoreFile(text);
      } catch {
        lines = [];
      }
    }
    return this.#setPatterns([...(this.#options.ignore ?? []), ...lines]);
  }

  /** Switches to `patterns`; returns true when they differ from the current ones. */
  #setPatterns(patterns: readonly string[]): boolean {
    if (samePatterns(patterns, this.#patterns)) return false;
    this.#patterns = [...patterns];
    this.#matcher = createIgnoreMatcher(patterns);
    return true;
  }

  async #ensureWatcher(): Promise<void> {
    if (this.#options.watch === false || this.#closed) return;
    if (this.#watcher) return;
    this.#watcherStarting ??= (async () => {
      if (this.#cache === undefined) this.#reloadIgnore();
      const watcher = createWatcher({
        root: this.root,
        ignores: (path, isDirectory) => this.#matcher.ignores(path, isDirectory),
        onDirty: (paths) => {
          for (const path of paths) this.#dirty.add(path);
          // The echo of our own apply is not announced (echo-check.ts): the paths stay dirty,
          // so the next scan, whenever it runs, still looks at them.
          const cache = this.#cache;
          const echo =
            cache !== undefined &&
            !this.#needsFull &&
            isOwnEcho({ root: this.root, cache, matcher: this.#matcher }, paths);
          if (!echo) this.#notify();
        },
        onOverflow: () => {
          this.#needsFull = true;
          this.#notify();
        },
        onWarning: (message) => this.#warn(message),
        ...(this.#options.debounceMs === undefined ? {} : { debounceMs: this.#options.debounceMs }),
        ...(this.#options.pollIntervalMs === undefined
          ? {}
          : { pollIntervalMs: this.#options.pollIntervalMs }),
      });
      await watcher.ready;
      if (this.#closed) {
        await watcher.close();
        return;
      }
      this.#watcher = watcher;
      // Whatever happened before the watcher was ready is only caught by a full scan.
      this.#needsFull = true;
    })();
    try {
      await this.#watcherStarting;
    } finally {
      this.#watcherStarting = undefined;
    }
  }

  async #restartWatcher(): Promise<void> {
    const old = this.#watcher;
    if (!old) return;
    this.#watcher = undefined;
    await old.close();
    await this.#ensureWatcher();
  }

  #notify(): void {
    for (const listener of this.#listeners) listener();
  }

  #warn(message: string): void {
    this.#options.onWarning?.(message);
  }

  #assertOpen(): void {
    if (this.#closed) throw new UserError('endpoint is closed');
  }

  #exclusive<T>(body: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(body, body);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}
