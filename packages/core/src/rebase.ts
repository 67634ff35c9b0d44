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
 * The exception is a path under a blocked conflict: there the two sides disagree and neither
 * was changed, so what the container holds is a version that was never synced (a volume keeps
 * it through the restart), not the image's. Taking it as agreed would make that unsynced version
 * look synced: the conflict would be recorded again as one with nothing to save, its saved copy
 * would go with the old record, and the version would be lost with the pod. Under a blocked
 * conflict the ancestor is kept as it was, so the conflict stays what it was, saved copy and
 * all. A local-wins conflict is not an exception: its remote version is saved already, and both
 * sides were given the local one, so a reverted image file there is reverted like any other.
 *
 * Invariant: the result is a valid snapshot. Paths are taken parents first. A path outside them
 * is kept only where the container holds it, and its parent is then a directory in the
 * container (whose snapshot is valid) and in the ancestor (which is valid), so it was kept too, as
 * that directory. A path under a blocked conflict keeps its old entry only when its parent was
 * kept as a directory (or it is the root).
 */
import type { Entry } from './entry.ts';
import { ROOT, comparePaths, isWithin, parentPath } from './path.ts';
import type { Snapshot } from './snapshot.ts';

/**
 * The ancestor rebased onto `remote`, the restarted container's snapshot, keeping the ancestor
 * under `blockedPaths` (the blocked conflicts' paths) as it was (pure).
 */
export function rebaseAncestor(
  ancestor: Snapshot,
  remote: Snapshot,
  blockedPaths: readonly string[] = [],
): Map<string, Entry> {
  const rebased = new Map<string, Entry>();
  for (const path of [...ancestor.keys()].sort(comparePaths)) {
    if (blockedPaths.some((base) => isWithin(path, base))) {
      const parent = path === ROOT ? undefined : rebased.get(parentPath(path));
      const entry = ancestor.get(path);
      if (entry !== undefined && (path === ROOT || parent?.kind === 'directory')) {
        rebased.set(path, entry);
      }
      continue;
    }
    const entry = remote.get(path);
    if (entry !== undefined) rebased.set(path, entry);
  }
  return rebased;
}
