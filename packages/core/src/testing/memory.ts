/**
 * In-memory implementations of the endpoint and store interfaces, for unit tests of the
 * controller and the protocol. They follow the same contracts as the filesystem ones: `apply`
 * checks each change's `old` against the current state and refuses on mismatch, and file
 * creation needs content that came with the apply or is present.
 */
import type { ApplyResult, Change, Problem } from '../change.ts';
import {
  ContentStreamReader,
  encodeContentStream,
  type ContentRequest,
} from '../content-stream.ts';
import type {
  ApplyContent,
  ChangeListener,
  Endpoint,
  RestartFacts,
  ScanOptions,
  ScanResult,
} from '../endpoint.ts';
import { createIgnoreMatcher, ignoredPaths } from '../ignore.ts';
import { entriesEqual, type Entry } from '../entry.ts';
import { ROOT, isWithin, parentPath } from '../path.ts';
import type { Snapshot } from '../snapshot.ts';
import type { AncestorUpdate, Conflict, ConflictContentStore, SessionStore } from '../store.ts';

/** Content for a test file entry: its (ASCII) digest text as bytes. */
export function contentOf(digest: string): Uint8Array {
  return Uint8Array.from(digest, (c) => c.charCodeAt(0));
}

/** An endpoint over a map; file content is the digest's own bytes. */
export class MemoryEndpoint implements Endpoint {
  tree: Map<string, Entry>;
  /** Paths whose scan reports a problem. */
  readonly problemPaths = new Set<string>();
  /** Digests whose content fails to arrive with an apply, to simulate a broken transfer. */
  readonly failContent = new Set<string>();
  readonly #listeners = new Set<ChangeListener>();
  /** The side's own ignore rules (a local side's `.ksyncignore`); unset: it reads none. */
  ownIgnore: readonly string[] | undefined;
  /** The rules of the latest scan, own or given. */
  scannedWith: readonly string[] = [];
  scans = 0;
  /**
   * What `readRestartFacts` answers (default: no volumes, nothing changed since the start); an
   * error is thrown instead, as a side that cannot tell would fail.
   */
  restartFacts: RestartFacts | Error = { mounts: [], changed: [] };
  /** The previous scan's snapshot, to report what changed since (none before the first scan). */
  #lastScan: Snapshot | undefined;

  constructor(tree: Snapshot) {
    this.tree = new Map(tree);
  }

