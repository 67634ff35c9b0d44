/**
 * Safety halts: global checks on a reconcile result before anything is applied. They catch what a
 * per-path merge cannot tell from a user's intent: a container that restarted without a volume
 * (its side's root suddenly empty), a root that vanished, or a cycle that would delete far more
 * than anyone edits at once. A halt is a session state, not an error; it lasts until the user
 * resumes (accepting the change once) or resets (forgetting the ancestor).
 */
import type { Change } from './change.ts';
import type { ReconcileResult } from './reconcile.ts';
import { ROOT, parentPath } from './path.ts';
import type { Snapshot } from './snapshot.ts';

/** Why a session halted. */
export type HaltReason = 'root-deleted' | 'root-emptied' | 'deletion-bound';

/** A human description of each halt, with the way out. */
export const HALT_REASONS: Readonly<Record<HaltReason, string>> = {
  'root-deleted': 'a sync root was deleted; its deletion was not propagated',
  'root-emptied': 'a sync root was emptied (a container restart without a volume?); not propagated',
  'deletion-bound': 'this cycle would delete more files than the deletion bound allows',
};

/** Inputs of the safety check. */
export interface SafetyInput {
  readonly ancestor: Snapshot;
  readonly local: Snapshot;
  readonly remote: Snapshot;
  readonly result: ReconcileResult;
  /** Most files one cycle may delete across both sides without halting. */
  readonly deletionBound: number;
}

/** Returns the reason to halt before applying `result`, or undefined when it is safe. */
export function checkSafety(input: SafetyInput): HaltReason | undefined {
  const { ancestor, local, remote, result } = input;
  const all = [...result.localChanges, ...result.remoteChanges];
  if (all.some((c) => c.path === ROOT && c.new === undefined)) return 'root-deleted';
  if (
    (emptied(ancestor, local) && removesAny(result.remoteChanges)) ||
    (emptied(ancestor, remote) && removesAny(result.localChanges))
  ) {
    return 'root-emptied';
  }
  const deletedFiles = all.filter((c) => c.old?.kind === 'file' && c.new?.kind !== 'file').length;
  if (deletedFiles > input.deletionBound) return 'deletion-bound';
  return undefined;
}

/** True when the ancestor had content under the root and the side's root now has none. */
function emptied(ancestor: Snapshot, side: Snapshot): boolean {
  if (!side.has(ROOT)) return false;
  for (const path of side.keys()) if (path !== ROOT && parentPath(path) === ROOT) return false;
  for (const path of ancestor.keys()) if (path !== ROOT) return true;
  return false;
}

function removesAny(changes: readonly Change[]): boolean {
  return changes.some((c) => c.old !== undefined && c.new === undefined);
}
