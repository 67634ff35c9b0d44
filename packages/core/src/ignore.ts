/**
 * Ignore rules in gitignore syntax, matched by the `ignore` package (the matcher used by eslint
 * and prettier; writing a correct gitignore matcher by hand is a known trap: negation, anchoring,
 * directory-only patterns). Ignored paths are neither scanned, sent nor deleted.
 */
import ignore from 'ignore';

/** Prefix of every temp file ksync writes; scans and watchers never report such names. */
export const TEMP_PREFIX = '.ksync-tmp-';

/** Name of the ignore file read from the local sync root. */
export const IGNORE_FILE = '.ksyncignore';

/**
 * Always-on defaults: version-control directories, editor swap/backup/lock files and our own temp
 * files. Editors' save sequences (vim's 4913 probe and `~` backups, JetBrains `___jb_tmp___`,
 * Emacs `.#lock` symlinks and `#autosave#`) would otherwise show up as spurious changes.
 */
export const DEFAULT_IGNORES: readonly string[] = [
  '.git/',
  '.hg/',
  '.svn/',
  `${TEMP_PREFIX}*`,
  '*.swp',
  '*.swo',
  '*.swx',
  '*~',
  '4913',
  '.#*',
  '#*#',
  '*___jb_tmp___',
  '*___jb_old___',
];

/** Decides whether a sync path is ignored. */
export interface IgnoreMatcher {
  /** True when `path` (a non-root sync path) is ignored; `isDirectory` enables `dir/` patterns. */
  ignores(path: string, isDirectory: boolean): boolean;
}

/** Builds a matcher from the defaults plus user patterns (options first, then `.ksyncignore` lines). */
export function createIgnoreMatcher(patterns: readonly string[]): IgnoreMatcher {
  const matcher = ignore().add([...DEFAULT_IGNORES, ...patterns]);
  return {
    ignores(path, isDirectory) {
      return matcher.ignores(isDirectory ? `${path}/` : path);
    },
  };
}

/**
 * Splits an ignore file's text into patterns. Blank and comment lines match nothing, so they are
 * dropped: the pattern list then says exactly what changed when the file is edited, and stays
 * under the wire's pattern limit.
 */
export function parseIgnoreFile(text: string): string[] {
  return text.split(/\r?\n/).filter((line) => line.trim() !== '' && !line.startsWith('#'));
}

/** True when two pattern lists are the same rules in the same order. */
export function samePatterns(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((p, i) => p === b[i]);
}

/**
 * The paths of `snapshot` that `matcher` ignores, with their whole subtrees (a scan never
 * descends into an ignored directory, so neither may a snapshot kept from older rules).
 */
export function ignoredPaths(
  snapshot: ReadonlyMap<string, { readonly kind: string }>,
  matcher: IgnoreMatcher,
): string[] {
  const out: string[] = [];
  for (const [path, entry] of snapshot) {
    // '' is the root: never ignored. The matcher checks each parent directory itself.
    if (path !== '' && matcher.ignores(path, entry.kind === 'directory')) out.push(path);
  }
  return out;
}
