/**
 * When a container started, by the node's clock: its main process's start (field 22 of
 * `/proc/<pid>/stat`, in clock ticks after boot) plus the boot time (`btime` in `/proc/stat`,
 * seconds since the epoch). A rebase compares it with file ctimes, which the same kernel stamps
 * from the same clock, so neither the laptop's nor the container's idea of the time matters.
 *
 * Precision: `btime` is cut to a whole second, so the result is up to a second early, never late.
 * Early is the side to err on: a path written in the container's first second counts as changed
 * (its edit is kept), while an image's files carry the ctime of when their layer was unpacked,
 * long before any restart of a container that already ran from that image.
 */
import { readFileSync } from 'node:fs';
import type { ProcessId } from './proc.ts';

/**
 * The unit of /proc's tick counts (USER_HZ, `getconf CLK_TCK`): 100 on every architecture a
 * Kubernetes node runs (x86, arm64, ppc64le, s390x); only alpha and ia64 differ. Node has no
 * sysconf, and asking `getconf` would need a binary the agent image does not carry.
 */
export const USER_HZ = 100;

/** The boot time in `/proc/stat` text, in seconds since the epoch. */
export function parseBootTime(procStat: string): number | undefined {
  const match = /^btime (\d+)$/m.exec(procStat);
  const seconds = Number(match?.[1]);
  return match !== null && Number.isSafeInteger(seconds) ? seconds : undefined;
}

/** The wall-clock start, in ns since the epoch, of a process started `startTicks` after boot. */
export function startedAtNs(bootTimeSeconds: number, startTicks: number): bigint {
  return (
    BigInt(bootTimeSeconds) * 1_000_000_000n +
    BigInt(startTicks) * (1_000_000_000n / BigInt(USER_HZ))
  );
}

/** When `process` started, by the node's clock, or undefined when `/proc/stat` cannot tell. */
export function readStartedAtNs(process: ProcessId, proc = '/proc'): bigint | undefined {
  const bootTime = parseBootTime(readFileSync(`${proc}/stat`, 'utf8'));
  return bootTime === undefined ? undefined : startedAtNs(bootTime, process.startTime);
}
