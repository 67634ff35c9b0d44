/**
 * Finding a container's main process on this node by reading /proc (the host's, through the
 * agent pod's `hostPID`). No runtime socket is needed: containerd, CRI-O and Docker all show up
 * the same way in `/proc/<pid>/cgroup` (see cgroup.ts).
 *
 * Invariants:
 * - A process is a candidate only when its cgroup file names the container ID exactly and the
 *   pod UID (cgroup.ts), and its mount namespace is known and is neither the node's
 *   (`/proc/1/ns/mnt`) nor the agent's own: CRI-O's conmon and anything else that runs in the
 *   node's filesystem is never served. Reading another process's namespace needs SYS_PTRACE.
 * - Among candidates the oldest (start time, then pid) is the container's main process; with
 *   `shareProcessNamespace` no process has pid 1 in its namespace, so age is the rule.
 * - A process is identified by pid and start time together, so a recycled pid is never mistaken
 *   for the process that was resolved (`readProcessAlive`).
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { wireError, type WireError } from '@ksync/core';
import { matchContainerCgroup, type CgroupQuery } from './cgroup.ts';

/** A process, identified across pid reuse. */
export interface ProcessId {
  readonly pid: number;
  /** Field 22 of `/proc/<pid>/stat`: clock ticks after boot. */
  readonly startTime: number;
}

/** The outcome of looking for a container's process. */
export type ProcessLookup =
  | { readonly ok: true; readonly process: ProcessId }
  | { readonly ok: false; readonly error: WireError };

/** The identity map of a process outside any user namespace. */
const IDENTITY_MAP = /^\s*0\s+0\s+4294967295\s*$/;

/** What `/proc/<pid>/stat` says about a process. */
interface ProcessStat {
  readonly state: string;
  readonly startTime: number;
}

/** Parses `/proc/<pid>/stat`; the command name may hold spaces and parentheses. */
export function parseProcessStat(text: string): ProcessStat | undefined {
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // After the name, field 3 (state) is index 0 and field 22 (starttime) index 19.
  const state = fields[0];
  const startTime = Number(fields[19]);
  if (state === undefined || !Number.isSafeInteger(startTime)) return undefined;
  return { state, startTime };
}

function readStat(proc: string, pid: number): ProcessStat | undefined {
  try {
    return parseProcessStat(readFileSync(`${proc}/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function readLink(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Scans `proc` (default `/proc`) for the main process of the container `query` names. Refuses
 * with `target-gone` (no process: it ended or restarted under a new ID), `target-not-running`
 * (only exited processes left), or `target-user-namespace` (the pod runs in a user namespace,
 * whose idmapped files the agent cannot write with the right owners yet).
 */
export function readContainerProcess(query: CgroupQuery, proc = '/proc'): ProcessLookup {
  // With hostPID, pid 1 is the node's init; the agent's own namespace counts too, since the
  // agent may run on the node itself (direct tests) where pid 1 may not be readable.
  const hostMounts = new Set(
    [readLink(`${proc}/1/ns/mnt`), readLink(`${proc}/self/ns/mnt`)].filter(
      (link) => link !== undefined,
    ),
  );
  if (hostMounts.size === 0) {
    return {
      ok: false,
      error: wireError(
        'internal',
        `cannot read ${proc}/1/ns/mnt nor ${proc}/self/ns/mnt; the agent needs SYS_PTRACE and hostPID`,
      ),
    };
  }
  const candidates: (ProcessId & { state: string })[] = [];
  let otherPod = false;
  let inHostMounts = 0;
  for (const name of readdirSync(proc)) {
    if (!/^[0-9]+$/.test(name)) continue;
    const pid = Number(name);
    const cgroup = readText(`${proc}/${pid}/cgroup`);
    if (cgroup === undefined) continue; // gone meanwhile
    const verdict = matchContainerCgroup(cgroup, query);
    if (verdict === 'other-pod') otherPod = true;
    if (verdict !== 'match') continue;
    const mounts = readLink(`${proc}/${pid}/ns/mnt`);
    if (mounts === undefined || hostMounts.has(mounts)) {
      inHostMounts++;
      continue;
    }
    const stat = readStat(proc, pid);
    if (stat !== undefined) candidates.push({ pid, ...stat });
  }
  const container = `container ${query.containerId.slice(0, 12)} of pod ${query.podUid}`;
  const living = candidates.filter((c) => c.state !== 'Z' && c.state !== 'X');
  if (living.length === 0) {
    if (candidates.length > 0) {
      return {
        ok: false,
        error: wireError('target-not-running', `${container} has exited; it is not running`),
      };
    }
    const why = otherPod
      ? ': a process with that container ID runs in another pod'
      : inHostMounts > 0
        ? ' (only processes in the node mount namespace, such as conmon, match)'
        : '';
    return {
      ok: false,
      error: wireError(
        'target-gone',
        `no process of ${container} runs on this node${why}; the container may have restarted: resolve its ID again`,
      ),
    };
  }
  living.sort((a, b) => a.startTime - b.startTime || a.pid - b.pid);
  const main = living[0] as ProcessId;
  const uidMap = readText(`${proc}/${main.pid}/uid_map`);
  if (uidMap !== undefined && !IDENTITY_MAP.test(uidMap)) {
    return {
      ok: false,
      error: wireError(
        'target-user-namespace',
        `${container} runs in a user namespace (hostUsers: false); ksync cannot serve it yet`,
      ),
    };
  }
  return { ok: true, process: { pid: main.pid, startTime: main.startTime } };
}

/** True while `process` still runs (same pid, same start time, not a zombie). */
export function readProcessAlive(process: ProcessId, proc = '/proc'): boolean {
  const stat = readStat(proc, process.pid);
  return (
    stat !== undefined &&
    stat.startTime === process.startTime &&
    stat.state !== 'Z' &&
    stat.state !== 'X'
  );
}
