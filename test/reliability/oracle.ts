/**
 * The oracle of every write. A harness that edits both sides of a sync records each version it
 * wrote here (path, content digest, side, time, and whether the write is known to have landed);
 * at the end `judgeSync` decides, from the two final trees and the conflict store alone, whether
 * anything was lost. It knows nothing of how ksync works, so it can judge ksync.
 *
 * The rules, per path. Only writes that count are considered: those known to have landed, and
 * failed ones (an exec cut by the fault itself) whose content is seen at the end; a failed write
 * whose content is nowhere may never have happened, and is counted as uncertain.
 * - A write is superseded when another write on the path certainly came after it (started
 *   after it returned). Superseded versions may be gone: a later edit replaced them.
 * - The rest, the path's last writes, overlap each other in time; any of them may be the last.
 *   The path is fine when both sides hold one of them (for a deletion: the path is gone on both
 *   sides). Each of them that is neither there nor kept by a conflict on the path or a parent
 *   (saved in the conflict store, or still on one side) is lost unless another of them is there.
 * - A path whose two sides differ at the end, without a conflict on it, is diverged: the sync
 *   did not converge, and that fails the judgement too.
 * - A deletion that is the path's only last write, with the path still present, was not
 *   propagated: reported, but no content is lost.
 * Nothing else may change: `judgeSentinels` compares the trees beside both roots with their
 * state before the run.
 */
import { createHash } from 'node:crypto';

/** The two sides of a sync. */
export type Side = 'local' | 'remote';

/** One write the harness made: a file's new content, or its deletion (`digest` undefined). */
export interface WriteRecord {
  readonly side: Side;
  /** Slash-separated, relative to the sync root. */
  readonly path: string;
  /** Hex SHA-256 of what was written; undefined for a deletion. */
  readonly digest: string | undefined;
  /** When the write was issued and when it returned (ms since the epoch). */
  readonly start: number;
  readonly end: number;
  /** False when the command reported failure: the write may or may not have happened. */
  readonly landed: boolean;
}

/** A tree as the oracle sees it: path → content digest, files only. */
export type DigestTree = ReadonlyMap<string, string>;

/** A conflict ksync recorded: its path and the digests of the versions it saved aside. */
export interface SavedVersions {
  readonly path: string;
  /** Digests of the files the conflict store keeps for it (the overwritten side's versions). */
  readonly digests: readonly string[];
}

/** What the oracle found. `ok` is true only when nothing is lost, diverged or outside. */
export interface Verdict {
  readonly ok: boolean;
  /** Writes recorded (deletions included). */
  readonly written: number;
  readonly lost: readonly WriteRecord[];
  /** Paths whose two sides differ at the end with no conflict recorded on them. */
  readonly diverged: readonly string[];
  /** Failed writes whose content is nowhere: they may never have happened. */
  readonly uncertain: number;
  /** Paths deleted last by the harness that are still present on a side. */
  readonly unpropagatedDeletions: readonly string[];
  /** Versions accounted for only because a conflict kept them. */
  readonly savedByConflict: number;
}

/** Hex SHA-256 of `content`, the digest ksync and the oracle both use. */
export function digestOf(content: string | Uint8Array): string {
  return createHash('sha256').update(content).digest('hex');
}

/** Records every write of a run, in the order they returned. */
export class WriteLog {
  readonly #records: WriteRecord[] = [];
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** The log's clock: read it before a write and pass it to `record` as `start`. */
  now(): number {
    return this.#now();
  }

  /**
   * Records that `side` wrote `content` to `path` (or deleted it, for undefined; or wrote content
   * of a known digest, made where it was written), having issued the write at `start` (default:
   * now, for a write that returned at once).
   */
  record(options: {
    side: Side;
    path: string;
    content: string | { digest: string } | undefined;
    landed: boolean;
    start?: number;
  }): void {
    const { side, path, content, landed } = options;
    const end = this.#now();
    this.#records.push({
      side,
      path,
      digest:
        typeof content === 'object'
          ? content.digest
          : content === undefined
            ? undefined
            : digestOf(content),
      start: options.start ?? end,
      end,
      landed,
    });
  }

  /** Every record so far. */
  records(): readonly WriteRecord[] {
    return this.#records;
  }

  /** Writes recorded since `from` (a count from an earlier `records().length`). */
  since(from: number): readonly WriteRecord[] {
    return this.#records.slice(from);
  }
}

/** Judges a run from its writes, both final trees and the conflicts ksync kept. */
export function judgeSync(input: {
  writes: readonly WriteRecord[];
  local: DigestTree;
  remote: DigestTree;
  conflicts: readonly SavedVersions[];
}): Verdict {
  const { writes, local, remote, conflicts } = input;
  const saved = new Map<string, Set<string>>();
  for (const c of conflicts) {
    const set = saved.get(c.path) ?? new Set<string>();
    for (const d of c.digests) set.add(d);
    saved.set(c.path, set);
  }
  // Under a conflict, a version is kept when the store saved it, or when either side still
  // holds it (a blocked conflict leaves each side's version where it is).
  const savedAt = (path: string, digest: string): boolean =>
    [...saved].some(
      ([p, digests]) =>
        (path === p || path.startsWith(`${p}/`)) &&
        (digests.has(digest) || local.get(path) === digest || remote.get(path) === digest),
    );
  const seen = (path: string, digest: string): boolean =>
    local.get(path) === digest || remote.get(path) === digest || savedAt(path, digest);

  const byPath = new Map<string, WriteRecord[]>();
  for (const w of writes) byPath.set(w.path, [...(byPath.get(w.path) ?? []), w]);

  const lost: WriteRecord[] = [];
  const unpropagated: string[] = [];
  let uncertain = 0;
  let savedByConflict = 0;
  for (const [path, list] of byPath) {
    const counted = list.filter((w) => {
      const real = w.landed || (w.digest !== undefined && seen(path, w.digest));
      if (!real) uncertain++;
      return real;
    });
    const last = counted.filter((w) => !counted.some((l) => l.start > w.end));
    const holds = (w: WriteRecord): boolean =>
      w.digest === undefined
        ? !local.has(path) && !remote.has(path)
        : local.get(path) === w.digest && remote.get(path) === w.digest;
    if (last.some(holds)) continue;
    for (const w of last) {
      if (w.digest === undefined) {
        if (last.length === 1) unpropagated.push(path);
      } else if (savedAt(path, w.digest)) {
        savedByConflict++;
      } else {
        lost.push(w);
      }
    }
  }

  const diverged: string[] = [];
  for (const path of new Set([...local.keys(), ...remote.keys()])) {
    if (local.get(path) === remote.get(path)) continue;
    if ([...saved.keys()].some((p) => path === p || path.startsWith(`${p}/`))) continue;
    diverged.push(path);
  }
  diverged.sort();
  return {
    ok: lost.length === 0 && diverged.length === 0,
    written: writes.length,
    lost,
    diverged,
    uncertain,
    unpropagatedDeletions: unpropagated.sort(),
    savedByConflict,
  };
}

/** The changes between a sentinel tree before and after a run: any is a write outside the root. */
export function judgeSentinels(before: DigestTree, after: DigestTree): string[] {
  const changed: string[] = [];
  for (const path of new Set([...before.keys(), ...after.keys()])) {
    if (before.get(path) !== after.get(path)) changed.push(path);
  }
  return changed.sort();
}
