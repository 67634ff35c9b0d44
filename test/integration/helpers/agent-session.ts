/**
 * A real sync session for agent tests: a local `LocalEndpoint` temp dir on one side, the remote
 * endpoint through the real agent on the other, with file-backed stores. `startAgentSession`
 * holds one connection (a test that drops it sees the client stay down); `startAgentRunner`
 * runs the same sync under the CLI's `SyncRunner`, the one owner of reconnecting.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Session, type ContainerTarget, type SyncMode } from '@ksync/core';
import {
  connectRemoteEndpoint,
  type RemoteEndpoint,
  type RemoteEndpointOptions,
} from '@ksync/agent/client';
import { SyncRunner } from '../../../packages/cli/src/daemon/sync-runner.ts';
import { resolveHome } from '../../../packages/cli/src/home.ts';
import type { SyncSpec } from '../../../packages/cli/src/spec.ts';
import { openEndpointsVia } from '../../../packages/cli/src/sync-endpoints.ts';
import {
  openConflictContentStore,
  openLocalEndpoint,
  openSessionStore,
  systemClock,
} from '@ksync/fs';

/** A running session between a local dir and a remote root through an agent. */
export interface AgentSession {
  readonly local: string;
  readonly session: Session;
  readonly remote: RemoteEndpoint;
  /** Resolves when `run` ends. */
  readonly running: Promise<void>;
  /** Why the connection dropped, as the remote endpoint reported it. */
  readonly lost: string[];
  stop(): Promise<void>;
}

/** Options for `startAgentSession`. */
export interface AgentSessionOptions {
  readonly url: string;
  readonly token: string;
  /** How to reach the agent (default: TCP to `url`), e.g. a port-forward stream. */
  readonly dial?: RemoteEndpointOptions['dial'];
  readonly remoteRoot: string;
  /** A container target (for an agent in container mode). */
  readonly target?: ContainerTarget;
  readonly mode?: SyncMode;
  /** Start `session.run()` (default true); otherwise drive cycles by hand. */
  readonly run?: boolean;
  readonly ignore?: readonly string[];
}

/** Opens both endpoints and the session; the caller stops it. */
export async function startAgentSession(options: AgentSessionOptions): Promise<AgentSession> {
  const dir = await mkdtemp(join(tmpdir(), 'ksync-agent-session-'));
  const local = join(dir, 'local');
  await mkdir(local);
  const lost: string[] = [];
  const remote = await connectRemoteEndpoint({
    url: options.url,
    token: options.token,
    ...(options.dial !== undefined && { dial: options.dial }),
    root: options.remoteRoot,
    ...(options.target !== undefined && { target: options.target }),
    ignore: options.ignore ?? [],
    onLost: (reason) => lost.push(reason),
  });
  const localEndpoint = openLocalEndpoint({ root: local, ignore: options.ignore ?? [] });
  const session = await Session.open({
    name: 'agent-test',
    mode: options.mode ?? 'two-way',
    local: localEndpoint,
    remote,
    store: await openSessionStore(join(dir, 'state')),
    conflictContent: openConflictContentStore(join(dir, 'conflicts')),
    clock: systemClock,
  });
  const running = options.run === false ? Promise.resolve() : session.run();
  return {
    local,
    session,
    remote,
    running,
    lost,
    async stop() {
      session.stop();
      await running;
      await Promise.all([localEndpoint.close(), remote.close()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A sync between a local temp dir and an agent root, run by the CLI's `SyncRunner`. */
export interface AgentRunner {
  readonly local: string;
  readonly runner: SyncRunner;
  /** What the runner logged. */
  readonly logs: string[];
  stop(): Promise<void>;
}

/** Starts a `SyncRunner` (direct mode) against the agent at `url`; the caller stops it. */
export async function startAgentRunner(options: {
  readonly url: string;
  readonly token: string;
  readonly remoteRoot: string;
}): Promise<AgentRunner> {
  const dir = await mkdtemp(join(tmpdir(), 'ksync-agent-runner-'));
  const local = join(dir, 'local');
  await mkdir(local);
  const logs: string[] = [];
  const spec: SyncSpec = {
    name: 'agent-test',
    local,
    remote: options.remoteRoot,
    target: { kind: 'direct', url: options.url, tokenFile: join(dir, 'unused-token') },
    mode: 'two-way',
    ignore: [],
    paused: false,
    createdAt: 0,
  };
  const runner = new SyncRunner(spec, {
    home: resolveHome({ KSYNC_HOME: join(dir, 'home') }),
    clock: systemClock,
    openEndpoints: (s, hooks) =>
      openEndpointsVia(s, hooks, { url: options.url, token: options.token }),
    log: (level, message) => logs.push(`${level}: ${message}`),
    onStatus: () => undefined,
  });
  runner.start();
  return {
    local,
    runner,
    logs,
    async stop() {
      await runner.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
