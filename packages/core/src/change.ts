/**
 * Changes, problems and apply results: what reconcile asks an endpoint to do and what it reports
 * back.
 */
import type { Entry } from './entry.ts';

/**
 * One path's transition from `old` (what the engine believes is on disk, per the latest scan) to
 * `new`. Changes are flat: removing a directory is a change per descendant (deepest first) plus
 * one for the directory. An endpoint refuses a change whose `old` no longer matches the disk.
 */
export interface Change {
  readonly path: string;
  readonly old: Entry | undefined;
  readonly new: Entry | undefined;
}

/** A non-fatal issue with one path (unreadable, permission denied, bad name, modified meanwhile). */
export interface Problem {
  readonly path: string;
  readonly message: string;
  /** The side the problem is on; the session controller fills it in for endpoint problems. */
  readonly side?: 'local' | 'remote';
}

/** What an endpoint did with a batch of changes. */
export interface ApplyResult {
  /** The changes that landed, each exactly as requested. */
  readonly applied: readonly Change[];
  /** One entry per change that did not land, and why. Nothing was changed at those paths. */
  readonly problems: readonly Problem[];
}
