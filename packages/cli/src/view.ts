/**
 * What commands show: plain data shared by the running watch (sent over the control socket) and
 * the direct path. Field names and `state` values are stable for `-o json`.
 */
import type { ConflictState, Problem, SessionState, SessionStatus } from '@ksync/core';
import { SESSION_STATES } from '@ksync/core';

/**
 * A sync's state: a session state, `stopped` when no watch is syncing it, or `waiting` when a
 * Kubernetes sync has no running container to sync with.
 */
export type SyncState = SessionState | 'stopped' | 'waiting';

/** Descriptions for the terminal. */
export const SYNC_STATES: Readonly<Record<SyncState, string>> = {
  ...SESSION_STATES,
  stopped: 'not syncing; start with: ksync watch --daemon',
  waiting: 'waiting for a running container that matches',
};

/** One container a Kubernetes sync keeps in sync, as `get` shows it. */
export interface TargetView {
  readonly pod: string;
  readonly container: string;
  readonly node: string;
  readonly state: SyncState;
  readonly error?: string;
  readonly lastSync?: string;
  readonly files: number;
  readonly bytes: number;
  readonly conflicts: number;
  readonly problems: number;
  /** The outcome of the last reload hook run in this container. */
  readonly reload?: string;
  /** While content moves: how far this container's transfer is. */
  readonly transfer?: SessionStatus['transfer'];
  /** Connections made again after a drop or a failure since the watch started. */
  readonly reconnects: number;
  /** The latest failure, kept after the target recovered. */
  readonly lastError?: string;
}

/**
 * One sync as `ksync get` shows it: the session's counters as `SessionStatus` has them, plus
 * the spec and a state that also covers a sync nobody runs.
 */
export interface SyncView extends Pick<
  SessionStatus,
  | 'name'
  | 'mode'
  | 'files'
  | 'directories'
  | 'bytes'
  | 'conflicts'
  | 'problems'
  | 'transferredFiles'
  | 'transferredBytes'
  | 'transfer'
  | 'halt'
> {
  readonly local: string;
  readonly remote: string;
  readonly url: string;
  readonly paused: boolean;
  readonly state: SyncState;
  readonly description: string;
  /** The last error (failed cycle, unreachable agent). */
  readonly error?: string;
  /** When both sides were last seen in sync (ISO 8601). */
  readonly lastSync?: string;
  /** Connections made again after a drop or a failure since the watch started (summed over targets). */
  readonly reconnects: number;
  /** The latest failure, kept after the sync recovered (the newest over targets). */
  readonly lastError?: string;
  /** Kubernetes syncs: the containers being synced. */
  readonly targets?: readonly TargetView[];
}

/** One conflict as `ksync conflicts` shows it. */
export interface ConflictView {
  readonly sync: string;
  /** Kubernetes syncs: the container (`pod/container`) whose session holds the conflict. */
  readonly target?: string;
  /** True when that container is gone (its pod was deleted); only `--keep local` settles it. */
  readonly targetGone?: boolean;
  readonly id: string;
  /** The conflicting subtree's root, relative to the sync root ('' is the root itself). */
  readonly path: string;
  readonly state: ConflictState;
  readonly local: string;
  readonly remote: string;
  /** ISO 8601. */
  readonly detectedAt: string;
  /** Where the remote version is kept (local-kept conflicts). */
  readonly savedIn?: string;
}

/** What a flush reports. */
export interface FlushView {
  readonly name: string;
  readonly transferredFiles: number;
  readonly transferredBytes: number;
  readonly conflicts: number;
  readonly problems: readonly Problem[];
}
