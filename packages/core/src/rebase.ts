/**
 * Rebasing the ancestor after a container restart. A restarted container (same pod, new container
 * ID) has its filesystem back to the image, except for volumes. Most of its differences from the
 * ancestor are then not edits anyone made: reconciled as they are, the image's old files would
 * overwrite local edits (the original ksync's worst bug), local deletions would come back, and
 * every reverted file would be a conflict. But not all of them: a volume keeps what the container
 * wrote there before the restart, synced or not, and the container may write anywhere once it
 * runs again (its entrypoint, a user's process) before the rebase looks. Those are edits, and
 * taking them as agreed would let the older local version overwrite them, losing them.
 *
 * The container's side tells which is which (`RestartFacts`): the mount points of its volumes,
 * and the paths changed since it started (by ctime, which no one can set back, against its start
 * time, both read from the node's clock). The rule, for every path the ancestor knew, parents
 * first:
 * - Under a volume's mount point, under a blocked conflict, or changed since the start: the
 *   ancestor keeps its old entry. Reconcile then sees the container's version as the edit it is:
 *   synced to local when local did not change the path, a conflict that keeps both when it did.
 * - Anywhere else, when the changed paths are known: the ancestor takes what the new container
 *   holds (or forgets the path where the container lacks it). Reconciling then gives, with no
 *   conflict: local content wins over the image's reverted files (the remote side looks
 *   unchanged); a local deletion stays deleted and is propagated (likewise); files the sync had
 *   placed and the image lacks are placed again (a local creation); and files only the image has
 *   come down, as on a first sync.
 * - Anywhere else, when the changed paths are not known (too many to list, or the side could not
 *   tell at all): the path cannot be classified, so the ancestor forgets it, except that a
 *   directory on both sides stays one (a directory holds no content an image could revert). A
 *   forgotten path is reconciled as on a first sync, which loses nothing: where the two sides
 *   differ it is a conflict that keeps both. Keeping the old entry there instead would not be
 *   safe: where local holds the synced version, the image's reverted file would look like an
 *   edit and overwrite it.
 * Paths the ancestor never knew stay unknown.
 *
 * Why a blocked conflict keeps its ancestor even off a volume: there the two sides disagree and
 * neither was changed, so what the container holds is a version that was never synced. Taking it
 * as agreed would make that unsynced version look synced: the conflict would be recorded again as
 * one with nothing to save, its saved copy would go with the old record, and the version would be
 * lost with the pod. Kept, the conflict stays what it was, saved copy and all. A local-wins
 * conflict is not an exception: its remote version is saved already, and both sides were given
 * the local one, so a reverted image file there is reverted like any other.
 *
 * Invariant: the result is a valid snapshot. Paths are taken parents first, and a path other than
 * the root gets an entry only when its parent already has a directory entry in the result. This
 * drops nothing the rule takes from the container: such a path's parent is a directory in the
 * container (whose snapshot is valid) and in the ancestor (which is valid), and every path that
 * is a directory in both gets a directory entry (old or new) whenever its parent has one, so by
 * induction from the root the parent has one. A kept path whose parent was dropped is forgotten,
 * which is the safe outcome above.
 */
import type { RestartFacts } from './endpoint.ts';
import type { Entry } from './entry.ts';
import { ROOT, comparePaths, isWithin, parentPath } from './path.ts';
import type { Snapshot } from './snapshot.ts';

/** What a rebase needs besides the two snapshots. */
export interface RebaseOptions {
  /** The blocked conflicts' paths: the ancestor stays as it was under each. */
  readonly blockedPaths: readonly string[];
  /** What the restarted container says about its paths; undefined when it could not tell. */
  readonly facts: RestartFacts | undefined;
}

/**
 * The ancestor rebased onto `remote`, the restarted container's snapshot, by the rule in the
 * module comment (pure).
 */
export function rebaseAncestor(
  ancestor: Snapshot,
  remote: Snapshot,
  options: RebaseOptions,
): Map<string, Entry> {
  const subtrees = [...options.blockedPaths, ...(options.facts?.mounts ?? [])];
  const changed = options.facts?.changed;
  const changedSet = new Set(changed);
  const rebased = new Map<string, Entry>();
  for (const path of [...ancestor.keys()].sort(comparePaths)) {
    if (path !== ROOT && rebased.get(parentPath(path))?.kind !== 'directory') continue;
    const old = ancestor.get(path);
    const current = remote.get(path);
    let entry: Entry | undefined;
    if (changedSet.has(path) || subtrees.some((base) => isWithin(path, base))) entry = old;
    else if (changed !== undefined) entry = current;
    else if (old?.kind === 'directory' && current?.kind === 'directory') entry = current;
    if (entry !== undefined) rebased.set(path, entry);
  }
  return rebased;
}
