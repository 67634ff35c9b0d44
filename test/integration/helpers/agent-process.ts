/**
 * Test helpers for the node agent: spawn the real `bin/ksync-agent` on a 127.0.0.1 port with a
 * temp root and token file, wait until it listens, and stop it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/** The agent launcher. */
export const AGENT_BIN = join(REPO, 'bin/ksync-agent');

/** A running agent process. */
export interface AgentProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly url: string;
  /** Every JSON log line so far. */
  readonly logs: Record<string, unknown>[];
  /** Resolves with the exit code (or signal) once the process ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Options for `startAgent`. */
export interface StartAgentOptions {
  /** The directory to serve (direct mode); without it the agent serves containers. */
  readonly root?: string;
  /** The node name of a container-mode agent (default `test-node`). */
  readonly nodeName?: string;
  readonly tokenFile: string;
  /** 0 (default) lets the agent pick; pass a port to restart on the same one. */
  readonly port?: number;
  readonly pingIntervalMs?: number;
  /** The agent's `--state-dir` (stat caches kept across its restarts); none by default. */
  readonly stateDir?: string;
  /** The agent command (default `bin/ksync-agent`), e.g. node and the single-file bundle. */
  readonly command?: readonly string[];
  /** Extra environment (e.g. a private TMPDIR). */
  readonly env?: Readonly<Record<string, string>>;
}

/** Spawns the agent and waits for its `listening` log line. */
export async function startAgent(options: StartAgentOptions): Promise<AgentProcess> {
  const args = [
    '--listen',
    `127.0.0.1:${options.port ?? 0}`,
    ...(options.root !== undefined
      ? ['--root', options.root]
      : ['--containers', '--node-name', options.nodeName ?? 'test-node']),
    '--token-file',
    options.tokenFile,
  ];
  if (options.pingIntervalMs !== undefined) {
    args.push('--ping-interval-ms', String(options.pingIntervalMs));
  }
  if (options.stateDir !== undefined) args.push('--state-dir', options.stateDir);
  const [bin, ...pre] = options.command ?? [AGENT_BIN];
  const child = spawn(bin as string, [...pre, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...options.env },
  });
  const logs: Record<string, unknown>[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let buffer = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('agent did not start within 20 s')), 20_000);
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (text: string) => {
      buffer += text;
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        let parsed: Record<string, unknown>;
        try {
          parsed = JSON.parse(line) as Record<string, unknown>;
        } catch {
          parsed = { level: 'raw', msg: line };
        }
        logs.push(parsed);
        if (process.env.KSYNC_TEST_AGENT_LOGS) process.stderr.write(`[agent] ${line}\n`);
        if (parsed.msg === 'listening') {
          clearTimeout(timer);
          resolve(parsed.port as number);
        }
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`agent exited early (${code ?? signal}): ${buffer}${JSON.stringify(logs)}`));
    });
  });
  return {
    child,
    port,
    url: `ws://127.0.0.1:${port}`,
    logs,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** A temp directory with an agent root (`root/`) and a token file, removed by `cleanup`. */
export interface AgentFixture {
  readonly dir: string;
  readonly root: string;
  readonly tokenFile: string;
  readonly token: string;
  /** Starts an agent on this root and token (pass the old `port` to restart on the same URL). */
  start(options?: Omit<StartAgentOptions, 'root' | 'tokenFile'>): Promise<AgentProcess>;
  /** Stops (SIGTERM) every agent `start` started that still runs, then removes the directory. */
  cleanup(): Promise<void>;
}

/** Makes an agent fixture under the OS temp dir. */
export async function makeAgentFixture(): Promise<AgentFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'ksync-agent-test-'));
  const root = join(dir, 'agent-root');
  await mkdir(root);
  const token = 'test-token-0123456789abcdef';
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
  const started: AgentProcess[] = [];
  return {
    dir,
    root,
    tokenFile,
    token,
    async start(options = {}) {
      const agent = await startAgent({
        stateDir: join(dir, 'agent-state'),
        ...options,
        root,
        tokenFile,
      });
      started.push(agent);
      return agent;
    },
    async cleanup() {
      await Promise.all(started.map((agent) => agent.stop('SIGTERM')));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh fixture with an agent started on it; `fixture.cleanup()` undoes both. */
export async function startAgentFixture(): Promise<{
  fixture: AgentFixture;
  agent: AgentProcess;
}> {
  const fixture = await makeAgentFixture();
  return { fixture, agent: await fixture.start() };
}

/** A free TCP port on 127.0.0.1 (free when checked; good enough for tests). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Polls `check` until it returns true (or throws after `timeoutMs`). */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Peak resident set size of a Linux process in MiB (VmHWM), or undefined when it has exited. */
export async function peakRssMiB(pid: number): Promise<number | undefined> {
  const { readFile } = await import('node:fs/promises');
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}

/** Current resident set size of a Linux process in MiB (VmRSS). */
export async function rssMiB(pid: number): Promise<number | undefined> {
  const { readFile } = await import('node:fs/promises');
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}

/** Writes a file of `bytes` pseudo-random bytes (a random 4 MiB block with a counter mixed in). */
export async function writeBigFile(path: string, bytes: number, seed = 0): Promise<void> {
  const { randomBytes } = await import('node:crypto');
  const { open } = await import('node:fs/promises');
  const block = randomBytes(4 * 1024 * 1024);
  const handle = await open(path, 'w');
  try {
    for (let offset = 0, n = 0; offset < bytes; offset += block.length, n++) {
      block.writeUInt32BE(n ^ seed, 0);
      const length = Math.min(block.length, bytes - offset);
      await handle.write(block, 0, length);
    }
  } finally {
    await handle.close();
  }
}

/** Hex SHA-256 of a file, streamed. */
export async function hashFileHex(path: string): Promise<string> {
  const { createHash } = await import('node:crypto');
  const { createReadStream } = await import('node:fs');
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
