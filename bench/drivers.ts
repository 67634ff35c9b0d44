/**
 * The tools the harness compares, behind one interface: ksync in direct mode (the real
 * `bin/ksync watch --daemon` and the real `bin/ksync-agent` on loopback), ksync through the
 * Kubernetes transport (the same daemon, port-forwarded by the API server to the agent DaemonSet
 * of the local cluster, syncing a directory of a pod) and Mutagen v0.18.1 local to local (mode
 * two-way-resolved, its own daemon with a private data directory).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { AGENT_PORT, NAMESPACE } from '@ksync/kube';
import {
  createNamespace,
  deleteNamespace,
  kubeconfigPath,
  kubectl,
  readClusterInfo,
} from '../test/e2e/helpers/cluster.ts';
import { AGENT_BIN, REPO, startAgent } from '../test/integration/helpers/agent-process.ts';
import { runProgram } from '../test/integration/helpers/cli-process.ts';
import { agentOn, containerPid } from '../test/reliability/harness.ts';
import { BENCH_POD, BENCH_POD_DIR, readContainerPid, startBenchPod } from './cluster.ts';
import { sleep, tcpBytes } from './measure.ts';

/**
 * The two directories a tool keeps in sync, each in a scratch directory on the same filesystem
 * (a file staged there appears on its side with one rename).
 */
export interface Pair {
  readonly local: string;
  readonly remote: string;
  /** Scratch for the tool's state, holding `local`. */
  readonly work: string;
  /** Scratch on the remote side's filesystem, holding `remote`. */
  readonly remoteWork: string;
}

/** Creates the directories of a fresh pair for `tool`, its local side under `work`. */
export async function createPair(tool: Tool, work: string): Promise<Pair> {
  const remoteWork = await tool.createRemoteWork(work);
  const pair = { local: join(work, 'local'), remote: join(remoteWork, 'r'), work, remoteWork };
  await mkdir(pair.local);
  await mkdir(pair.remote);
  return pair;
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
  /** Files the remote side has hashed since `prepare` (the agent's metric); undefined when not known. */
  remoteHashedFiles(): Promise<number | undefined>;
}

/** One tool under test. */
export interface Tool {
  readonly name: 'ksync' | 'ksync-kube' | 'mutagen';
  /** Creates the remote scratch directory of a pair whose local scratch is `work`; its path. */
  createRemoteWork(work: string): Promise<string>;
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

/** A remote scratch directory inside the local one (ksync direct and Mutagen). */
async function createLocalRemoteWork(work: string): Promise<string> {
  const dir = join(work, 'remote');
  await mkdir(dir);
  return dir;
}

/** How a ksync sync reaches its agent, and how the harness observes that agent. */
interface KsyncAgent {
  /** The `ksync create` arguments before the local and remote paths, naming the target. */
  readonly target: readonly string[];
  /** The remote path as the agent names it. */
  readonly remote: string;
  /** The agent's pid on this machine. */
  readonly pid: number;
  /** TCP bytes both ways on the agent's end of its connections so far. */
  wireBytes(): Promise<number>;
  /** The agent's `/metrics` text. */
  readMetrics(): Promise<string>;
}

/** The agent's count of files it hashed, from its `/metrics` text. */
function hashedFiles(metrics: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith('ksync_agent_hashed_files_total '));
  if (line === undefined) throw new Error('the agent has no ksync_agent_hashed_files_total');
  return Number(line.split(' ')[1]);
}

/**
 * Creates sync `b` of `pair` with its own KSYNC_HOME, against `agent`: the part of a ksync tool
 * that does not depend on where the agent runs. `close` stops the daemon only.
 */
async function prepareKsync(
  pair: Pair,
  agent: KsyncAgent,
  options: { nodeOptions: readonly string[] },
): Promise<Prepared> {
  const home = join(pair.work, 'ksync-home');
  const ksync = (args: readonly string[], env: NodeJS.ProcessEnv = {}) =>
    exec(join(REPO, 'bin/ksync'), args, {
      cwd: pair.work,
      env: { KSYNC_HOME: home, NO_COLOR: '1', ...env },
    });
  const daemonEnv =
    options.nodeOptions.length === 0 ? {} : { NODE_OPTIONS: options.nodeOptions.join(' ') };
  await ksync(['create', '--name', 'b', ...agent.target, pair.local, agent.remote]);
  // A shared agent (the cluster's) has hashed files for earlier pairs.
  const hashedBefore = hashedFiles(await agent.readMetrics());
  const startDaemon = async () => {
    await ksync(['watch', '--daemon'], daemonEnv);
    daemon = Number((await readFile(join(home, 'watch.pid'), 'utf8')).trim());
  };
  let daemon = 0;
  const running: Running = {
    pids: () => ({ agent: agent.pid, daemon }),
    flush: async () => {
      await ksync(['flush', 'b', '--timeout', `${FLUSH_TIMEOUT_MS / 1000}s`]);
    },
    async restart() {
      await ksync(['stop']);
      await startDaemon();
    },
    wireBytes: () => agent.wireBytes(),
    list: async () => {
      await ksync(['get']);
    },
    remoteHashedFiles: async () => hashedFiles(await agent.readMetrics()) - hashedBefore,
  };
  return {
    async begin() {
      await startDaemon();
      return running;
    },
    async close() {
      await ksync(['stop']).catch(() => undefined);
    },
  };
}

