/**
 * Runs one sync inside the watch: opens its endpoints, opens the session and cycles until
 * stopped. This is the one place that reconnects (Mutagen's `controller.run`): the remote client
 * makes one connection and stays down when it drops, and `Session.run` ends on a failed cycle.
 * Either way this loop closes both endpoints, waits out one backoff (RECONNECT_MIN_MS doubling
 * to RECONNECT_MAX_MS, reset by a cycle that succeeds), and opens everything again: a new dial
 * (which re-reads the token and, for Kubernetes, the kubeconfig's credentials and the agent
 * pod), and a new session over the same durable ancestor, whose first full scan finds what
 * both sides already agree on, so no content is sent again. Pauses, halts, resumes and resets
 * act on the running session: `Session.run` waits through a pause or halt by itself.
 */
import { mkdir } from 'node:fs/promises';
import {
  SESSION_STATES,
  Session,
  errorMessage,
  isHalted,
  type Clock,
  type ConflictContentStore,
  type RebaseVolumes,
  type SessionStatus,
  type SessionStore,
} from '@ksync/core';
import { openConflictContentStore, openSessionStore } from '@ksync/fs';
import { sleepUnlessAborted } from '../sleep-unless-aborted.ts';
import { formatHalt } from '../format.ts';
import type { HomePaths } from '../home.ts';
import { describeTarget, type SyncSpec } from '../spec.ts';
import type { EndpointHooks, OpenEndpoints, SyncEndpoints } from '../sync-endpoints.ts';
import { SYNC_STATES, type SyncView } from '../view.ts';
import type { DaemonMetrics } from './metrics.ts';
import { readStatusFile, writeStatusFile, type StoredStatus } from './status-file.ts';

/** The first wait before opening the endpoints again after a failure. */
export const RECONNECT_MIN_MS = 250;
/** The longest wait between two attempts. */
export const RECONNECT_MAX_MS = 10_000;

/** Where a runner reports. */
export interface RunnerLog {
  (level: 'info' | 'warn', message: string): void;
}

/** What a runner needs. */
export interface RunnerDeps {
  readonly home: HomePaths;
  readonly clock: Clock;
  readonly openEndpoints: OpenEndpoints;
  readonly log: RunnerLog;
  readonly onStatus: (view: SyncView) => void;
  /** Counters for `--metrics-addr`, when served. */
  readonly metrics?: DaemonMetrics;
}

/**
 * Opens the durable state of one sync (no network); `onWarning` hears of stored state that was
 * unreadable and replaced by an older one.
 */
export async function openSyncState(
  home: HomePaths,
  name: string,
  onWarning?: (message: string) => void,
): Promise<DurableState> {
  await mkdir(home.conflictDir(name), { recursive: true, mode: 0o700 });
  const store = await openSessionStore(
    home.syncDir(name),
    onWarning === undefined ? {} : { onWarning },
  );
  return { store, content: openConflictContentStore(home.conflictDir(name)) };
}

/**
 * What one runner syncs: by default the spec's one remote side (direct mode); a Kubernetes spec
 * runs one per container target, each with its own key (its state under the spec's), its own way
 * to open the endpoints, and a chance to prepare the state before the session opens.
 */
export interface RunnerUnit {
  /** The name of its durable state (`home.syncDir(key)`). */
  readonly key: string;
  /** How the log and messages name it. */
  readonly label: string;
  /** Where the remote side is, for the log. */
  readonly where: string;
  readonly open: (hooks: EndpointHooks) => Promise<SyncEndpoints>;
  /**
   * Runs before each session opens, with the state; says when the session must rebase its
   * ancestor onto the remote before its first cycle (a restarted or new container), and whether
   * the container's volumes are the ones the ancestor was synced with (core's rebase.ts).
   */
  readonly prepare?: (state: DurableState) => Promise<RebaseVolumes | undefined>;
}

/** The durable state of one runner. */
export interface DurableState {
  readonly store: SessionStore;
  readonly content: ConflictContentStore;
}

