/**
 * A snapshot kept up to date by deltas: the copy of a side's state that an endpoint hands out
 * from its scans (the filesystem endpoint over its stat cache, the agent client over the scan
 * pages it receives). Applying a delta costs O(changes), not O(tree), and reports exactly which
 * paths changed and what they held before, which is what lets a sync cycle cost O(changes).
 *
 * Invariants, checked on every update in time proportional to the update: the mirror is always a
 * valid snapshot (see snapshot.ts): every non-root path's parent is a directory in it, and the
 * root, when present, is a directory. A delta that would break them is refused as a whole and
 * leaves the mirror as it was. To check "no orphans" without walking the tree, the mirror counts
 * each path's children.
 */
import { entriesEqual, type Entry } from './entry.ts';
import { InternalError } from './errors.ts';
import { ROOT, parentPath } from './path.ts';
import type { Snapshot } from './snapshot.ts';

/** Paths whose entry changed, each with the entry it had before (undefined: it was absent). */
export type SnapshotChanges = ReadonlyMap<string, Entry | undefined>;

/** A snapshot that is updated in place by deltas; see the module comment. */
export class SnapshotMirror {
  readonly #entries = new Map<string, Entry>();
  /** Number of entries whose parent is the key; keys with no children are absent. */
  readonly #childCounts = new Map<string, number>();

  /**
   * The current state. It is the mirror's own map, updated in place: callers read it until the
   * next update and never write to it.
   */
  get snapshot(): Snapshot {
    return this.#entries;
  }

  /**
   * Replaces the whole state (a full scan). Returns the changes against the previous state.
   * Throws `InternalError` (keeping the previous state) when `entries` is not a valid snapshot.
   */
  replace(entries: Iterable<readonly [string, Entry]>): Map<string, Entry | undefined> {
    const next = new Map(entries);
    const removals: string[] = [];
    for (const path of this.#entries.keys()) if (!next.has(path)) removals.push(path);
    return this.update(next, removals);
  }

  /**
   * Sets each path of `upserts` to its entry and removes each of `removals` (the two must not
   * share a path). Returns the paths that actually changed, with their previous entries. Throws
   * `InternalError` (keeping the previous state) when the result would not be a valid snapshot.
   */
  update(
    upserts: Iterable<readonly [string, Entry]>,
    removals: Iterable<string>,
  ): Map<string, Entry | undefined> {
    const changes = new Map<string, Entry | undefined>();
    for (const path of removals) {
      const old = this.#entries.get(path);
      if (old === undefined) continue;
      changes.set(path, old);
      this.#delete(path);
    }
    for (const [path, entry] of upserts) {
      const old = this.#entries.get(path);
      if (old !== undefined && entriesEqual(old, entry)) continue;
      if (changes.has(path)) {
        this.#rollBack(changes);
        throw new InternalError(`snapshot delta both sets and removes ${JSON.stringify(path)}`);
      }
      changes.set(path, old);
      if (old === undefined && path !== ROOT) this.#count(parentPath(path), 1);
      this.#entries.set(path, entry);
    }
    const problem = this.#check(changes);
    if (problem !== undefined) {
      this.#rollBack(changes);
      throw new InternalError(problem);
    }
    return changes;
  }

  /**
   * The reason the changed paths break the invariants, if they do. Only changed paths can:
   * a path that appeared or changed needs a directory parent, and a path that vanished or stopped
   * being a directory must have no children left.
   */
  #check(changes: ReadonlyMap<string, Entry | undefined>): string | undefined {
    for (const path of changes.keys()) {
      const entry = this.#entries.get(path);
      if (entry !== undefined) {
        if (path === ROOT) {
          if (entry.kind !== 'directory') return 'snapshot root is not a directory';
        } else if (this.#entries.get(parentPath(path))?.kind !== 'directory') {
          return `snapshot entry ${JSON.stringify(path)} has no parent directory`;
        }
      }
      if (entry?.kind !== 'directory' && (this.#childCounts.get(path) ?? 0) > 0) {
        return `snapshot entry ${JSON.stringify(path)} has children but is not a directory`;
      }
    }
    return undefined;
  }

  /** Puts back the entries `changes` recorded. */
  #rollBack(changes: ReadonlyMap<string, Entry | undefined>): void {
    for (const [path, old] of changes) {
      if (old === undefined) this.#delete(path);
      else {
        if (!this.#entries.has(path) && path !== ROOT) this.#count(parentPath(path), 1);
        this.#entries.set(path, old);
      }
    }
  }

  #delete(path: string): void {
    if (!this.#entries.delete(path)) return;
    if (path !== ROOT) this.#count(parentPath(path), -1);
  }

  #count(path: string, by: number): void {
    const n = (this.#childCounts.get(path) ?? 0) + by;
    if (n === 0) this.#childCounts.delete(path);
    else this.#childCounts.set(path, n);
  }
}
