/**
 * The seam between the agent's server and what it serves: a `RootResolver` turns an `open`
 * request into the absolute directory one connection's endpoint works on. Two implementations:
 * `directory.ts` (direct mode, below `--root`) and `container.ts` (a container's root through
 * `/proc/<pid>/root`, in the cluster).
 *
 * Ownership is not part of the answer: the endpoint gives each created path its parent
 * directory's owner, and seen through `/proc/<pid>/root` that is the owner inside the container,
 * which is what a non-root container needs to edit what was synced.
 */
import { lstatSync } from 'node:fs';
import { posix } from 'node:path';
import { validateRemoteRoot, wireError, type ClientMessage, type WireError } from '@ksync/core';
import { resolveConfined } from '@ksync/fs';
import { errorMessage } from '../errors.ts';

/** An `open` request. */
export type OpenRequest = Extract<ClientMessage, { type: 'open' }>;

/** A root the agent serves for one connection. */
export interface ServedRoot {
  /** Absolute directory (it may not exist yet: a first sync creates it). */
  readonly root: string;
  /** What was resolved, for the logs. */
  readonly fields: Readonly<Record<string, unknown>>;
  /** Undefined while the root may still be served, else why not; checked before each request. */
  check(): WireError | undefined;
  /**
   * What a rebase after a container restart needs from the container (core's rebase.ts): the
   * volumes mounted in the root and when the container started. Absent for a plain directory,
   * which never restarts. Throws when it cannot read them.
   */
  readRestartFacts?(): ContainerFacts;
}

/** A served container's volumes and start, for the `restart-facts` request. */
export interface ContainerFacts {
  /** Root-relative mount points of other filesystems than the container's root (ROOT: all). */
  readonly mounts: readonly string[];
  /** When the container's main process started, by the node's clock (ns since the epoch). */
  readonly startedAtNs: bigint;
}

/** A resolved root, or the refusal to send back. */
export type RootResolution =
  | { readonly ok: true; readonly served: ServedRoot }
  | { readonly ok: false; readonly error: WireError };

/** Maps an `open` request to the directory to serve. */
export interface RootResolver {
  resolve(open: OpenRequest): RootResolution;
}

/**
 * Resolves the remote root `remoteRoot` (`/app`) below the trusted directory `base` with the
 * confined resolver: no component is followed if it is a symlink, the last one included. `base`
 * must itself resolve to a directory when lstat'ed (end it with `/.` when it is a magic link
 * such as `/proc/<pid>/root`); the path returned is normalized (`/proc/<pid>/root/app`), since
 * the watcher reports normalized paths.
 */
export function resolveRootBelow(
  base: string,
  remoteRoot: string,
): { ok: true; absolute: string } | { ok: false; error: WireError } {
  const refuse = (message: string) => ({
    ok: false as const,
    error: wireError('bad-root', `remote root ${remoteRoot}: ${message}`),
  });
  const resolved = resolveConfined(base, validateRemoteRoot(remoteRoot));
  if (!resolved.ok) return refuse(resolved.problem.message);
  try {
    const stats = lstatSync(resolved.absolute);
    if (!stats.isDirectory()) {
      return refuse(stats.isSymbolicLink() ? 'is a symlink' : 'is not a directory');
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return refuse(errorMessage(error));
  }
  return { ok: true, absolute: posix.normalize(resolved.absolute) };
}
