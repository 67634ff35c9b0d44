/**
 * Echo suppression: telling the watcher's reports of our own writes apart from edits, so that an
 * endpoint does not announce "this side changed" (the agent's `changed` push, and the cycle the
 * session then runs) for what its own apply just wrote.
 *
 * The rule is state-based, like the rest of the cache (apply.ts invariant 5), with no time windows:
 * a batch of dirty paths is an echo only when a scan of those paths run now would find nothing to
 * report, judged by the same facts the scan uses:
 * - a file or symlink: its lstat matches the record (type, inode, mode, size, mtime, ctime) and the
 *   record is not racy (a racy record needs a hash, which is the scan's job);
 * - a directory: its lstat matches the record, its listing holds exactly the recorded children
 *   (temp names and ignored names aside), and each child passes the file rule above (a dirty
 *   directory's scan re-lstat's its children, so this covers what chokidar may not have reported);
 * - an absent path: absent from the cache as well (our own removal).
 * Anything else (no cache yet, an unknown path, a problem, a racy record, an error) is not an echo.
 *
 * Why nothing is lost: the check only decides whether to announce now. A write by anyone after the
 * check raises a new watcher event, which is checked again; a write before the check shows in the
 * lstat the check takes (a write sets mtime and ctime to one time, so it cannot reproduce a
 * non-racy record's pair). So a suppressed batch is one the next scan would have found unchanged.
 */
import { lstatSync, readdirSync, type BigIntStats } from 'node:fs';
import { ROOT, TEMP_PREFIX, joinPath, type IgnoreMatcher } from '@ksync/core';
import { absolutePath } from './safe-path.ts';
import { recordMatches, type StatCache } from './stat-cache.ts';

/**
 * At most this many lstats per check: a batch that needs more (a large directory relisted) is
 * announced, as before, rather than checked on the event loop at length.
 */
export const ECHO_CHECK_BUDGET = 2_000;

/** What `isOwnEcho` reads. */
export interface EchoCheckContext {
  readonly root: string;
  readonly cache: StatCache;
  readonly matcher: IgnoreMatcher;
}

/** True when every path of the batch shows exactly what the cache holds (see the module comment). */
export function isOwnEcho(ctx: EchoCheckContext, paths: readonly string[]): boolean {
  const budget = { left: ECHO_CHECK_BUDGET };
  try {
    return paths.every((path) => pathIsRecorded(ctx, path, budget));
  } catch {
    return false;
  }
}

function pathIsRecorded(ctx: EchoCheckContext, path: string, budget: { left: number }): boolean {
  const stats = lstatOnBudget(ctx, path, budget);
  const record = ctx.cache.get(path);
  if (stats === undefined || record === undefined) return stats === record;
  if (!recordMatches(record, stats)) return false;
  if (record.entry.kind !== 'directory') return !record.racy;
  const recorded = ctx.cache.children(path);
  let seen = 0;
  for (const dirent of readdirSync(absolutePath(ctx.root, path), { withFileTypes: true })) {
    if (dirent.name.startsWith(TEMP_PREFIX)) continue;
    const child = path === ROOT ? dirent.name : joinPath(path, dirent.name);
    if (!recorded.has(dirent.name)) {
      if (ctx.matcher.ignores(child, dirent.isDirectory())) continue;
      return false;
    }
    seen++;
    const childRecord = ctx.cache.get(child);
    const childStats = lstatOnBudget(ctx, child, budget);
    if (childRecord === undefined || childStats === undefined) return false;
    if (!recordMatches(childRecord, childStats) || childRecord.racy) return false;
  }
  return seen === recorded.size;
}

/** The lstat of `path`, undefined when absent; throws once the budget is spent. */
function lstatOnBudget(
  ctx: EchoCheckContext,
  path: string,
  budget: { left: number },
): BigIntStats | undefined {
  if (--budget.left < 0) throw new Error('echo check budget spent');
  return lstatSync(absolutePath(ctx.root, path), { bigint: true, throwIfNoEntry: false });
}
