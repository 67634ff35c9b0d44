/**
 * Confined path resolution. The agent serves container roots (through /proc/<pid>/root/...),
 * where a container process may plant symlinks, including absolute ones that the kernel would
 * resolve against the node's own root. So no component below the sync root is ever followed:
 * every parent component is lstat'ed and must be a real directory, and the final component is
 * only ever touched by calls that do not follow it (lstat, readlink, link, rename, unlink, rmdir,
 * mkdir, open with O_NOFOLLOW).
 *
 * TOCTOU limits: between the lstat of a parent and the later syscall on the full path, a process
 * inside the root can swap a checked directory for a symlink, and the kernel would follow it.
 * Closing that window needs openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) or a helper that
 * setns()/chroots into the container's mount namespace; Node exposes neither. The window is a few
 * microseconds per operation and needs an attacker racing us with knowledge of our path order;
 * the final component (the one we create or replace) is never followed, so the swap has to hit
 * a parent. The agent should still run the endpoint inside the container's mount namespace when
 * it can, which makes this check defence in depth rather than the only line.
 */
import { lstatSync } from 'node:fs';
import { PathError, ROOT, validatePath, type Problem } from '@ksync/core';

/** A confined path resolution: the absolute path, or why it was refused. */
export type ConfinedPath =
  | { readonly ok: true; readonly path: string; readonly absolute: string }
  | { readonly ok: false; readonly problem: Problem };

/** Joins the root and a validated sync path into an absolute path (no checks, no I/O). */
export function absolutePath(root: string, path: string): string {
  return path === ROOT ? root : `${root}/${path}`;
}

/**
 * Validates `path` and lstat's the root and every parent component below it; returns the
 * absolute path only when each of them is a real directory (not a symlink). The final component
 * is not checked (it may be absent, or be what the caller is about to replace).
 */
export function resolveConfined(root: string, path: string): ConfinedPath {
  let valid: string;
  try {
    valid = validatePath(path);
  } catch (error) {
    const message = error instanceof PathError ? error.message : String(error);
    return { ok: false, problem: { path: String(path), message } };
  }
  if (valid !== path) {
    return { ok: false, problem: { path, message: 'path is not NFC-normalized' } };
  }
  const parts = valid === ROOT ? [] : valid.split('/');
  let current = root;
  // The root itself is checked too when the path is below it: it must be a directory, and the
  // caller (CLI: realpath; agent: resolveConfined from the container root) made it trusted.
  for (let i = 0; i < parts.length; i++) {
    const problem = checkDirectory(current, valid, i === 0 ? 'sync root' : 'parent');
    if (problem) return { ok: false, problem };
    current = `${current}/${parts[i] as string}`;
  }
  return { ok: true, path: valid, absolute: current };
}

function checkDirectory(absolute: string, path: string, what: string): Problem | undefined {
  let stats;
  try {
    stats = lstatSync(absolute);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { path, message: `${what} ${absolute} is not accessible (${code ?? 'error'})` };
  }
  if (stats.isSymbolicLink()) {
    return { path, message: `${what} ${absolute} is a symlink; refusing to follow it` };
  }
  if (!stats.isDirectory()) return { path, message: `${what} ${absolute} is not a directory` };
  return undefined;
}
