/**
 * The paths changed since a moment, by ctime: what a rebase after a container restart needs to
 * tell the container's own edits from the image's files (core's rebase.ts). Unlike mtime, a ctime
 * cannot be set back: every write, chmod, rename or `touch -d` moves it to the kernel's current
 * time, so a path whose ctime is older than the moment was not changed since.
 *
 * The ctimes are the stat cache's, as the last scan recorded them, not fresh ones: they belong to
 * the very versions that scan reported, which are what a rebase classifies. A change after the
 * scan is seen by the next one, as a change.
 */
import { isWithin } from '@ksync/core';
import type { StatRecord } from './stat-cache.ts';

/** The changed paths found, in the order of the records; `truncated` when the bounds cut them. */
export interface ChangedPaths {
  readonly paths: string[];
  readonly truncated: boolean;
}

/** Which changed paths to report. */
export interface ChangedSinceOptions {
  /** Ns since the epoch; a path whose ctime is at or after it counts as changed. */
  readonly sinceNs: bigint;
  /** Subtrees to leave out (other mounts, which the rebase keeps whole anyway). */
  readonly skip: readonly string[];
  /** Most paths, and most UTF-8 bytes of paths, to report before giving up with `truncated`. */
  readonly maxPaths: number;
  readonly maxBytes: number;
}

/** The paths among `records` (a stat cache's) changed since `options.sinceNs` (pure). */
export function collectChangedSince(
  records: Iterable<readonly [string, StatRecord]>,
  options: ChangedSinceOptions,
): ChangedPaths {
  const paths: string[] = [];
  let bytes = 0;
  for (const [path, record] of records) {
    if (record.ctimeNs < options.sinceNs) continue;
    if (options.skip.some((base) => isWithin(path, base))) continue;
    // A path's JSON costs its bytes plus quotes and a comma (escapes are rare and bounded).
    bytes += Buffer.byteLength(path) + 3;
    if (paths.length === options.maxPaths || bytes > options.maxBytes) {
      return { paths, truncated: true };
    }
    paths.push(path);
  }
  return { paths, truncated: false };
}
