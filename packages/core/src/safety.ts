/**
 * Safety halts: global checks on a reconcile result before anything is applied. They catch what a
 * per-path merge cannot tell from a user's intent: a container that restarted without a volume
 * (its side's root suddenly empty), a root that vanished, or a cycle that would delete far more
 * than anyone edits at once. A halt is a session state, not an error; it lasts until the user
 * resumes (accepting the change once) or resets (forgetting the ancestor).
 */
import type { Change } from './change.ts';
import type { ReconcileResult } from './reconcile.ts';
import { ROOT, comparePaths, parentPath } from './path.ts';
import type { Snapshot } from './snapshot.ts';

/** Why a session halted. */
export type HaltReason = 'root-deleted' | 'root-emptied' | 'deletion-bound';

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

/** What a halted cycle would have done: for the message, and for a preview of what would go. */
export interface HaltDetail {
  readonly reason: HaltReason;
  /** The side that would lose files ('both' when each side would). */
  readonly side: 'local' | 'remote' | 'both';
  /** Files the cycle would delete, both sides together. */
  readonly deletions: number;
  /** The most files a cycle may delete without halting. */
  readonly bound: number;
  /** The first files (at most 20, sorted) it would delete, each with its side. */
  readonly preview: readonly { readonly side: 'local' | 'remote'; readonly path: string }[];
}

/** Describes the halt `checkSafety` decided on for `input`. */
export function describeHalt(input: SafetyInput, reason: HaltReason): HaltDetail {
  const deleted = (changes: readonly Change[], side: 'local' | 'remote') =>
    changes
      .filter((c) => c.old?.kind === 'file' && c.new?.kind !== 'file')
      .map((c) => ({ side, path: c.path }));
  const local = deleted(input.result.localChanges, 'local');
  const remote = deleted(input.result.remoteChanges, 'remote');
  const rootGoes = (changes: readonly Change[]) =>
    changes.some((c) => c.path === ROOT && c.new === undefined);
  const losesLocal = local.length > 0 || rootGoes(input.result.localChanges);
  const losesRemote = remote.length > 0 || rootGoes(input.result.remoteChanges);
  return {
    reason,
    side: losesLocal && losesRemote ? 'both' : losesLocal ? 'local' : 'remote',
    deletions: local.length + remote.length,
    bound: input.deletionBound,
    preview: [...local, ...remote].sort((a, b) => comparePaths(a.path, b.path)).slice(0, 20),
  };
}

/**
 * True when the ancestor had content under the root, none of its top-level entries is left on
 * the side, and the side holds less than half as many entries as the ancestor. New top-level
 * entries alone do not make a root look alive: a container that restarted without a volume and
 * whose app already wrote a file or two has still lost everything that was synced. The size
 * condition keeps renaming every top-level entry (a lone `src/` becoming `lib/`) from halting.
 */
function emptied(ancestor: Snapshot, side: Snapshot): boolean {
  // The size condition first: it is O(1), and it is what keeps a cycle that deletes one file in a
  // large tree from walking the ancestor's keys.
  if (!side.has(ROOT) || (side.size - 1) * 2 >= ancestor.size - 1) return false;
  let hadContent = false;
  for (const path of ancestor.keys()) {
    if (path === ROOT || parentPath(path) !== ROOT) continue;
    if (side.has(path)) return false;
    hadContent = true;
  }
  return hadContent;
}

function removesAny(changes: readonly Change[]): boolean {
  return changes.some((c) => c.old !== undefined && c.new === undefined);
}
