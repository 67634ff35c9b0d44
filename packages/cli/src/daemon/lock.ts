/**
 * The home lock: one writer at a time. The lock file holds the holder's pid; a lock whose pid is
 * dead (a watch killed with -9) is stale and taken over. Creation is atomic (`link` of a temp
 * file holding our pid), so two processes never both believe they hold a fresh lock.
 */
import { linkSync, readFileSync, unlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { hasCode } from '../errors.ts';

/** A held lock. */
export interface HeldLock {
  readonly path: string;
  release(): void;
}

/** The outcome of one attempt. */
export type LockAttempt = { readonly held: HeldLock } | { readonly holder: number };

/** Tries once to take the lock at `path`; reports the live holder's pid when it is taken. */
export function tryLock(path: string, pid: number = process.pid): LockAttempt {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${pid}.${Math.random().toString(36).slice(2)}`;
  writeFileSync(temp, `${pid}\n`, { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkSync(temp, path);
        return { held: heldLock(path, pid) };
      } catch (error) {
        if (!hasCode(error, 'EEXIST')) throw error;
      }
      const holder = readPid(path);
      if (holder !== undefined && holder !== pid && isAlive(holder)) return { holder };
      // Stale (dead holder, or unreadable): remove it only if it still is the file we judged.
      if (readPid(path) === holder) {
        try {
          unlinkSync(path);
        } catch (error) {
          if (!hasCode(error, 'ENOENT')) throw error;
        }
      }
    }
    return { holder: readPid(path) ?? 0 };
  } finally {
    unlinkSync(temp);
  }
}

function heldLock(path: string, pid: number): HeldLock {
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      // Only remove the file if it is still ours.
      if (readPid(path) === pid) {
        try {
          unlinkSync(path);
        } catch (error) {
          if (!hasCode(error, 'ENOENT')) throw error;
        }
      }
    },
  };
}

/** The pid recorded in a lock or pid file, or undefined when missing or unreadable. */
export function readPid(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch (error) {
    if (hasCode(error, 'ENOENT')) return undefined;
    throw error;
  }
}

/** Whether a process with this pid exists (EPERM means it exists but is not ours). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return hasCode(error, 'EPERM');
  }
}
