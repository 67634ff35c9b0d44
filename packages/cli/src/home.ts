/**
 * Where ksync keeps its state: `$KSYNC_HOME` (default `~/.ksync`). One directory holds the specs,
 * every sync's ancestor and conflicts, the watch daemon's lock, pid file, log and control socket.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { UserError } from './errors.ts';

/** Longest unix socket path Linux accepts (108 bytes with the terminating NUL). */
const MAX_SOCKET_BYTES = 107;

/** A `UserError` when the control socket's path is too long for a unix socket. */
export function checkSocketPath(socket: string): void {
  const bytes = Buffer.byteLength(socket);
  if (bytes <= MAX_SOCKET_BYTES) return;
  throw new UserError(
    `KSYNC_HOME is too deep for ksync's control socket (${socket} is ${bytes} bytes; a unix socket path holds at most ${MAX_SOCKET_BYTES}): set KSYNC_HOME to a shorter path, such as ~/.ksync`,
  );
}

/** Every path under one `$KSYNC_HOME`. */
export interface HomePaths {
  readonly root: string;
  /** nedb file with one document per sync spec. */
  readonly specs: string;
  /** Held (with the holder's pid) by whoever writes the state: `watch`, `run`, or one command. */
  readonly lock: string;
  /** The pid of a running `watch`. */
  readonly pid: string;
  /** The log of `watch --daemon`. */
  readonly log: string;
  /** The control socket `watch` serves (newline-delimited JSON). */
  readonly socket: string;
  /** Staging for a local root that does not exist yet; emptied when a watch starts and stops. */
  readonly staging: string;
  /** Per-sync session store (ancestor and conflicts). */
  syncDir(name: string): string;
  /** Per-sync saved conflict content. */
  conflictDir(name: string): string;
  /** Per-sync last known status, written by the running watch. */
  statusFile(name: string): string;
  /** Per-sync stat cache of the local root, so that a restart hashes only what changed. */
  statCacheFile(name: string): string;
}

/** Resolves the paths of the ksync home from the environment. */
export function resolveHome(env: NodeJS.ProcessEnv = process.env): HomePaths {
  const root = resolve(
    env.KSYNC_HOME !== undefined && env.KSYNC_HOME !== ''
      ? env.KSYNC_HOME
      : join(homedir(), '.ksync'),
  );
  return {
    root,
    specs: join(root, 'specs.db'),
    lock: join(root, 'ksync.lock'),
    pid: join(root, 'watch.pid'),
    log: join(root, 'watch.log'),
    socket: join(root, 'ksync.sock'),
    staging: join(root, 'staging'),
    syncDir: (name) => join(root, 'syncs', name),
    conflictDir: (name) => join(root, 'conflicts', name),
    statusFile: (name) => join(root, 'syncs', name, 'status.json'),
    statCacheFile: (name) => join(root, 'syncs', name, 'local.stat-cache'),
  };
}