/** One sync (or one target of a spec) being kept in sync. */
export class SyncRunner {
  spec: SyncSpec;
  readonly #deps: RunnerDeps;
  readonly #unit: RunnerUnit;
  readonly #abort = new AbortController();
  #state: { store: SessionStore; content: ConflictContentStore } | undefined;
  #endpoints: SyncEndpoints | undefined;
  #session: Session | undefined;
  /** Why the last attempt to open the endpoints and session failed, while retrying. */
  #connectError: string | undefined;
  /** Why the last session ended with a failed cycle, while retrying. */
  #cycleError: string | undefined;
  /** Why the agent connection dropped, until a new one is up. */
  #lostReason: string | undefined;
  /** Connections made again after a drop or a failure (not the first). */
  #reconnects = 0;
  /** The latest failure of any kind, kept after recovery for `get -o wide`. */
  #lastError: string | undefined;
  /** What earlier sessions of this runner transferred (each reconnect opens a new session). */
  readonly #carried = { files: 0, bytes: 0 };
  #stored: StoredStatus = { files: 0, directories: 0, bytes: 0 };
  #statusWrites: Promise<void> = Promise.resolve();
  #task: Promise<void> = Promise.resolve();
  readonly #waiters = new Set<() => void>();
  readonly #listeners = new Set<(view: SyncView) => void>();