  /** Replaces the tree, as a user editing files would, and notifies watchers. */
  edit(tree: Snapshot): void {
    this.tree = new Map(tree);
    for (const listener of this.#listeners) listener();
  }

  async scan(options: ScanOptions): Promise<ScanResult> {
    this.scans++;
    const problems: Problem[] = [...this.problemPaths].map((path) => ({
      path,
      message: 'unreadable',
    }));
    this.scannedWith = options.ignore ?? this.ownIgnore ?? [];
    const ignored = new Set(ignoredPaths(this.tree, createIgnoreMatcher(this.scannedWith)));
    const snapshot = new Map(
      [...this.tree].filter(([p]) => !this.problemPaths.has(p) && !ignored.has(p)),
    );
    // The paths that differ from the previous result, as the filesystem endpoint reports them.
    const changes = new Map<string, Entry | undefined>();
    const last = this.#lastScan;
    for (const p of new Set([...(last?.keys() ?? []), ...snapshot.keys()])) {
      if (!entriesEqual(last?.get(p), snapshot.get(p))) changes.set(p, last?.get(p));
    }
    this.#lastScan = snapshot;
    return {
      snapshot,
      problems,
      ...(last === undefined ? {} : { changes }),
      ...(this.ownIgnore === undefined ? {} : { ignore: this.scannedWith }),
    };
  }

  watch(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async *readContent(path: string, digest: string): AsyncIterable<Uint8Array> {
    const entry = this.tree.get(path);
    if (entry?.kind !== 'file' || entry.digest !== digest) throw new Error(`${path} changed`);
    yield contentOf(digest);
  }

  readContents(files: readonly ContentRequest[]): AsyncIterable<Uint8Array> {
    return encodeContentStream(files, (file) => this.readContent(file.path, file.digest));
  }

  async missingContent(digests: readonly string[]): Promise<string[]> {
    const present = new Set<string>();
    for (const e of this.tree.values()) if (e.kind === 'file') present.add(e.digest);
    return digests.filter((d) => !present.has(d));
  }

  async apply(changes: readonly Change[], content?: ApplyContent): Promise<ApplyResult> {
    const applied: Change[] = [];
    const problems: Problem[] = [];
    const arrived = new Set<string>();
    const failed = new Set<number>();
    if (content !== undefined) {
      const reader = new ContentStreamReader(content.stream);
      for (const index of content.indexes) {
        const entry = changes[index]?.new;
        if (entry?.kind !== 'file') throw new Error(`content for change ${index}, not a file`);
        const chunks = await reader.next(entry.size);
        const parts: Uint8Array[] = [];
        for await (const chunk of chunks ?? []) parts.push(chunk);
        const text = parts.map((p) => String.fromCharCode(...p)).join('');
        if (chunks === undefined || text !== entry.digest || this.failContent.has(entry.digest)) {
          failed.add(index);
        } else {
          arrived.add(entry.digest);
        }
      }
      await reader.finish();
    }
    // As on disk: a directory replaced by a non-directory is touched only if it can go whole.
    const removed = new Set(
      changes.filter((c) => c.new === undefined || c.old?.kind === 'directory').map((c) => c.path),
    );
    const stuck = changes
      .filter(
        (c) => c.old?.kind === 'directory' && c.new !== undefined && c.new.kind !== 'directory',
      )
      .map((c) => c.path)
      .filter((d) =>
        [...this.tree.keys()].some((p) => p !== d && isWithin(p, d) && !removed.has(p)),
      );
    for (const [index, change] of changes.entries()) {
      if (failed.has(index)) {
        problems.push({ path: change.path, message: 'content did not arrive' });
        continue;
      }
      if (stuck.some((d) => isWithin(change.path, d))) {
        problems.push({ path: change.path, message: 'directory holds content that is not synced' });
        continue;
      }
      const current = this.tree.get(change.path);
      const parent = change.path === ROOT ? undefined : this.tree.get(parentPath(change.path));
      if (!entriesEqual(current, change.old)) {
        problems.push({ path: change.path, message: 'modified since scan' });
      } else if (change.new !== undefined && change.path !== ROOT && parent?.kind !== 'directory') {
        problems.push({ path: change.path, message: 'parent is missing' });
      } else if (
        change.new?.kind === 'file' &&
        !arrived.has(change.new.digest) &&
        (await this.missingContent([change.new.digest])).length > 0
      ) {
        problems.push({ path: change.path, message: 'content is not here' });
      } else if (
        change.old?.kind === 'directory' &&
        [...this.tree.keys()].some((p) => p !== change.path && parentPath(p) === change.path)
      ) {
        problems.push({ path: change.path, message: 'directory not empty' });
      } else {
        if (change.new === undefined) this.tree.delete(change.path);
        else this.tree.set(change.path, change.new);
        applied.push(change);
      }
    }
    return { applied, problems };
  }

  readRestartFacts(): Promise<RestartFacts> {
    const facts = this.restartFacts;
    return facts instanceof Error ? Promise.reject(facts) : Promise.resolve(facts);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
  }
}

/** A session store in memory. */
export class MemorySessionStore implements SessionStore {
  readonly ancestor = new Map<string, Entry>();
  readonly conflicts = new Map<string, Conflict>();

  async loadAncestor(): Promise<Snapshot> {
    return new Map(this.ancestor);
  }
  async updateAncestor(updates: readonly AncestorUpdate[]): Promise<void> {
    for (const u of updates) {
      if (u.entry === undefined) this.ancestor.delete(u.path);
      else this.ancestor.set(u.path, u.entry);
    }
  }
  async clearAncestor(): Promise<void> {
    this.ancestor.clear();
  }
  async loadConflicts(): Promise<Conflict[]> {
    return [...this.conflicts.values()];
  }
  async saveConflict(conflict: Conflict): Promise<void> {
    this.conflicts.set(conflict.id, conflict);
  }
  async removeConflict(id: string): Promise<void> {
    this.conflicts.delete(id);
  }
}

/** A conflict content store in memory. */
export class MemoryConflictStore implements ConflictContentStore {
  readonly files = new Map<string, Uint8Array>();

  async save(conflictId: string, path: string, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const parts: Uint8Array[] = [];
    for await (const chunk of chunks) parts.push(chunk);
    this.files.set(`${conflictId}/${path}`, concat(parts));
  }
  async *read(conflictId: string, path: string): AsyncIterable<Uint8Array> {
    const data = this.files.get(`${conflictId}/${path}`);
    if (data === undefined) throw new Error(`nothing saved for ${path}`);
    yield data;
  }
  async remove(conflictId: string): Promise<void> {
    for (const key of [...this.files.keys()]) {
      if (key.startsWith(`${conflictId}/`)) this.files.delete(key);
    }
  }
  locate(conflictId: string): string {
    return `memory:${conflictId}`;
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
