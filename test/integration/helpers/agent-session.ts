/**
 * A real sync session for agent tests: a local `LocalEndpoint` temp dir on one side, the remote
 * endpoint through the real agent on the other, with file-backed stores.
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
  /** Connection changes seen by the remote endpoint. */
  readonly connectionEvents: { connected: boolean; error?: string }[];
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
  const connectionEvents: { connected: boolean; error?: string }[] = [];
  const remote = await connectRemoteEndpoint({
    url: options.url,
    token: options.token,
    ...(options.dial !== undefined && { dial: options.dial }),
    root: options.remoteRoot,
    ...(options.target !== undefined && { target: options.target }),
    ignore: options.ignore ?? [],
    onConnectionChange: (connected, error) =>
      connectionEvents.push(error === undefined ? { connected } : { connected, error }),
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
    connectionEvents,
    async stop() {
      session.stop();
      await running;
      await Promise.all([localEndpoint.close(), remote.close()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
