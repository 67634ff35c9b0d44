/**
 * Measuring pieces of the benchmark harness: trees of files, waiting for content on the other
 * side, process RSS and CPU from /proc, and TCP bytes of a loopback port from `ss`.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A waiting limit no sane run reaches; Mutagen's first edit may take its 10 s rescan. */
export const TIMEOUT_MS = 20 * 60_000;

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The shape of a generated tree: `files` files of `fileBytes` bytes, 100 per directory. */
export interface TreeShape {
  readonly files: number;
  readonly fileBytes: number;
}

/** The relative path of file `i` of a generated tree. */
export function treePath(i: number): string {
  return join(`d${Math.floor(i / 100)}`, `f${i % 100}.txt`);
}

/** Writes a tree of `shape` under `root` (which exists); the same shape gives the same bytes. */
export function writeTree(root: string, shape: TreeShape): void {
  const filler = 'x'.repeat(Math.max(0, shape.fileBytes - 16));
  for (let i = 0; i < shape.files; i++) {
    if (i % 100 === 0) mkdirSync(join(root, `d${i / 100}`));
    writeFileSync(join(root, treePath(i)), `${String(i).padStart(15, '0')}\n${filler}`);
  }
}

/** Milliseconds until `path` holds `content` (polling each millisecond); throws after `timeoutMs`. */
export async function timeUntilContent(
  path: string,
  content: string,
  options: { started: number; timeoutMs: number },
): Promise<number> {
  for (;;) {
    try {
      if (readFileSync(path, 'utf8') === content) return performance.now() - options.started;
    } catch {
      // not there yet
    }
    if (performance.now() - options.started > options.timeoutMs) {
      throw new Error(`${path} did not get its new content within ${options.timeoutMs} ms`);
    }
    await sleep(1);
  }
}

/** Waits until every `paths[i]` holds `contents(i)`, walking forward and retrying the first miss. */
export async function waitForAll(
  paths: readonly string[],
  content: (i: number) => string,
  timeoutMs: number,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let next = 0;
  while (next < paths.length) {
    let matches = false;
    try {
      matches = readFileSync(paths[next] as string, 'utf8') === content(next);
    } catch {
      // not there yet
    }
    if (matches) {
      next++;
      continue;
    }
    if (performance.now() > deadline) {
      throw new Error(`${paths.length - next} of ${paths.length} files did not arrive in time`);
    }
    await sleep(10);
  }
}

/** Polls until `path` has `bytes` bytes (a tool renames the finished file into place). */
export async function waitForSize(path: string, bytes: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      const handle = await open(path, 'r');
      const { size } = await handle.stat();
      await handle.close();
      if (size === bytes) return;
    } catch {
      // not there yet
    }
    if (performance.now() > deadline) throw new Error(`${path} did not reach ${bytes} bytes`);
    await sleep(5);
  }
}

/** Polls until the byte at `offset` of `path` is `value`. */
export async function waitForByte(
  path: string,
  at: { offset: number; value: number; timeoutMs: number },
): Promise<void> {
  const deadline = performance.now() + at.timeoutMs;
  const buffer = Buffer.alloc(1);
  for (;;) {
    try {
      const handle = await open(path, 'r');
      await handle.read(buffer, 0, 1, at.offset);
      await handle.close();
      if (buffer[0] === at.value) return;
    } catch {
      // being replaced
    }
    if (performance.now() > deadline) throw new Error(`${path} did not get the changed byte`);
    await sleep(5);
  }
}

/** Resident set size of `pid` in MiB, 0 once it has exited. */
export async function rssMiB(pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** CPU seconds (user + system) `pid` has used so far, 0 once it has exited. */
export async function cpuSeconds(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** Samples the RSS of some processes every 50 ms; `stop` returns each one's maximum, in MiB. */
export function sampleRss(pids: () => Record<string, number>): {
  stop(): Promise<Record<string, number>>;
} {
  const peaks: Record<string, number> = {};
  let busy: Promise<void> = Promise.resolve();
  const sample = async () => {
    for (const [name, pid] of Object.entries(pids())) {
      peaks[name] = Math.max(peaks[name] ?? 0, await rssMiB(pid));
    }
  };
  const timer = setInterval(() => {
    busy = busy.then(sample);
  }, 50);
  return {
    async stop() {
      clearInterval(timer);
      await busy;
      await sample();
      return peaks;
    },
  };
}

/**
 * Bytes sent plus received so far on the established TCP connections of local `port`, in this
 * machine's network namespace or, given `netnsOf`, in the one of that process (a pod's).
 */
export async function tcpBytes(port: number, netnsOf?: number): Promise<number> {
  const ss = ['ss', '-tinH', 'state', 'established', `( sport = :${port} )`];
  const [command, ...args] =
    netnsOf === undefined ? ss : ['nsenter', '-t', `${netnsOf}`, '-n', ...ss];
  const { stdout } = await run(command as string, args);
  let total = 0;
  for (const match of stdout.matchAll(/bytes_(?:sent|received):(\d+)/g)) {
    total += Number(match[1]);
  }
  return total;
}

/** Flips the byte at `offset` of `path` in place; returns its new value. */
export async function flipByte(path: string, offset: number): Promise<number> {
  const handle = await open(path, 'r+');
  try {
    const buffer = Buffer.alloc(1);
    await handle.read(buffer, 0, 1, offset);
    buffer[0] = (buffer[0] ?? 0) ^ 0xff;
    await handle.write(buffer, 0, 1, offset);
    return buffer[0];
  } finally {
    await handle.close();
  }
}