/** ksync in direct mode: a real agent on a loopback port per pair and the real watch daemon. */
export function ksyncTool(options: KsyncOptions = {}): Tool {
  return {
    name: 'ksync',
    createRemoteWork: createLocalRemoteWork,
    async version() {
      await exec(join(REPO, 'bin/ksync'), ['version']);
    },
    async prepare(pair) {
      const tokenFile = join(pair.work, 'token');
      await writeFile(tokenFile, 'bench-token-0123456789abcdef\n', { mode: 0o600 });
      const nodeOptions = options.nodeOptions ?? [];
      const agent = await startAgent({
        root: pair.remoteWork,
        tokenFile,
        stateDir: join(pair.work, 'agent-state'),
        command:
          nodeOptions.length === 0
            ? [AGENT_BIN]
            : [process.execPath, ...nodeOptions, join(REPO, 'packages/agent/src/main.ts')],
      });
      const url = options.via === undefined ? agent.url : await options.via(agent.url);
      const prepared = await prepareKsync(
        pair,
        {
          target: ['--direct', url, '--token-file', tokenFile],
          remote: `/${basename(pair.remote)}`,
          pid: agent.child.pid as number,
          wireBytes: () => tcpBytes(agent.port),
          readMetrics: async () => (await fetch(`http://127.0.0.1:${agent.port}/metrics`)).text(),
        },
        { nodeOptions },
      );
      return {
        begin: () => prepared.begin(),
        async close() {
          await prepared.close();
          await agent.stop('SIGTERM');
        },
      };
    },
  };
}

/**
 * ksync through the Kubernetes transport on the local cluster (KUBECONFIG): `ksync init` installs
 * the agent DaemonSet, one bench pod in a namespace of its own holds every pair's remote side
 * under its emptyDir, and each sync names the pod (`create --pod`), so the daemon port-forwards
 * through the API server to the agent. The harness reads and writes the container's files from
 * the host through /proc/<pid>/root, and the agent's RSS, CPU and TCP bytes from its host pid:
 * this machine is the node. The agent serves every pair of the run, as it serves every sync of a
 * node. `close` deletes the namespace; the DaemonSet stays for the next run.
 */
export async function startKsyncKube(): Promise<{ tool: Tool; close(): Promise<void> }> {
  const home = await mkdtemp(join(tmpdir(), 'ksync-bench-init-'));
  await exec(join(REPO, 'bin/ksync'), ['init'], { env: { KSYNC_HOME: home } });
  await rm(home, { recursive: true, force: true });
  const namespace = await createNamespace('ksync-bench-kube');
  try {
    await startBenchPod(namespace);
    const root = `/proc/${await readContainerPid(namespace, BENCH_POD)}/root`;
    const { pod: agentPod, containerId } = await agentOn(readClusterInfo().nodeName);
    const agentPid = await containerPid(containerId);
    // The agent listens on its pod's loopback only: its metrics are read by an exec beside it.
    const metricsScript = `fetch('http://127.0.0.1:${AGENT_PORT}/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))`;
    const agent = (remote: string): KsyncAgent => ({
      target: ['--pod', BENCH_POD, '--namespace', namespace, '--kubeconfig', kubeconfigPath()],
      remote,
      pid: agentPid,
      wireBytes: () => tcpBytes(AGENT_PORT, agentPid),
      readMetrics: () =>
        kubectl(['-n', NAMESPACE, 'exec', agentPod, '--', 'node', '-e', metricsScript]),
    });
    let pairs = 0;
    const tool: Tool = {
      name: 'ksync-kube',
      async createRemoteWork() {
        const dir = join(root, BENCH_POD_DIR, `pair-${pairs++}`);
        await mkdir(dir);
        return dir;
      },
      async version() {
        await exec(join(REPO, 'bin/ksync'), ['version']);
      },
      prepare: (pair) =>
        prepareKsync(pair, agent(pair.remote.slice(root.length)), { nodeOptions: [] }),
    };
    return { tool, close: () => deleteNamespace(namespace) };
  } catch (error) {
    await deleteNamespace(namespace);
    throw error;
  }
}

/** Mutagen local to local, mode two-way-resolved, with a daemon of its own. */
export function mutagenTool(binary: string): Tool {
  return {
    name: 'mutagen',
    createRemoteWork: createLocalRemoteWork,
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
