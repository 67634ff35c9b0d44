/**
 * Test helpers for building snapshots from a compact description, shared by the core's tests and
 * the filesystem tests. A description maps paths to: `{}` (a directory), `'->target'` (a
 * symlink), `'name*'` (an executable file whose digest is `name`) or `'name'` (a file). The root
 * and missing parent directories are added.
 */
import { DIRECTORY, type Entry } from './entry.ts';
import { ROOT, parentPath, validatePath } from './path.ts';
import type { Snapshot } from './snapshot.ts';

/** A compact snapshot description (see the module comment). */
export type SnapshotDescription = Readonly<Record<string, string | Record<string, never>>>;

/** Builds one entry from its compact description. */
export function describedEntry(value: string | Record<string, never>): Entry {
  if (typeof value !== 'string') return DIRECTORY;
  if (value.startsWith('->')) return { kind: 'symlink', target: value.slice(2) };
  const executable = value.endsWith('*');
  const digest = executable ? value.slice(0, -1) : value;
  return { kind: 'file', digest, executable, size: digest.length };
}

/** Builds a snapshot (with its root and parent directories) from a description. */
export function snapshotOf(description: SnapshotDescription): Map<string, Entry> {
  const snapshot = new Map<string, Entry>([[ROOT, DIRECTORY]]);
  for (const [rawPath, value] of Object.entries(description)) {
    const path = validatePath(rawPath);
    for (let p = parentPath(path); p !== ROOT; p = parentPath(p)) snapshot.set(p, DIRECTORY);
    snapshot.set(path, describedEntry(value));
  }
  return snapshot;
}

/** The inverse of `snapshotOf` for readable assertion diffs (parents and root are kept). */
export function describeSnapshot(snapshot: Snapshot): Record<string, string> {
  const out: Record<string, string> = {};
  for (const path of [...snapshot.keys()].sort()) {
    const entry = snapshot.get(path) as Entry;
    out[path] =
      entry.kind === 'directory'
        ? '/'
        : entry.kind === 'symlink'
          ? `->${entry.target}`
          : `${entry.digest}${entry.executable ? '*' : ''}`;
  }
  return out;
}
