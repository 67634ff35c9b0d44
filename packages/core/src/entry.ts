/**
 * Entries: what the engine knows about one path. Only content is synchronized: a file's digest
 * and executable bit, a symlink's target, a directory's existence. Mtimes, owners and other mode
 * bits are deliberately not part of the model (as in Mutagen and Unison), so they never cause
 * conflicts; the filesystem side uses them only in its stat cache.
 */

/** A directory; its children are separate entries keyed by their own paths. */
export interface DirectoryEntry {
  readonly kind: 'directory';
}

/** A regular file, identified by its content digest and executable bit. */
export interface FileEntry {
  readonly kind: 'file';
  /** Hex SHA-256 of the content. */
  readonly digest: string;
  readonly executable: boolean;
  /** Content length in bytes; derived from the content, so not compared. */
  readonly size: number;
}

/** A symbolic link, identified by its target text (always relative and inside the root). */
export interface SymlinkEntry {
  readonly kind: 'symlink';
  readonly target: string;
}

/** One path's state; `undefined` stands for absence everywhere in the engine. */
export type Entry = DirectoryEntry | FileEntry | SymlinkEntry;

/** Entry kinds, in a stable order. */
export type EntryKind = Entry['kind'];

/** The one directory entry value. */
export const DIRECTORY: DirectoryEntry = Object.freeze({ kind: 'directory' });

/**
 * True when two (possibly absent) entries are the same at this path. Sizes are not compared: they
 * follow from the digest.
 */
export function entriesEqual(a: Entry | undefined, b: Entry | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.kind !== b.kind) return false;
  switch (a.kind) {
    case 'directory':
      return true;
    case 'file':
      return a.digest === (b as FileEntry).digest && a.executable === (b as FileEntry).executable;
    case 'symlink':
      return a.target === (b as SymlinkEntry).target;
  }
}

/** A short human description of an entry, for conflict listings. */
export function describeEntry(entry: Entry | undefined): string {
  if (entry === undefined) return 'absent';
  switch (entry.kind) {
    case 'directory':
      return 'directory';
    case 'file':
      return `file ${entry.digest.slice(0, 12)}${entry.executable ? ' (executable)' : ''}, ${entry.size} bytes`;
    case 'symlink':
      return `symlink -> ${entry.target}`;
  }
}
