/**
 * Rebasing the ancestor after a container restart. A restarted container (same pod, new container
 * ID) has its filesystem back to the image, except for volumes. Its differences from the ancestor
 * are then not edits anyone made: reconciled as they are, the image's old files would overwrite
 * local edits (the original ksync's worst bug), local deletions would come back, and every
 * reverted file would be a conflict.
 *
 * The rule: for every path the ancestor knew, the ancestor takes what the new container holds
 * (or forgets the path where the container lacks it). Paths the ancestor never knew stay unknown.
 * Reconciling against the rebased ancestor then gives, with no conflict:
 * - local content wins over the image's reverted files (the remote side looks unchanged);
 * - a local deletion stays deleted and is propagated (the remote side looks unchanged);
 * - files the sync had placed and the image lacks are placed again (a local creation);
 * - files only the image has come down, as on a first sync.
 *
 * Invariant: the result is a valid snapshot. A kept path's parent is in the ancestor (which is
 * valid) and is a directory in the container (whose snapshot is valid), so it is kept too, as a
 * directory.
 */
import type { Entry } from './entry.ts';
import type { Snapshot } from './snapshot.ts';

/** The ancestor rebased onto `remote`, the restarted container's snapshot (pure). */
export function rebaseAncestor(ancestor: Snapshot, remote: Snapshot): Map<string, Entry> {
  const rebased = new Map<string, Entry>();
  for (const path of ancestor.keys()) {
    const entry = remote.get(path);
    if (entry !== undefined) rebased.set(path, entry);
  }
  return rebased;
}
