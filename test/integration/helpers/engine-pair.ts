/**
 * A real sync between two real temp directories in this process: two watched `LocalEndpoint`s, a
 * nedb session store and a file conflict store, driven by a running `Session`.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Session, type SessionOptions, type SyncMode } from '@ksync/core';
import {
  openConflictContentStore,
  openLocalEndpoint,
  openSessionStore,
  systemClock,
  type LocalEndpoint,
} from '@ksync/fs';

/** A running pair; `close` stops everything and deletes the temp dirs. */
export interface EnginePair {
  readonly base: string;
  readonly local: string;
  readonly remote: string;
  readonly state: string;
  readonly session: Session;
  readonly localEndpoint: LocalEndpoint;
  readonly remoteEndpoint: LocalEndpoint;
  close(): Promise<void>;
}

/** Options for `startPair`. */
export interface PairOptions {
  readonly mode?: SyncMode;
  readonly deletionBound?: number;
  /** Reuse directories (for restarts); default: fresh ones. */
  readonly base?: string;
  /** Only open, do not start `run` (the test drives cycles itself). */
  readonly manual?: boolean;
}

/** Opens two endpoints over `<base>/local` and `<base>/remote` and a session between them. */
export async function startPair(options: PairOptions = {}): Promise<EnginePair> {
  const base = options.base ?? mkdtempSync(join(tmpdir(), 'ksync-engine-'));
  const local = join(base, 'local');
  const remote = join(base, 'remote');
  const state = join(base, 'state');
  for (const dir of [local, remote, state]) mkdirSync(dir, { recursive: true });
  const localEndpoint = openLocalEndpoint({ root: local });
  const remoteEndpoint = openLocalEndpoint({ root: remote });
  const sessionOptions: SessionOptions = {
    name: 'pair',
    mode: options.mode ?? 'two-way',
    local: localEndpoint,
    remote: remoteEndpoint,
    store: await openSessionStore(join(state, 'session')),
    conflictContent: openConflictContentStore(join(state, 'conflicts')),
    clock: systemClock,
    ...(options.deletionBound === undefined ? {} : { deletionBound: options.deletionBound }),
  };
  const session = await Session.open(sessionOptions);
  const running = options.manual === true ? Promise.resolve() : session.run();
  return {
    base,
    local,
    remote,
    state,
    session,
    localEndpoint,
    remoteEndpoint,
    async close() {
      session.stop();
      await running;
      await Promise.all([localEndpoint.close(), remoteEndpoint.close()]);
      if (options.base === undefined) rmSync(base, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it returns true or `timeoutMs` passes (then fails with `what`). */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
