/**
 * Snapshot buckets: a snapshot cut into SNAPSHOT_BUCKETS groups by a hash of each path, with a
 * SHA-256 of each group's entries. On a connection's first scan the client sends the digests of
 * what it expects the agent to hold (the ancestor, after a restart of the daemon), and the agent
 * sends only the entries of the buckets whose digest differs from its own; the client keeps its
 * expected entries for every other bucket. A no-op restart of 100,000 files then moves 16 KB of
 * digests instead of the 14 MB snapshot, and one edit made while nothing ran moves one bucket.
 *
 * Correctness rests on the digest: a bucket is kept only when the SHA-256 of its entries, in path
 * order and in a serialization where no two different sets of entries look alike (see
 * `serialize`), is the same on both sides. The serialization is this module's own, so the
 * in-memory `Entry` may change without the two sides disagreeing (both run the same code: the
 * version handshake comes first).
 */
import { createHash } from 'node:crypto';
import { SNAPSHOT_BUCKETS, type Entry } from '@ksync/core';

/** The bucket of `path` (FNV-1a of its UTF-16 code units). */
export function bucketOf(path: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < path.length; i++) {
    hash ^= path.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % SNAPSHOT_BUCKETS;
}

/** A snapshot's entries grouped by bucket, each group sorted by path, with each group's digest. */
export interface Buckets {
  readonly entries: readonly [string, Entry][][];
  readonly digests: readonly string[];
}

/** Groups `snapshot` into buckets and digests each. */
export function bucketSnapshot(snapshot: Iterable<[string, Entry]>): Buckets {
  const entries: [string, Entry][][] = Array.from({ length: SNAPSHOT_BUCKETS }, () => []);
  for (const item of snapshot) entries[bucketOf(item[0])]?.push(item);
  const digests = entries.map((group) => {
    group.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const text = group.map(([path, entry]) => serialize(path, entry)).join('');
    return createHash('sha256').update(text).digest('hex');
  });
  return { entries, digests };
}

/**
 * One entry as NUL-separated fields. Neither paths nor symlink targets can hold a NUL, and each
 * kind has a fixed number of fields, so no two different lists of entries serialize alike.
 */
function serialize(path: string, entry: Entry): string {
  switch (entry.kind) {
    case 'directory':
      return `${path}\0d\0`;
    case 'file':
      return `${path}\0f\0${entry.digest}\0${entry.size}\0${entry.executable ? 1 : 0}\0`;
    case 'symlink':
      return `${path}\0l\0${entry.target}\0`;
  }
}
