/**
 * The endpoint interface: one side of a sync. The filesystem implements it (packages/fs), and the
 * agent serves that same implementation over the WebSocket to a remote client that implements it
 * again. The session controller only ever holds two `Endpoint`s and never knows which kind.
 * Content moves as async iterables of byte chunks so that both a local file stream and a wire
 * stream fit, in bounded memory.
 */
import type { ApplyResult, Change, Problem } from './change.ts';
import type { ContentRequest } from './content-stream.ts';
import type { Snapshot } from './snapshot.ts';
import type { SnapshotChanges } from './snapshot-mirror.ts';

/**
 * What a scan found. A result is valid until the endpoint's next scan: an endpoint may hand out
 * the same map every time, updated in place (see snapshot-mirror.ts), so that a scan costs
 * O(changes) and not a copy of the tree.
 */
export interface ScanResult {
  /** The side's state. No `''` key means the root does not exist. */
  readonly snapshot: Snapshot;
  /**
   * Exactly the paths whose entry differs from this endpoint's previous scan result, each with
   * the entry it had there (undefined: absent). Absent when the endpoint cannot tell (its first
   * scan, a reconnect, an endpoint that does not track it): the controller then compares every
   * path. With it, the controller reconciles only what changed.
   */
  readonly changes?: SnapshotChanges;
  /** Paths that could not be read or are not synchronizable; they are absent from `snapshot`. */
  readonly problems: readonly Problem[];
  /**
   * The user ignore patterns this side scanned with, when the side reads its own rules (the
   * local root's `.ksyncignore`). The controller hands them to the other side's scans, so both
   * sides always ignore the same paths.
   */
  readonly ignore?: readonly string[];
}

/** Options for `Endpoint.scan`. */
export interface ScanOptions {
  /**
   * Rescan everything instead of only the paths the endpoint's watcher marked dirty since the
   * previous scan. The endpoint also falls back to a full scan by itself when its watcher lost
   * events (overflow, error, first scan).
   */
  readonly full: boolean;
  /**
   * The complete user ignore patterns to scan with (on top of the defaults), replacing the side's
   * own. A change of patterns makes the side rescan everything under the new rules.
   */
  readonly ignore?: readonly string[];
  /**
   * What the side most likely holds (the controller passes the ancestor with its full scans). An
   * endpoint that must send its state somewhere may send only where the state differs from this
   * (the agent client on a new connection); it never changes the result.
   */
  readonly expected?: Snapshot;
}

/**
 * Content that travels with an `apply`: the new content of some of its file changes, as one
 * content stream (content-stream.ts) in the order of `indexes`.
 */
export interface ApplyContent {
  /**
   * Ascending indexes into the applied changes, each a change to a file; the stream carries the
   * content of `changes[i].new` for each, in this order.
   */
  readonly indexes: readonly number[];
  readonly stream: AsyncIterable<Uint8Array>;
}

/**
 * What a side that was just replaced by a fresh copy of its image (a restarted container) says
 * about its paths, so that a rebase (rebase.ts) can tell the image's files from edits made in the
 * container. Paths are root-relative.
 */
export interface RestartFacts {
  /**
   * Where another filesystem than the container's own root is mounted (a volume), each covering
   * its subtree; ROOT when the root itself is on one. Volumes survive a restart.
   */
  readonly mounts: readonly string[];
  /**
   * Paths outside the mounts changed since the container started (their ctime is not older than
   * its start, both by the node's clock); undefined when they were too many to list.
   */
  readonly changed: readonly string[] | undefined;
}

/** A listener for "something may have changed on this side". */
export type ChangeListener = () => void;

/** One side of a sync session. */
export interface Endpoint {
  /** Scans the side (incrementally unless `full`) and returns its current state. */
  scan(options: ScanOptions): Promise<ScanResult>;

  /** Calls `listener` whenever the side may have changed; returns a function that unsubscribes. */
  watch(listener: ChangeListener): () => void;

  /** Streams the content of the file at `path`; fails if its digest is no longer `digest`. */
  readContent(path: string, digest: string): AsyncIterable<Uint8Array>;

  /**
   * Streams the contents of `files` as one content stream (content-stream.ts), without verifying
   * them: the receiving `apply` hashes what it writes. A file that is gone or changed size is
   * sent as missing.
   */
  readContents(files: readonly ContentRequest[]): AsyncIterable<Uint8Array>;

  /**
   * Returns the subset of `digests` this side cannot provide locally. A side provides a digest
   * when a file in its root has that content (a rename, copy or branch switch then moves no
   * bytes).
   */
  missingContent(digests: readonly string[]): Promise<string[]>;

  /**
   * Signs the files this side holds (each `path` with content `digest` and `size`) for block
   * deltas (block-delta.ts): base64 of each packed signature, or undefined for a file that no
   * longer holds that content or is not worth a delta. The controller passes a signature as the
   * `base` of a `readContents` request on the other side. Optional: a side without it always
   * receives whole files.
   */
  readSignatures?(files: readonly ContentRequest[]): Promise<(string | undefined)[]>;

  /**
   * Applies changes in the given order (removals deepest first, then creations parents first).
   * Every file a change creates must have its content in `content` or present in the root; content
   * is verified against the digest as it is written. Each change is checked against the disk
   * first, and one that fails is reported and skipped; the rest go on. The content stream is read
   * to its end.
   */
  apply(changes: readonly Change[], content?: ApplyContent): Promise<ApplyResult>;

  /**
   * What the side knows about its paths after a container restart (see `RestartFacts`). Optional:
   * a side without it, or whose call fails, tells nothing, and a rebase then trusts no path.
   */
  readRestartFacts?(): Promise<RestartFacts>;

  /** Releases watchers, staged content and connections. */
  close(): Promise<void>;
}
