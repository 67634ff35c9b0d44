/**
 * Opens both endpoints of a sync with one remote side: the local directory, and the remote agent
 * at a ws:// URL with a token file (direct), or the cluster's objects (`targets/resources.ts`).
 * Kubernetes container targets open theirs in `targets/kubernetes.ts`; the session controller
 * never sees the difference.
 */
import { constants } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  IGNORE_FILE,
  InternalError,
  parseIgnoreFile,
  type ApplyResult,
  type Endpoint,
} from '@ksync/core';
import type { RemoteEndpointOptions } from '@ksync/agent/client';
import { openLocalEndpoint } from '@ksync/fs';
import { UserError, hasCode } from './errors.ts';
import type { DirectTarget, SyncSpec } from './spec.ts';

/** A remote endpoint: an `Endpoint` that knows whether its connection is up. */
export interface RemoteEndpoint extends Endpoint {
  readonly connected: boolean;
}

/** What the endpoints get from their owner: where to stage, and callbacks. */
export interface EndpointHooks {
  /** A directory the owner empties at its start and stop (`HomePaths.staging`). */
  readonly stagingDir: string;
  /** Where the local side keeps its stat cache across restarts (`HomePaths.statCacheFile`). */
  readonly statCacheFile?: string;
  readonly onWarning?: (message: string) => void;
  /** The agent connection dropped (once per endpoints; the owner opens new ones). */
  readonly onLost?: (reason: string) => void;
}

/** Both sides of a sync. */
export interface SyncEndpoints {
  readonly local: Endpoint;
  readonly remote: RemoteEndpoint;
}

/** Opens both endpoints of `spec`; only the remote connect can fail (a `UserError`). */
export type OpenEndpoints = (spec: SyncSpec, hooks: EndpointHooks) => Promise<SyncEndpoints>;

/** What to run around an endpoint's `apply` and `close` (`hookApply`). */
export interface ApplyHooks {
  /** Runs on each apply's result before the apply returns. */
  readonly applied: (result: ApplyResult) => Promise<void> | void;
  /** Runs before the endpoint closes. */
  readonly closing?: () => void;
}

/** `endpoint` as it is (every other member forwards to it), with `hooks` around apply and close. */
export function hookApply<E extends Endpoint>(endpoint: E, hooks: ApplyHooks): E {
  return new Proxy(endpoint, {
    get(target, key) {
      if (key === 'apply') {
        return async (...args: Parameters<Endpoint['apply']>) => {
          const result = await target.apply(...args);
          await hooks.applied(result);
          return result;
        };
      }
      if (key === 'close') {
        return () => {
          hooks.closing?.();
          return target.close();
        };
      }
      const value: unknown = Reflect.get(target, key, target);
      // Methods run on the endpoint itself, whose private fields a proxy does not have.
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
}

/** Reads the agent token from `file`. */
export async function readToken(file: string): Promise<string> {
  try {
    const token = (await readFile(file, 'utf8')).trim();
    if (token === '')
      throw new UserError(`token file ${file} is empty; put the agent's token in it`);
    return token;
  } catch (error) {
    if (hasCode(error, 'ENOENT', 'EACCES', 'EISDIR')) {
      throw new UserError(
        `cannot read token file ${file} (${(error as { code: string }).code}); pass the agent's --token-file`,
      );
    }
    throw error;
  }
}

/**
 * The patterns the remote side opens with: the spec's plus the local root's `.ksyncignore`, the
 * same list the local endpoint scans with, so the first remote scan already skips what the local
 * side ignores. Later edits of the file reach the remote with every scan (the session controller
 * hands the local side's rules to the remote's scans).
 */
export async function readRemoteIgnore(spec: SyncSpec): Promise<string[]> {
  // Read as the local endpoint reads it: no symlink followed (O_NOFOLLOW), unreadable = empty.
  const text = await readFile(join(spec.local, IGNORE_FILE), {
    encoding: 'utf8',
    flag: constants.O_RDONLY | constants.O_NOFOLLOW,
  }).catch(() => '');
  return [...spec.ignore, ...parseIgnoreFile(text)];
}

/** The real endpoints of a direct or resources spec: the filesystem, and the agent or cluster. */
export const openSyncEndpoints: OpenEndpoints = async (spec, hooks) => {
  const direct = spec.target;
  if (direct.kind === 'resources') {
    const { openResourceEndpoints } = await import('./targets/resources.ts');
    return openResourceEndpoints({ spec, target: direct, hooks, env: process.env });
  }
  if (direct.kind !== 'direct')
    throw new InternalError(`sync ${spec.name} has no direct target; its targets are pods`);
  return openEndpointsVia(spec, hooks, {
    url: direct.url,
    token: await readToken(direct.tokenFile),
  });
};

/** How to reach an agent: its URL (for messages), token, and for Kubernetes a dial and target. */
export type AgentReach = Pick<RemoteEndpointOptions, 'url' | 'token' | 'dial' | 'target'>;

/**
 * Connects the remote side through `reach`, then opens the local side. Called again for every
 * reconnect, so the token (and for Kubernetes the credentials and agent pod) are read afresh.
 */
export async function openEndpointsVia(
  spec: SyncSpec,
  hooks: EndpointHooks,
  reach: AgentReach,
): Promise<SyncEndpoints> {
  // Loaded lazily: commands that never connect do not pay for the WebSocket stack.
  const client = await import('@ksync/agent/client');
  const remote = await client.connectRemoteEndpoint({
    ...reach,
    root: spec.remote,
    ignore: await readRemoteIgnore(spec),
    ...(hooks.onLost === undefined ? {} : { onLost: hooks.onLost }),
  });
  const local = openLocalEndpoint({
    root: spec.local,
    ignore: spec.ignore,
    stagingDir: hooks.stagingDir,
    ...(hooks.statCacheFile === undefined ? {} : { statCacheFile: hooks.statCacheFile }),
    ...(hooks.onWarning === undefined ? {} : { onWarning: hooks.onWarning }),
  });
  return { local, remote };
}

/** Connects to a spec's agent once (handshake and token) and disconnects: `create`'s check. */
export async function checkAgent(
  spec: SyncSpec,
  direct: DirectTarget,
  timeoutMs = 10_000,
): Promise<void> {
  const token = await readToken(direct.tokenFile);
  const client = await import('@ksync/agent/client');
  let timer: NodeJS.Timeout | undefined;
  const connecting = client.connectRemoteEndpoint({
    url: direct.url,
    token,
    root: spec.remote,
    ignore: [...spec.ignore],
  });
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new UserError(
            `agent at ${direct.url} did not answer within ${timeoutMs / 1000}s; check the URL, or pass --no-check to create it anyway`,
          ),
        ),
      timeoutMs,
    );
  });
  try {
    const remote = await Promise.race([connecting, timeout]);
    await remote.close();
  } finally {
    clearTimeout(timer);
    connecting
      .then(
        (r) => r.close(),
        () => undefined,
      )
      .catch(() => undefined);
  }
}
