/**
 * Rebasing the ancestor after a container restart. A restarted container (same pod, new container
 * ID) has its filesystem back to the image, except for volumes; a new pod of a sync that synced
 * before starts from another container's ancestor and its own fresh volumes. Most differences
 * from the ancestor are then not edits anyone made: reconciled as they are, the image's old files
 * would overwrite local edits (the original ksync's worst bug), local deletions would come back,
 * and every reverted file would be a conflict. But not all of them: a volume that survived a
 * restart holds what the container wrote there, synced or not, and the container may write
 * anywhere once it runs (its entrypoint, a user's process) before the rebase looks. Taken as
 * agreed, such a version would look synced, and the older local version would overwrite it.
 *
 * The container's side tells the paths apart (`RestartFacts`): the mount points of its volumes,
 * and the paths changed since it started (by ctime, which no one can set back, against its start
 * time, both by the node's clock). Each path the ancestor knew falls in one of three classes,
 * decided parents first:
 * - Synced state that survived: under a volume's mount point when the volumes are the ones the
 *   ancestor was synced with (`volumes: 'kept'`, a restart in the same pod), or under a blocked
 *   conflict. The ancestor keeps its old entry, as if nothing had restarted: a container edit
 *   there is an edit, synced to local when local did not change the path, a conflict that keeps
 *   both when it did, and a container deletion is a deletion.
 * - The image's: anywhere else, when the changed paths are known and the path is not one of
 *   them. The ancestor takes what the new container holds (or forgets the path where the
 *   container lacks it). Reconciling then gives, with no conflict: local content wins over the
 *   image's reverted files (the remote side looks unchanged); a local deletion stays deleted and
 *   is propagated (likewise); files the sync had placed and the image lacks are placed again (a
 *   local creation); files only the image has come down, as on a first sync.
 * - Unknown: a path changed since the start, a path under a new pod's fresh volume, and every
 *   path when the changed paths are not known (too many to list, or the side could not tell).
 *   The ancestor forgets it, and it is reconciled as on a first sync, which loses nothing: where
 *   the two sides differ it is a conflict that keeps both. Neither other class is safe here. A
 *   container edit taken as the image's is overwritten by the older local version (the loss this
 *   module was changed for). But an old entry kept is not safe either: an entrypoint that writes
 *   its defaults over a synced file at start, or an init container filling a new pod's volume,
 *   would look like an edit and overwrite the local version that was synced, and a fresh volume's
 *   missing files would look deleted.
 *   Directories are the exception: one that is a directory in both the ancestor and the
 *   container stays one, whatever its class, since a directory holds no content to lose; a
 *   changed directory (a file was created in it) would otherwise take its whole subtree along.
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
 * drops nothing taken from the container: such a path's parent is a directory in the container
 * (whose snapshot is valid) and in the ancestor (which is valid), and a path that is a directory
 * in both gets a directory entry (old or new) whenever its parent has one, so by induction from
 * the root the parent has one. A kept path whose parent was dropped is forgotten: unknown, which
 * is safe.
 */
import type { RestartFacts } from './endpoint.ts';
import type { Entry } from './entry.ts';
import { ROOT, comparePaths, isWithin, parentPath } from './path.ts';
import type { Snapshot } from './snapshot.ts';

/**
 * Whether the container's volumes are the ones the ancestor was synced with (`kept`: a restart
 * in the same pod) or fresh ones (`new`: another pod, even one with the same name).
 */
export type RebaseVolumes = 'kept' | 'new';

/** What a rebase needs besides the two snapshots. */
export interface RebaseOptions {
  /** The blocked conflicts' paths: the ancestor stays as it was under each. */
  readonly blockedPaths: readonly string[];
  /** What the restarted container says about its paths; undefined when it could not tell. */
  readonly facts: RestartFacts | undefined;
  readonly volumes: RebaseVolumes;
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
  const { facts } = options;
  const mounts = facts?.mounts ?? [];
  const survived = [...options.blockedPaths, ...(options.volumes === 'kept' ? mounts : [])];
  const changed = new Set(facts?.changed);
  const known = facts?.changed !== undefined;
  const rebased = new Map<string, Entry>();
  for (const path of [...ancestor.keys()].sort(comparePaths)) {
    if (path !== ROOT && rebased.get(parentPath(path))?.kind !== 'directory') continue;
    const old = ancestor.get(path);
    const current = remote.get(path);
    let entry: Entry | undefined;
    if (survived.some((base) => isWithin(path, base))) entry = old;
    else if (old?.kind === 'directory' && current?.kind === 'directory') entry = current;
    else if (known && !changed.has(path) && !mounts.some((base) => isWithin(path, base))) {
      entry = current;
    }
    if (entry !== undefined) rebased.set(path, entry);
  }
  return rebased;
}
