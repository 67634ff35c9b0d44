/**
 * The tools the harness compares, behind one interface: ksync in direct mode (the real
 * `bin/ksync watch --daemon` and the real `bin/ksync-agent` on loopback) and Mutagen v0.18.1
 * local to local (mode two-way-resolved, its own daemon with a private data directory).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AGENT_BIN, REPO, startAgent } from '../test/integration/helpers/agent-process.ts';
import { runProgram } from '../test/integration/helpers/cli-process.ts';
import { sleep, tcpBytes } from './measure.ts';

/** The two directories a tool keeps in sync, and a scratch directory for its state. */
export interface Pair {
  readonly local: string;
  readonly remote: string;
  readonly work: string;
}

/** A prepared sync: its processes run, it has not started syncing. */
export interface Prepared {
  /** Starts syncing (ksync: `watch --daemon`; Mutagen: `sync create`). */
  begin(): Promise<Running>;
  close(): Promise<void>;
}

/** A running sync. */
export interface Running {
  /** The processes doing the work, by role. */
  pids(): Record<string, number>;
  /** Resolves once both sides agree. */
  flush(): Promise<void>;
  /** Stops the syncing process and starts it again on its saved state (no flush). */
  restart(): Promise<void>;
  /** TCP bytes both ways on the sync's connection so far; undefined for a tool with no wire. */
  wireBytes(): Promise<number | undefined>;
  /** Lists the syncs, as a person checks on them (`ksync get`, `mutagen sync list`). */
  list(): Promise<void>;
  /** Files the remote side has hashed so far (the agent's metric); undefined when not known. */
  remoteHashedFiles(): Promise<number | undefined>;
}

/** One tool under test. */
export interface Tool {
  readonly name: 'ksync' | 'mutagen';
  prepare(pair: Pair): Promise<Prepared>;
  /** Runs the tool's version command (the fixed cost of starting its CLI). */
  version(): Promise<void>;
}

/** Extra Node options for ksync's processes (e.g. `--cpu-prof`), and a proxy URL to dial. */
export interface KsyncOptions {
  readonly nodeOptions?: readonly string[];
  /** Rewrites the agent URL the sync is created with (e.g. through a counting proxy). */
  readonly via?: (agentUrl: string) => Promise<string>;
}

const FLUSH_TIMEOUT_MS = 30 * 60_000;

/** Runs a command to completion (the tests' runner); throws with its stderr unless it exits 0. */
export async function exec(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<string> {
  const env = Object.fromEntries(
    Object.entries(options.env ?? {}).filter((e): e is [string, string] => e[1] !== undefined),
  );
  const r = await runProgram(command, args, {
    cwd: options.cwd ?? process.cwd(),
    env,
    timeoutMs: FLUSH_TIMEOUT_MS,
  });
  if (r.code !== 0)
    throw new Error(`${command} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** ksync in direct mode: a real agent on a loopback port and the real watch daemon. */
export function ksyncTool(options: KsyncOptions = {}): Tool {
  return {
    name: 'ksync',
    async version() {
      await exec(join(REPO, 'bin/ksync'), ['version']);
    },
    async prepare(pair) {
      const home = join(pair.work, 'ksync-home');
      const agentRoot = join(pair.work, 'agent');
      await mkdir(join(agentRoot, 'r'), { recursive: true });
      if (join(agentRoot, 'r') !== pair.remote) {
        throw new Error(`ksync's remote side must be ${join(agentRoot, 'r')}`);
      }
      const tokenFile = join(pair.work, 'token');
      await writeFile(tokenFile, 'bench-token-0123456789abcdef\n', { mode: 0o600 });
      const profiled = options.nodeOptions ?? [];
      const agent = await startAgent({
        root: agentRoot,
        tokenFile,
        stateDir: join(pair.work, 'agent-state'),
        command:
          profiled.length === 0
            ? [AGENT_BIN]
            : [process.execPath, ...profiled, join(REPO, 'packages/agent/src/main.ts')],
      });
      const url = options.via === undefined ? agent.url : await options.via(agent.url);
      const ksync = (args: readonly string[], env: NodeJS.ProcessEnv = {}) =>
        exec(join(REPO, 'bin/ksync'), args, {
          cwd: pair.work,
          env: { KSYNC_HOME: home, NO_COLOR: '1', ...env },
        });
      const daemonEnv = profiled.length === 0 ? {} : { NODE_OPTIONS: profiled.join(' ') };
      await ksync([
        'create',
        '--name',
        'b',
        '--direct',
        url,
        '--token-file',
        tokenFile,
        pair.local,
        '/r',
      ]);
      const daemonPid = async () =>
        Number((await readFile(join(home, 'watch.pid'), 'utf8')).trim());
      let daemon = 0;
      const running: Running = {
        pids: () => ({ agent: agent.child.pid as number, daemon }),
        flush: async () => {
          await ksync(['flush', 'b', '--timeout', `${FLUSH_TIMEOUT_MS / 1000}s`]);
        },
        async restart() {
          await ksync(['stop']);
          await ksync(['watch', '--daemon'], daemonEnv);
          daemon = await daemonPid();
        },
        wireBytes: () => tcpBytes(agent.port),
        list: async () => {
          await ksync(['get']);
        },
        remoteHashedFiles: async () => {
          const text = await (await fetch(`http://127.0.0.1:${agent.port}/metrics`)).text();
          const line = text
            .split('\n')
            .find((l) => l.startsWith('ksync_agent_hashed_files_total '));
          return line === undefined ? undefined : Number(line.split(' ')[1]);
        },
      };
      return {
        async begin() {
          await ksync(['watch', '--daemon'], daemonEnv);
          daemon = await daemonPid();
          return running;
        },
        async close() {
          await ksync(['stop']).catch(() => undefined);
          await agent.stop('SIGTERM');
        },
      };
    },
  };
}

