/**
 * How commands reach ksync's state. When a watch runs, requests go to it over the control
 * socket (it is the one writer); otherwise the command takes the home lock and acts directly
 * through its own `Supervisor`. Either way the command sees one `Backend`.
 */
import { createConnection, type Socket } from 'node:net';
import type { Backend, FlushOptions } from './backend.ts';
import { sleepUnlessAborted } from './sleep-unless-aborted.ts';
import {
  trimArgs,
  type ControlMethod,
  type ControlMethods,
  type ControlResponse,
  type ControlResult,
} from './daemon/control-protocol.ts';
import { tryLock } from './daemon/lock.ts';
import { InternalError, RemoteCommandError, UserError, hasCode } from './errors.ts';
import { checkSocketPath, type HomePaths } from './home.ts';
import type { ConflictView, FlushView, SyncView } from './view.ts';

type Pending = {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  onProgress?: ((view: SyncView) => void) | undefined;
};

/** A connection to the running watch. */
export class ControlClient implements Backend {
  readonly kind = 'watch';
  readonly #socket: Socket;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed = false;

  private constructor(socket: Socket) {
    this.#socket = socket;
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        this.#onLine(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
      }
    });
    socket.on('close', () => {
      this.#closed = true;
      for (const p of this.#pending.values()) {
        p.reject(new UserError('the watch stopped before answering; check it with: ksync get'));
      }
      this.#pending.clear();
    });
    socket.on('error', () => undefined);
  }

  /** Connects to the socket; undefined when no watch is listening there. */
  static async connect(path: string): Promise<ControlClient | undefined> {
    checkSocketPath(path);
    return new Promise((resolve, reject) => {
      const socket = createConnection(path);
      socket.once('connect', () => {
        socket.removeAllListeners('error');
        resolve(new ControlClient(socket));
      });
      socket.once('error', (error) => {
        if (hasCode(error, 'ENOENT', 'ECONNREFUSED', 'ENOTSOCK', 'EACCES')) resolve(undefined);
        else reject(error);
      });
    });
  }

  /** Sends one request (`method` with `args`) and waits for its result. */
  request<M extends ControlMethod>(
    method: M,
    args: Parameters<ControlMethods[M]> = [] as unknown as Parameters<ControlMethods[M]>,
    onProgress?: (view: SyncView) => void,
  ): Promise<ControlResult<M>> {
    if (this.#closed)
      return Promise.reject(new UserError('the watch is gone; check it with: ksync get'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onProgress });
      this.#socket.write(`${JSON.stringify({ id, method, args: trimArgs(args) })}\n`);
    });
  }

  create(...args: Parameters<Backend['create']>): Promise<SyncView> {
    return this.request('create', args);
  }
  remove(...args: Parameters<Backend['remove']>): Promise<string[]> {
    return this.request('remove', args);
  }
  list(...args: Parameters<Backend['list']>): Promise<SyncView[]> {
    return this.request('list', args);
  }
  conflicts(...args: Parameters<Backend['conflicts']>): Promise<ConflictView[]> {
    return this.request('conflicts', args);
  }
  resolve(...args: Parameters<Backend['resolve']>): Promise<void> {
    return this.request('resolve', args);
  }
  pause(...args: Parameters<Backend['pause']>): Promise<void> {
    return this.request('pause', args);
  }
  resume(...args: Parameters<Backend['resume']>): Promise<void> {
    return this.request('resume', args);
  }
  reset(...args: Parameters<Backend['reset']>): Promise<void> {
    return this.request('reset', args);
  }
  flush(name: string, options: FlushOptions): Promise<FlushView> {
    // The progress callback stays here; the watch sends `progress` lines for it.
    const { onProgress, ...rest } = options;
    return this.request('flush', [name, rest], onProgress);
  }
  async close(): Promise<void> {
    this.#socket.end();
    this.#socket.destroy();
  }

  #onLine(line: string): void {
    let message: ControlResponse;
    try {
      message = JSON.parse(line) as ControlResponse;
    } catch {
      return;
    }
    const pending = this.#pending.get(message.id);
    if (pending === undefined) {
      if (message.type === 'error') {
        for (const p of this.#pending.values()) p.reject(new InternalError(message.message));
        this.#pending.clear();
      }
      return;
    }
    if (message.type === 'progress') {
      pending.onProgress?.(message.view);
      return;
    }
    this.#pending.delete(message.id);
    if (message.type === 'result') pending.resolve(message.result);
    else pending.reject(new RemoteCommandError(message.kind, message.message));
  }
}

/** Options for `withBackend`. */
export interface WithBackendOptions {
  readonly home: HomePaths;
  /** Direct-mode logging (session warnings while this command syncs). */
  readonly log?: (level: 'info' | 'warn', message: string) => void;
  /** How long to wait for another command's lock (default 15 s). */
  readonly waitMs?: number;
}

/**
 * Runs `fn` against the running watch if there is one, otherwise under the home lock. Waits
 * (bounded) while another command holds the lock.
 */
export async function withBackend<T>(
  options: WithBackendOptions,
  fn: (backend: Backend) => Promise<T>,
): Promise<T> {
  const { home } = options;
  const deadline = Date.now() + (options.waitMs ?? 15_000);
  const never = new AbortController().signal;
  for (;;) {
    const client = await ControlClient.connect(home.socket);
    if (client !== undefined) {
      try {
        return await fn(client);
      } finally {
        await client.close();
      }
    }
    const attempt = tryLock(home.lock);
    if ('held' in attempt) {
      try {
        // Loaded only without a running watch: the supervisor brings the session engine, the
        // agent client and the Kubernetes client, which a request to the watch never needs.
        const [{ Supervisor }, { systemClock }, { openSyncEndpoints }] = await Promise.all([
          import('./daemon/supervisor.ts'),
          import('@ksync/fs'),
          import('./sync-endpoints.ts'),
        ]);
        const supervisor = await Supervisor.open({
          home,
          live: false,
          clock: systemClock,
          openEndpoints: openSyncEndpoints,
          ...(options.log === undefined ? {} : { log: options.log }),
        });
        try {
          return await fn(supervisor);
        } finally {
          await supervisor.close();
        }
      } finally {
        attempt.held.release();
      }
    }
    if (Date.now() > deadline) {
      throw new UserError(
        `another ksync (pid ${attempt.holder}) is using ${home.root}; wait for it to finish, or if no ksync runs, remove ${home.lock}`,
      );
    }
    await sleepUnlessAborted(100, never);
  }
}

/** Asks a running watch who it is; undefined when none runs. */
export async function pingWatch(home: HomePaths): Promise<ControlResult<'ping'> | undefined> {
  const client = await ControlClient.connect(home.socket);
  if (client === undefined) return undefined;
  try {
    return await client.request('ping');
  } catch {
    return undefined;
  } finally {
    await client.close();
  }
}
