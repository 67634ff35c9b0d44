/**
 * Snapshots: the state of one side (or of the ancestor) as a flat map from sync path to entry.
 * Invariants of a valid snapshot: every key passed `validatePath`; every non-root key's parent is
 * a directory entry in the same map; the root key `''`, when present, is a directory. An absent
 * root key means the root itself does not exist.
 */
import type { Entry } from './entry.ts';
import { InternalError } from './errors.ts';
import { ROOT, parentPath } from './path.ts';

/** A side's state: sync path → entry. */
export type Snapshot = ReadonlyMap<string, Entry>;

/** The empty snapshot: not even the root exists (the ancestor before the first sync). */
export const EMPTY_SNAPSHOT: Snapshot = new Map();

/** Checks the snapshot invariants above; throws `InternalError` naming the first violation. */
export function validateSnapshot(snapshot: Snapshot): void {
  for (const [path, entry] of snapshot) {
    if (path === ROOT) {
      if (entry.kind !== 'directory') throw new InternalError('snapshot root is not a directory');
      continue;
    }
    const parent = snapshot.get(parentPath(path));
    if (parent?.kind !== 'directory') {
      throw new InternalError(`snapshot entry ${JSON.stringify(path)} has no parent directory`);
    }
  }
}

/** Counts of what a snapshot holds, for status output. */
export interface SnapshotStats {
  readonly files: number;
  readonly directories: number;
  readonly symlinks: number;
  readonly bytes: number;
}

/** Tallies files, directories, symlinks and file bytes (the root directory is not counted). */
export function summarizeSnapshot(snapshot: Snapshot): SnapshotStats {
  let files = 0;
  let directories = 0;
  let symlinks = 0;
  let bytes = 0;
  for (const [path, entry] of snapshot) {
    if (path === ROOT) continue;
    if (entry.kind === 'file') {
      files++;
      bytes += entry.size;
    } else if (entry.kind === 'directory') directories++;
    else symlinks++;
  }
  return { files, directories, symlinks, bytes };
}

/**
 * The tallies after `changes` (paths with their previous entries) were made to a snapshot that
 * `stats` described; `snapshot` is the state after them. Costs O(changes).
 */
export function updateSummary(
  stats: SnapshotStats,
  changes: ReadonlyMap<string, Entry | undefined>,
  snapshot: Snapshot,
): SnapshotStats {
  let { files, directories, symlinks, bytes } = stats;
  const count = (entry: Entry | undefined, sign: 1 | -1): void => {
    if (entry === undefined) return;
    if (entry.kind === 'file') {
      files += sign;
      bytes += sign * entry.size;
    } else if (entry.kind === 'directory') directories += sign;
    else symlinks += sign;
  };
  for (const [path, old] of changes) {
    if (path === ROOT) continue;
    count(old, -1);
    count(snapshot.get(path), 1);
  }
  return { files, directories, symlinks, bytes };
}
