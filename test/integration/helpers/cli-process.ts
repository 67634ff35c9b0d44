/**
 * Test helpers for the CLI: run the real `bin/ksync` with a temp KSYNC_HOME the way a user
 * would, and a fixture with a local directory, an agent root and a token. Cleanup stops any
 * watch daemon the test left running (by its pid file, never by name).
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, readdir, rm, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { SyncView } from '../../../packages/cli/src/view.ts';
import {
  makeAgentFixture,
  REPO,
  type AgentFixture,
  type AgentProcess,
  type StartAgentOptions,
} from './agent-process.ts';

/** The CLI launcher. */
export const KSYNC_BIN = join(REPO, 'bin/ksync');

/** What one CLI run printed and how it exited. */
export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A CLI fixture: `home` (KSYNC_HOME), `local` (sync root), and the agent fixture. */
export interface CliFixture {
  readonly home: string;
  readonly local: string;
  readonly agent: AgentFixture;
  /** Runs `ksync ...args` with this fixture's KSYNC_HOME. */
  ksync(
    args: readonly string[],
    options?: { timeoutMs?: number; cwd?: string },
  ): Promise<CliResult>;
  /** Like `ksync`, but fails the test unless it exits 0. */
  ok(args: readonly string[], options?: { timeoutMs?: number }): Promise<CliResult>;
  /** `ksync get NAME -o json`, which must exit 0. */
  get(name: string): Promise<SyncView>;
  /** `ksync get -o json`, which must exit 0. */
  getAll(): Promise<SyncView[]>;
  /** The `create` flags that point a sync at the agent at `url` with this fixture's token. */
  direct(url: string): string[];
  cleanup(): Promise<void>;
}

/** Makes a fixture under the OS temp dir. */
export async function makeCliFixture(): Promise<CliFixture> {
  const agent = await makeAgentFixture();
  const home = join(agent.dir, 'home');
  const local = join(agent.dir, 'local');
  await mkdir(local);
  const ksync = (args: readonly string[], options: { timeoutMs?: number; cwd?: string } = {}) =>
    runKsync(args, { home, cwd: options.cwd ?? agent.dir, timeoutMs: options.timeoutMs ?? 60_000 });
  const ok = async (args: readonly string[], options: { timeoutMs?: number } = {}) => {
    const result = await ksync(args, options);
    if (result.code !== 0) {
      throw new Error(
        `ksync ${args.join(' ')} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`,
      );
    }
    return result;
  };
  return {
    home,
    local,
    agent,
    ksync,
    ok,
    get: async (name) => JSON.parse((await ok(['get', name, '-o', 'json'])).stdout) as SyncView,
    getAll: async () => JSON.parse((await ok(['get', '-o', 'json'])).stdout) as SyncView[],
    direct: (url) => ['--direct', url, '--token-file', agent.tokenFile],
    async cleanup() {
      await killDaemon(home);
      await agent.cleanup();
    },
  };
}

/** A CLI fixture with the agent running, serving `<agent root>/app` as the remote `/app`. */
export interface CliAgentFixture extends CliFixture {
  /** The running agent (`restartAgent` replaces it). */
  readonly server: AgentProcess;
  /** `<agent root>/app`, the remote side of the `local` sync. */
  readonly remote: string;
  /** Starts the agent again with the same options (pass a `port` to keep its URL). */
  restartAgent(): Promise<AgentProcess>;
  /** Creates the sync `local` (LOCAL ↔ /app) with `flags` on top; it must exit 0. */
  createLocal(flags?: readonly string[]): Promise<CliResult>;
  /** Stops any watch, then the agent (with `signal`, default SIGTERM), then removes the dirs. */
  cleanup(signal?: NodeJS.Signals): Promise<void>;
}

/** Makes a CLI fixture, creates `<agent root>/app` and starts the agent. */
export async function makeCliAgentFixture(
  options: Omit<StartAgentOptions, 'root' | 'tokenFile'> = {},
): Promise<CliAgentFixture> {
  const f = await makeCliFixture();
  const remote = join(f.agent.root, 'app');
  await mkdir(remote);
  const start = () => f.agent.start(options);
  let server = await start();
  return {
    ...f,
    get server() {
      return server;
    },
    remote,
    async restartAgent() {
      server = await start();
      return server;
    },
    createLocal: (flags = []) =>
      f.ok(['create', ...f.direct(server.url), ...flags, 'local', '/app']),
    async cleanup(signal: NodeJS.Signals = 'SIGTERM') {
      await f.ksync(['stop']);
      await server.stop(signal);
      await f.cleanup();
    },
  };
}

/** Runs the CLI once, bounded by `timeoutMs`. */
export function runKsync(
  args: readonly string[],
  options: { home: string; cwd: string; timeoutMs: number },
): Promise<CliResult> {
  return runProgram(KSYNC_BIN, args, {
    cwd: options.cwd,
    env: { KSYNC_HOME: options.home, NO_COLOR: '1' },
    timeoutMs: options.timeoutMs,
  });
}

/** Runs `bin` once with `env` on top of ours, bounded by `timeoutMs`; collects its output. */
export function runProgram(
  bin: string,
  args: readonly string[],
  options: { cwd: string; env: Readonly<Record<string, string>>; timeoutMs: number },
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`${bin} ${args.join(' ')} did not finish in ${options.timeoutMs} ms: ${stderr}`),
      );
    }, options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The pid in `$KSYNC_HOME/watch.pid`, if any. */
export async function daemonPid(home: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(join(home, 'watch.pid'), 'utf8'), 10);
    return Number.isSafeInteger(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a pid is alive. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILLs the daemon recorded in the home, if it still runs. */
export async function killDaemon(home: string): Promise<void> {
  const pid = await daemonPid(home);
  if (pid !== undefined && alive(pid)) process.kill(pid, 'SIGKILL');
}

/** Every file under `dir` (relative path → content), skipping ksync's own temp files. */
export async function readTree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  async function walk(d: string): Promise<void> {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile() && !entry.name.startsWith('.ksync')) {
        out.set(relative(dir, path), await readFile(path, 'utf8'));
      }
    }
  }
  await walk(dir);
  return out;
}

/** Whether `path` exists with `content` (for polling). */
export async function hasContent(path: string, content: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile() && (await readFile(path, 'utf8')) === content;
  } catch {
    return false;
  }
}

/** Removes a path, ignoring absence. */
export function remove(path: string): Promise<void> {
  return rm(path, { recursive: true, force: true });
}
