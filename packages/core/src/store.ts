/**
 * Persistence interfaces for a session: the ancestor (last agreed state), the conflict list and
 * the losing versions kept for conflicts. The CLI implements them on disk (packages/fs, nedb);
 * tests may use in-memory ones.
 */
import type { Entry, FileEntry } from './entry.ts';
import type { Snapshot } from './snapshot.ts';

/** One ancestor update: `entry` undefined removes the path. */
export interface AncestorUpdate {
  readonly path: string;
  readonly entry: Entry | undefined;
}

/** How a conflict currently stands. */
export type ConflictState =
  /** The local version was applied to both sides; the remote version is kept in the conflict store. */
  | 'local-kept'
  /** Nothing was applied at this path (two-way-safe); it waits for `resolve`. */
  | 'blocked';

/** A disagreement the user may resolve. `path` is the root of the disagreeing subtree. */
export interface Conflict {
  readonly id: string;
  readonly path: string;
  readonly ancestor: Entry | undefined;
  readonly local: Entry | undefined;
  readonly remote: Entry | undefined;
  readonly state: ConflictState;
  /** When it was detected, in ms since the epoch (from the controller's clock). */
  readonly detectedAt: number;
  /** The remote files whose content the conflict store keeps (local-kept conflicts only). */
  readonly kept: readonly { readonly path: string; readonly entry: FileEntry }[];
}

/** Durable per-session state. Writes are ordered: a later call never lands before an earlier one. */
export interface SessionStore {
  loadAncestor(): Promise<Snapshot>;
  updateAncestor(updates: readonly AncestorUpdate[]): Promise<void>;
  clearAncestor(): Promise<void>;
  loadConflicts(): Promise<Conflict[]>;
  saveConflict(conflict: Conflict): Promise<void>;
  removeConflict(id: string): Promise<void>;
}

/** Keeps the content of the losing side's files for conflicts, outside both sync roots. */
export interface ConflictContentStore {
  /** Saves one file of conflict `conflictId` (its sync path is `path`). */
  save(conflictId: string, path: string, chunks: AsyncIterable<Uint8Array>): Promise<void>;
  /** Streams a saved file back. */
  read(conflictId: string, path: string): AsyncIterable<Uint8Array>;
  /** Deletes everything saved for the conflict. */
  remove(conflictId: string): Promise<void>;
  /** Where the conflict's files are kept, for showing to the user. */
  locate(conflictId: string): string;
}
