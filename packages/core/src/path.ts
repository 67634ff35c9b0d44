/**
 * Sync paths. A sync path is POSIX, relative to the sync root, NFC-normalized, with no empty, `.`
 * or `..` components, no NUL and no backslash. The root itself is the empty string. Every path
 * that enters the engine from outside (a scan, the wire, the user) goes through `validatePath`,
 * so code past that point may assume these invariants.
 */
import { PathError } from './errors.ts';

/** The longest path accepted, in UTF-16 code units (Linux PATH_MAX is 4096 bytes). */
export const MAX_PATH_LENGTH = 4096;

/** The sync root's own path. */
export const ROOT = '';

/** Checks `path` and returns it NFC-normalized; throws `PathError` on anything invalid. */
export function validatePath(path: string): string {
  if (typeof path !== 'string') throw new PathError(String(path), 'not a string');
  if (path === ROOT) return ROOT;
  if (path.length > MAX_PATH_LENGTH) throw new PathError(path.slice(0, 64) + '…', 'too long');
  if (path.includes('\0')) throw new PathError(path, 'contains NUL');
  if (path.includes('\\')) throw new PathError(path, 'contains a backslash');
  if (path.startsWith('/')) throw new PathError(path, 'is absolute');
  const normalized = path.normalize('NFC');
  for (const part of normalized.split('/')) {
    if (part === '') throw new PathError(path, 'has an empty component');
    if (part === '.' || part === '..') throw new PathError(path, `has a "${part}" component`);
  }
  return normalized;
}

/** Joins a validated parent path and one validated name. */
export function joinPath(parent: string, name: string): string {
  return parent === ROOT ? name : `${parent}/${name}`;
}

/** The parent of a non-root path (the root for a top-level name). */
export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? ROOT : path.slice(0, i);
}

/** The last component of a non-root path. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** True when `path` is `base` itself or lies below it. */
export function isWithin(path: string, base: string): boolean {
  return base === ROOT || path === base || path.startsWith(base + '/');
}

/** Number of components; the root has depth 0. */
export function pathDepth(path: string): number {
  if (path === ROOT) return 0;
  let depth = 1;
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 47) depth++;
  return depth;
}

/**
 * Orders paths so that a directory comes right before its own descendants (a pre-order walk):
 * components are compared one by one, so `a/b` sorts before `a-c` even though `/` > `-` in
 * plain string order.
 */
export function comparePaths(a: string, b: string): number {
  const pa = a === ROOT ? [] : a.split('/');
  const pb = b === ROOT ? [] : b.split('/');
  const n = Math.min(pa.length, pb.length);
  for (let i = 0; i < n; i++) {
    const x = pa[i] as string;
    const y = pb[i] as string;
    if (x !== y) return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}