/** Mutagen local to local, mode two-way-resolved, with a daemon of its own. */
export function mutagenTool(binary: string): Tool {
  return {
    name: 'mutagen',
    async version() {
      await exec(binary, ['version']);
    },
    async prepare(pair) {
      const env = {
        MUTAGEN_DATA_DIRECTORY: join(pair.work, 'mutagen-data'),
        MUTAGEN_DISABLE_AUTOSTART: '1',
      };
      const mutagen = (args: readonly string[]) => exec(binary, args, { env, cwd: pair.work });
      let daemon: ChildProcess | undefined;
      const startDaemon = async () => {
        const child = spawn(binary, ['daemon', 'run'], {
          env: { ...process.env, ...env },
          stdio: 'ignore',
        });
        daemon = child;
        const deadline = Date.now() + 20_000;
        for (;;) {
          try {
            await mutagen(['sync', 'list']);
            return;
          } catch (error) {
            if (child.exitCode !== null || Date.now() > deadline) throw error;
            await sleep(50);
          }
        }
      };
      const stopDaemon = async () => {
        const child = daemon;
        if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      };
      await startDaemon();
      const running: Running = {
        pids: () => ({ daemon: daemon?.pid as number }),
        async flush() {
          // Right after a daemon start the session is still connecting: retry until it can sync.
          const deadline = Date.now() + FLUSH_TIMEOUT_MS;
          for (;;) {
            try {
              await mutagen(['sync', 'flush', 'b']);
              return;
            } catch (error) {
              const starting = /not currently able to synchronize/.test(String(error));
              if (!starting || Date.now() > deadline) throw error;
              await sleep(20);
            }
          }
        },
        async restart() {
          await stopDaemon();
          await startDaemon();
        },
        wireBytes: async () => undefined,
        list: async () => {
          await mutagen(['sync', 'list']);
        },
        remoteHashedFiles: async () => undefined,
      };
      return {
        async begin() {
          await mutagen([
            'sync',
            'create',
            '--name',
            'b',
            '--sync-mode',
            'two-way-resolved',
            pair.local,
            pair.remote,
          ]);
          return running;
        },
        async close() {
          await mutagen(['sync', 'terminate', '--all']).catch(() => undefined);
          await stopDaemon();
        },
      };
    },
  };
}

/** Builds (once, cached outside the repository) the Mutagen binary; its path. */
export async function buildMutagen(): Promise<string> {
  return (await exec(join(REPO, 'bench/mutagen.sh'), [])).trim();
}