  constructor(spec: SyncSpec, deps: RunnerDeps, unit?: RunnerUnit) {
    this.spec = spec;
    this.#deps = deps;
    this.#unit = unit ?? {
      key: spec.name,
      label: spec.name,
      where: describeTarget(spec.target),
      open: (hooks) => deps.openEndpoints(spec, hooks),
    };
  }

  /** Starts connecting and syncing in the background (a paused spec connects, then waits). */
  start(): void {
    this.#task = this.#loop();
  }

  /**
   * Pauses syncing. Returns at once: the session pauses after a cycle that is running (which may
   * scan a large tree for minutes), and the sync shows `paused` meanwhile.
   */
  pause(): void {
    this.spec = { ...this.spec, paused: true };
    this.#report();
    this.#session?.pause().catch((error: unknown) => this.#warn('pausing', error));
  }

  /** Leaves a pause or halt (a halted change is then allowed once); returns at once too. */
  resume(): void {
    this.spec = { ...this.spec, paused: false };
    this.#report();
    this.#session?.resume().catch((error: unknown) => this.#warn('resuming', error));
  }

  #warn(what: string, error: unknown): void {
    this.#deps.log('warn', `${this.spec.name}: ${what}: ${errorMessage(error)}`);
  }

  /** Calls `listener` with every view this runner reports until the returned function is called. */
  subscribe(listener: (view: SyncView) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The name of its durable state. */
  get key(): string {
    return this.#unit.key;
  }

  /** How the log names it (`spec`, or `spec@pod/container`). */
  get label(): string {
    return this.#unit.label;
  }

  /** The session once connected. */
  get session(): Session | undefined {
    return this.#session;
  }

  /** The durable state, once opened. */
  get state(): { store: SessionStore; content: ConflictContentStore } | undefined {
    return this.#state;
  }

  /** Whether the session is open and its agent connection is up. */
  get connected(): boolean {
    return this.#session !== undefined && this.#endpoints?.remote.connected === true;
  }

  /**
   * Waits until the session is open and connected to the agent, or `signal` aborts; returns the
   * session if it is open (connected or not, when aborted).
   */
  async waitForConnection(signal: AbortSignal): Promise<Session | undefined> {
    while (!this.connected && !signal.aborted && !this.#abort.signal.aborted) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.#waiters.delete(done);
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.#waiters.add(done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
    return this.#session;
  }

  /**
   * The sync as `get` shows it. While the agent connection is down the session's own state is
   * stale (it cannot know until its next cycle fails), so the sync shows `connecting` with the
   * reason, unless it is paused or halted, which a reconnect does not change.
   */
  view(): SyncView {
    const status = this.#session?.status();
    let state: SyncView['state'] =
      status?.state ?? (this.#cycleError === undefined ? 'connecting' : 'error');
    if (this.spec.paused && !isHalted(state)) state = 'paused';
    let error = status?.error ?? this.#cycleError ?? this.#connectError;
    if (this.#lostReason !== undefined && state !== 'paused' && !isHalted(state)) {
      state = 'connecting';
      error = this.#lostReason;
    }
    return buildView(this.spec, {
      state: this.#abort.signal.aborted ? 'stopped' : state,
      error,
      stored: this.#stored,
      status,
      carried: this.#carried,
      health: {
        reconnects: this.#reconnects,
        ...(this.#lastError === undefined ? {} : { lastError: this.#lastError }),
      },
    });
  }

  /**
   * Stops syncing and releases the endpoints; bounded so that a hung remote or a cycle busy with
   * a huge tree cannot block it (closing an endpoint waits for its running scan).
   */
  async stop(): Promise<void> {
    this.#abort.abort();
    this.#session?.stop();
    for (const wake of [...this.#waiters]) wake();
    await Promise.race([this.#task, this.#deps.clock.sleep(3000)]);
    await Promise.race([this.#closeEndpoints(), this.#deps.clock.sleep(2000)]);
    await this.#statusWrites;
    this.#report();
  }

  async #loop(): Promise<void> {
    const signal = this.#abort.signal;
    let backoff = 0;
    let attempts = 0;
    while (!signal.aborted) {
      const again = attempts++ > 0;
      let opened = false;
      let failure: string | undefined;
      try {
        await this.#openSession(() => {
          opened = true;
          if (!again) return;
          this.#reconnects++;
          this.#deps.metrics?.addReconnect();
        });
        // Ends when stopped (by `stop`, or by a lost connection) or with a failed cycle.
        await this.#session?.run();
      } catch (error) {
        if (signal.aborted) return;
        const message = errorMessage(error);
        if (this.#lostReason !== undefined) {
          // A dial after a drop failed: say why, still as a lost agent.
          if (!opened) this.#lostReason = `lost the agent (${message}); reconnecting`;
        } else if (opened) {
          this.#cycleError = message;
          this.#deps.metrics?.addCycleError();
        } else {
          this.#connectError = message;
          this.#cycleError = undefined;
        }
        this.#lastError = this.#lostReason ?? message;
        failure = message;
      }
      if (signal.aborted) return;
      const ended = this.#session?.status();
      if (ended?.lastSyncAt !== undefined) backoff = 0;
      this.#carried.files += ended?.transferredFiles ?? 0;
      this.#carried.bytes += ended?.transferredBytes ?? 0;
      await this.#closeEndpoints();
      this.#session = undefined;
      backoff = Math.min(backoff === 0 ? RECONNECT_MIN_MS : backoff * 2, RECONNECT_MAX_MS);
      if (failure !== undefined) {
        this.#deps.log('warn', `${this.#unit.label}: ${failure}; retrying in ${backoff / 1000}s`);
      }
      this.#report();
      await sleepUnlessAborted(backoff, signal);
    }
  }

  /** Opens the state, the endpoints and the session; `onOpened` once the session exists. */
  async #openSession(onOpened: () => void): Promise<void> {
    const { log } = this.#deps;
    const { key, label: name, where } = this.#unit;
    this.#state ??= await openSyncState(this.#deps.home, key, (message) =>
      log('warn', `${name}: ${message}`),
    );
    this.#stored = await readStatusFile(this.#deps.home.statusFile(key));
    // Which endpoints a loss is about: a late report from closed ones must not stop a new session.
    const mine: { endpoints?: SyncEndpoints } = {};
    const endpoints = await this.#unit.open({
      stagingDir: this.#deps.home.staging,
      statCacheFile: this.#deps.home.statCacheFile(key),
      onWarning: (message) => log('warn', `${name}: ${message}`),
      onLost: (reason) => this.#onLost(mine.endpoints, reason),
    });
    mine.endpoints = endpoints;
    this.#endpoints = endpoints;
    if (this.#abort.signal.aborted) return;
    const rebase = await this.#unit.prepare?.(this.#state);
    const session = await Session.open({
      name,
      mode: this.spec.mode,
      local: endpoints.local,
      remote: endpoints.remote,
      store: this.#state.store,
      conflictContent: this.#state.content,
      clock: this.#deps.clock,
      onStatus: (status) => this.#onStatus(status),
      ...(this.#deps.metrics === undefined
        ? {}
        : { onCycle: this.#deps.metrics.observeCycle.bind(this.#deps.metrics) }),
      log: { info: (m) => log('info', m), warn: (m) => log('warn', m) },
    });
    // Set before pausing: a resume that arrives meanwhile then queues behind the pause.
    this.#session = session;
    onOpened();
    if (rebase !== undefined) {
      log('info', `${name}: new container; rebasing the last agreed state onto what it holds`);
      await session.rebaseOntoRemote(rebase);
    }
    if (this.spec.paused) await session.pause();
    this.#connectError = undefined;
    this.#cycleError = undefined;
    this.#lostReason = undefined;
    for (const wake of [...this.#waiters]) wake();
    log('info', `${name}: connected; syncing ${this.spec.local} <-> ${where} ${this.spec.remote}`);
    this.#report();
    if (this.#abort.signal.aborted) session.stop();
  }

  /**
   * The agent connection of `endpoints` dropped: the sync shows `connecting` at once, and the
   * session stops after its current cycle (which fails fast), so that the loop reconnects.
   */
  #onLost(endpoints: SyncEndpoints | undefined, reason: string): void {
    if (endpoints === undefined || endpoints !== this.#endpoints) return;
    if (this.#lostReason === undefined) {
      this.#lostReason = `lost the agent (${reason}); reconnecting`;
      this.#lastError = this.#lostReason;
      this.#deps.log('warn', `${this.#unit.label}: ${this.#lostReason}`);
    }
    this.#session?.stop();
    this.#report();
  }

  #lastState: string | undefined;

  #onStatus(status: SessionStatus): void {
    if (status.lastSyncAt !== undefined && status.lastSyncAt !== this.#stored.lastSyncAt) {
      this.#stored = {
        lastSyncAt: status.lastSyncAt,
        files: status.files,
        directories: status.directories,
        bytes: status.bytes,
      };
      const snapshot = this.#stored;
      const path = this.#deps.home.statusFile(this.#unit.key);
      this.#statusWrites = this.#statusWrites
        .then(() => writeStatusFile(path, snapshot))
        .catch((error: unknown) => {
          this.#deps.log(
            'warn',
            `${this.#unit.label}: could not save status: ${errorMessage(error)}`,
          );
        });
    }
    if (status.state !== this.#lastState) {
      this.#lastState = status.state;
      if (status.halt !== undefined) {
        this.#deps.log('warn', `${this.spec.name}: ${formatHalt(this.spec.name, status.halt)}`);
      } else if (status.state === 'error') {
        this.#deps.log(
          'warn',
          `${this.#unit.label}: ${status.state}: ${status.error ?? SESSION_STATES[status.state]}`,
        );
      }
    }
    this.#report();
  }

  #report(): void {
    const view = this.view();
    this.#deps.onStatus(view);
    for (const listener of this.#listeners) listener(view);
  }

  async #closeEndpoints(): Promise<void> {
    const endpoints = this.#endpoints;
    this.#endpoints = undefined;
    if (endpoints === undefined) return;
    await Promise.allSettled([endpoints.local.close(), endpoints.remote.close()]);
  }
}

/** Assembles a view from a spec and whatever is known of its status. */
export function buildView(
  spec: SyncSpec,
  known: {
    state: SyncView['state'];
    error?: string | undefined;
    stored: StoredStatus;
    status?: SessionStatus | undefined;
    conflicts?: number;
    health?: { reconnects: number; lastError?: string };
    /** Transfers of earlier sessions, added to the live one's. */
    carried?: { files: number; bytes: number };
  },
): SyncView {
  const { status, stored } = known;
  const lastSyncAt = status?.lastSyncAt ?? stored.lastSyncAt;
  const live = status !== undefined && status.lastSyncAt !== undefined;
  return {
    name: spec.name,
    mode: spec.mode,
    local: spec.local,
    remote: spec.remote,
    url: describeTarget(spec.target),
    paused: spec.paused,
    state: known.state,
    description: SYNC_STATES[known.state],
    ...(known.error === undefined ? {} : { error: known.error }),
    ...(lastSyncAt === undefined ? {} : { lastSync: new Date(lastSyncAt).toISOString() }),
    reconnects: known.health?.reconnects ?? 0,
    ...(known.health?.lastError === undefined ? {} : { lastError: known.health.lastError }),
    files: live ? status.files : stored.files,
    directories: live ? status.directories : stored.directories,
    bytes: live ? status.bytes : stored.bytes,
    conflicts: status?.conflicts ?? known.conflicts ?? 0,
    problems: status?.problems ?? [],
    transferredFiles: (status?.transferredFiles ?? 0) + (known.carried?.files ?? 0),
    transferredBytes: (status?.transferredBytes ?? 0) + (known.carried?.bytes ?? 0),
    ...(status?.transfer === undefined ? {} : { transfer: status.transfer }),
    ...(status?.halt === undefined ? {} : { halt: status.halt }),
  };
}
